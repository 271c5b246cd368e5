"""Lessons without the repository: the wheel carries them, and one command copies them out."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from minigrad import lessons

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
COURSE = sorted(
    [p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")]
    + [f"solutions/{p.name}" for p in (NOTEBOOKS / "solutions").glob("*.py")]
)


def test_copy_lessons_from_a_checkout(tmp_path):
    written = lessons.copy_lessons(tmp_path / "course")
    assert sorted(str(p.relative_to(tmp_path / "course")) for p in written) == COURSE
    start = tmp_path / "course" / "00_start_here.ipynb"
    assert start.read_bytes() == (NOTEBOOKS / "00_start_here.ipynb").read_bytes()


def test_copy_lessons_keeps_a_learners_work_unless_forced(tmp_path, capsys):
    lessons.copy_lessons(tmp_path)
    work = tmp_path / "03_tensors.ipynb"
    work.write_text("my answers")
    assert lessons.main([str(tmp_path)]) == 1
    assert "may hold your work" in capsys.readouterr().err
    assert work.read_text() == "my answers"
    assert lessons.main([str(tmp_path), "--force"]) == 0
    assert work.read_bytes() == (NOTEBOOKS / "03_tensors.ipynb").read_bytes()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel pip builds from a copy of this checkout (tracked and new files, no build/)."""
    tmp = tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    source = tmp / "source"
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = (tmp / "dist").glob("minigrad-*.whl")
    return built


def test_the_wheel_holds_every_lesson_and_solution(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in COURSE if f"minigrad/course/{f}" not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert "minigrad/lessons.py" in names and "minigrad/exercises/checking.py" in names


def test_the_command_copies_the_lessons_from_an_installed_wheel(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip install puts in site-packages
    env = dict(os.environ, PYTHONPATH=str(site))  # the wheel's minigrad, not this checkout's
    where = subprocess.run(
        [sys.executable, "-c", "from minigrad import lessons; print(lessons.course_folder())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where) == site / "minigrad" / "course"
    done = subprocess.run(
        [sys.executable, "-m", "minigrad.lessons", str(tmp_path / "my course")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "open 00_start_here.ipynb" in done.stdout
    copied = sorted(
        str(p.relative_to(tmp_path / "my course"))
        for p in (tmp_path / "my course").rglob("*")
        if p.is_file()
    )
    assert copied == COURSE
