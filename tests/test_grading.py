"""A class can be graded: the lessons as an nbgrader course, generated and autograded for real.

Two lessons (1 and 3) go the whole way: ``python -m minigrad.grading`` writes the source
versions, ``nbgrader generate_assignment`` the student versions, and ``nbgrader autograde``
grades sample submissions. The solutions score full marks, the untouched lessons zero, and
a student who answers one exercise and turns grading off in the locked first cell gets the
one point only (nbgrader restores locked cells).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook  # nbgrader is in the dev extra

from minigrad import grading

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "notebooks" / "solutions"
EXERCISE = re.compile(r"^# EXERCISE (\w+)")
LESSONS = {"lesson01": "01_derivatives.ipynb", "lesson03": "03_tensors.ipynb"}


def nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the notebook tests (tests/test_notebooks.py)
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def submit(
    course: Path, student: str, assignment: str, answer=lambda exercise_id: None, switch=None
):
    """Hand in the student version with ``answer(id)`` in each exercise cell (None: untouched)."""
    released = next((course / "release" / assignment).glob("*.ipynb"))
    notebook = json.loads(released.read_text())
    for cell in notebook["cells"]:
        found = EXERCISE.match(text(cell))
        if found and answer(found.group(1)) is not None:
            cell["source"] = answer(found.group(1))
        if (
            switch is not None
            and cell["metadata"].get("nbgrader", {}).get("grade_id") == "grading_switch"
        ):
            cell["source"] = switch
    target = course / "submitted" / student / assignment / released.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook))


def solved(exercise_id: str) -> str:
    return (SOLUTIONS / f"{exercise_id}.py").read_text()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    written = grading.write_course(course, ["01", "03"])
    assert written == {"lesson01": 2, "lesson03": 3}
    for assignment in LESSONS:
        nbgrader(course, "generate_assignment", assignment, "--force")
        submit(course, "untouched", assignment)
        submit(course, "solver", assignment, solved)
    submit(
        course, "gamer", "lesson01",
        answer=lambda i: solved(i) if i == "expression_grads" else None,
        switch="from minigrad import exercises\nexercises.grading(False)",
    )  # fmt: skip
    for assignment in LESSONS:
        nbgrader(course, "autograde", assignment)
    return course


def scores(course: Path, assignments=LESSONS) -> dict[tuple[str, str], tuple[float, float]]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as book:
        return {
            (s.assignment.name, s.student.id): (s.score, s.max_score)
            for a in assignments
            for s in book.assignment_submissions(a)
        }


def test_the_solutions_score_full_marks_and_untouched_lessons_zero(course):
    got = scores(course)
    assert got[("lesson01", "solver")] == (2.0, 2.0)
    assert got[("lesson03", "solver")] == (3.0, 3.0)
    assert got[("lesson01", "untouched")] == (0.0, 2.0)
    assert got[("lesson03", "untouched")] == (0.0, 3.0)


def test_turning_grading_off_in_a_submission_does_not_help(course):
    assert scores(course)[("lesson01", "gamer")] == (1.0, 2.0)


def kept(source: str) -> list[str]:
    return [line for line in source.splitlines() if not grading.is_gap_line(line)]


def test_the_student_version_is_the_lesson_with_its_gaps(course):
    released = cells(course / "release" / "lesson03" / LESSONS["lesson03"])
    lesson = cells(ROOT / "notebooks" / LESSONS["lesson03"])
    gaps = [text(c) for c in lesson if "exercise" in c["metadata"].get("tags", [])]
    given = [text(c) for c in released if c["metadata"].get("nbgrader", {}).get("solution")]
    assert len(given) == len(gaps) == 3
    for theirs, ours in zip(given, gaps):
        assert "raise NotImplementedError()" in theirs and "BEGIN SOLUTION" not in theirs
        assert kept(theirs) == kept(ours)  # the same cell, apart from the gap's own lines
    checks = [text(c) for c in released if c["metadata"].get("nbgrader", {}).get("grade")]
    assert checks == [text(c) for c in lesson if "check" in c["metadata"].get("tags", [])]


def test_the_failing_checks_raised_and_printed_their_fail(course):
    graded = cells(course / "autograded" / "untouched" / "lesson01" / LESSONS["lesson01"])
    for cell in graded:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
            assert errors and errors[0]["ename"] == "ExerciseFailed"
            streams = [o for o in cell["outputs"] if o["output_type"] == "stream"]
            printed = "".join(text({"source": o["text"]}) for o in streams)
            assert "FAIL" in printed and "hint:" in printed


@pytest.mark.parametrize("exercise_id", sorted(p.stem for p in SOLUTIONS.glob("*.py")))
def test_every_solution_keeps_its_exercise_cell_apart_from_the_gap(exercise_id):
    """So that the student version nbgrader makes from the source keeps the signature."""
    from tests.exercises.helpers import cells as lesson_cell

    source = grading.with_solution_regions(
        lesson_cell("exercise", exercise_id), solved(exercise_id)
    )
    assert "### BEGIN SOLUTION" in source


def test_a_solution_that_rewrites_the_signature_is_refused():
    gap = "def f(x):\n    # Your code here\n    raise NotImplementedError"
    with pytest.raises(ValueError, match="not part of the gap"):
        grading.with_solution_regions(gap, "def f(x, y):\n    return x")
