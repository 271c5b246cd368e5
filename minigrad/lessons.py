"""``python -m minigrad.lessons DEST``: copy the course's notebooks and solutions into DEST.

For a learner who installed minigrad with pip (a lab machine, a hosted
notebook) and has no copy of the repository. The wheel carries the lessons in
``minigrad/course/``; in a checkout they are read from ``notebooks/``. The
copy holds every lesson (``NN_name.ipynb``, starting with ``00_start_here``)
and ``solutions/``, which the hints' last tier loads with ``%load``.

Existing notebooks in DEST are left alone (they may hold your work) unless
``--force`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATTERNS = ("[0-9][0-9]_*.ipynb", "solutions/*.py")


def course_folder() -> Path:
    """Where this installation keeps the lessons: inside the package, or the checkout's."""
    for folder in (HERE / "course", HERE.parent / "notebooks"):
        if any(folder.glob(PATTERNS[0])):
            return folder
    raise FileNotFoundError(
        f"no lessons found in {HERE / 'course'} or {HERE.parent / 'notebooks'}\n"
        "help: reinstall minigrad from its wheel, or run this from a checkout of the repository"
    )


def course_files(folder: Path) -> list[Path]:
    """The lesson notebooks and solutions, relative to ``folder``."""
    return sorted(p.relative_to(folder) for pattern in PATTERNS for p in folder.glob(pattern))


def copy_lessons(destination: Path, force: bool = False) -> list[Path]:
    """Copy the lessons into ``destination`` (made if missing); return the files written."""
    source = course_folder()
    files = course_files(source)
    destination = Path(destination)
    clashes = [f for f in files if (destination / f).exists()]
    if clashes and not force:
        raise FileExistsError(
            f"{destination} already holds {len(clashes)} of the course's files "
            f"(e.g. {clashes[0]}), which may hold your work\n"
            "help: choose another folder, or pass --force to overwrite them"
        )
    for relative in files:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target)
    return [destination / f for f in files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.lessons",
        description="Copy minigrad's lessons (notebooks and solutions) into a folder.",
    )
    parser.add_argument("destination", type=Path, help="the folder to copy them into")
    parser.add_argument("--force", action="store_true", help="overwrite notebooks already there")
    args = parser.parse_args(argv)
    try:
        written = copy_lessons(args.destination, force=args.force)
    except (FileExistsError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    lessons = sum(p.suffix == ".ipynb" for p in written)
    print(
        f"copied {lessons} notebooks and {len(written) - lessons} solutions to {args.destination}"
    )
    print(f"next: jupyter lab {args.destination}   and open 00_start_here.ipynb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
