"""Lessons 7 to 12 graded with nbgrader, the way tests/test_grading.py grades lessons 1 and 3.

The source versions are written by ``minigrad.grading``, the student versions
by ``nbgrader generate_assignment``, and two submissions per lesson are
autograded: the solutions score full marks, the untouched lessons zero.

Marked slow: twelve autograded runs of lessons that train real models (about 3 minutes
on this shared 2-core machine); ``-m "not slow"`` leaves it out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from minigrad import grading
from tests.test_grading import nbgrader, scores, solved, submit

POINTS = {  # one point per check
    "lesson07": 2,
    "lesson08": 2,
    "lesson09": 2,
    "lesson10": 2,
    "lesson11": 2,
    "lesson12": 3,
}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("course")
    assert grading.write_course(course, [a.removeprefix("lesson") for a in POINTS]) == POINTS
    for assignment in POINTS:
        nbgrader(course, "generate_assignment", assignment, "--force")
        submit(course, "untouched", assignment)
        submit(course, "solver", assignment, solved)
        nbgrader(course, "autograde", assignment)
    return course


@pytest.mark.slow
@pytest.mark.parametrize("assignment", POINTS)
def test_the_solutions_score_full_marks_and_untouched_lessons_zero(course, assignment):
    got = scores(course, POINTS)
    points = float(POINTS[assignment])
    assert got[(assignment, "solver")] == (points, points)
    assert got[(assignment, "untouched")] == (0.0, points)
