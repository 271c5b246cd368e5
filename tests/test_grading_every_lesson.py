"""Every lesson with exercises becomes a gradeable nbgrader assignment.

tests/test_grading.py takes two lessons the whole way (generate, submit,
autograde) and shows that the solutions score full marks and the untouched
lessons zero. Autograding all of them would run every lesson twice more in
CI, so here every lesson goes as far as nbgrader's student version, in one
process, and the student version is checked cell by cell: each exercise is a
solution cell whose answer nbgrader removed, each check a locked test cell
worth one point, and the grading switch comes first. Together with
tests/test_notebooks.py (untouched checks FAIL, solved ones PASS) and the
framework's test that a FAIL raises under ``exercises.grading(True)``, that is
what makes a lesson score full marks when solved and zero when untouched.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from nbgrader.apps import NbGraderAPI  # nbgrader is in the dev extra
from traitlets.config import Config

from minigrad import grading

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
EXERCISE = re.compile(r"^# EXERCISE (\w+)")
CHECK = re.compile(r"^# CHECK (\w+)")


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def tagged(notebook: Path, tag: str) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return [text(c) for c in cells if tag in c["metadata"].get("tags", [])]


LESSONS = {
    f"lesson{path.name[:2]}": path
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if tagged(path, "exercise")
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    points = grading.write_course(course)
    assert points == {name: len(tagged(path, "check")) for name, path in LESSONS.items()}
    config = Config()
    config.CourseDirectory.root = str(course)
    config.ClearSolutions.code_stub = {"python": grading.STUB}
    # nbgrader runs alembic by name to set up its database.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    api = NbGraderAPI(config=config)
    for assignment in LESSONS:
        result = api.generate_assignment(assignment, force=True)
        assert result["success"], result["error"] + result["log"][-3000:]
    return course


def released_cells(course: Path, assignment: str) -> list[dict]:
    path = course / "release" / assignment / LESSONS[assignment].name
    return json.loads(path.read_text())["cells"]


@pytest.mark.parametrize("assignment", sorted(LESSONS))
def test_the_student_version_keeps_every_gap_and_grades_every_check(course, assignment):
    cells = released_cells(course, assignment)
    meta = [c["metadata"].get("nbgrader", {}) for c in cells]

    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    assert meta[first_code].get("grade_id") == "grading_switch" and meta[first_code]["locked"]
    assert "exercises.grading(True)" in text(cells[first_code])

    exercises = [c for c, m in zip(cells, meta) if m.get("solution")]
    ids = [EXERCISE.match(text(c)).group(1) for c in exercises]
    assert ids == [EXERCISE.match(s).group(1) for s in tagged(LESSONS[assignment], "exercise")]
    for cell, exercise_id in zip(exercises, ids):
        given = text(cell)
        assert "raise NotImplementedError()" in given and "BEGIN SOLUTION" not in given
        for line in (SOLUTIONS / f"{exercise_id}.py").read_text().splitlines():
            if line.strip() and line not in given.splitlines():
                break
        else:
            pytest.fail(f"{exercise_id}: the student version still holds the whole solution")

    checks = [(c, m) for c, m in zip(cells, meta) if m.get("grade")]
    assert [text(c) for c, _ in checks] == tagged(LESSONS[assignment], "check")
    for cell, m in checks:
        assert m["locked"] and m["points"] == 1, m
        assert CHECK.match(text(cell))
