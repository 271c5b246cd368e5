"""Build hook: the wheel carries the lessons, so that `python -m minigrad.lessons DEST` works
for a learner who installed minigrad with pip (everything else is in pyproject.toml).

The lessons live in notebooks/ at the top of the repository; a build copies the notebooks and
their solutions into the package as minigrad/course/. An editable install reads notebooks/
directly instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LESSON_FILES = ("notebooks/[0-9][0-9]_*.ipynb", "notebooks/solutions/*.py")


class BuildWithLessons(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        files = [p for pattern in LESSON_FILES for p in sorted(root.glob(pattern))]
        if not any(p.suffix == ".ipynb" for p in files):
            raise FileNotFoundError(f"no lessons in {root / 'notebooks'}: the wheel needs them")
        for path in files:
            target = Path(
                self.build_lib, "minigrad", "course", path.relative_to(root / "notebooks")
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


setup(cmdclass={"build_py": BuildWithLessons})
