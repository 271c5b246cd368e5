"""What every exercise test needs: the real gap and solution, a check's output, its hints.

The gap is the lesson's own exercise cell and the solution is
``notebooks/solutions/<id>.py``, both run here as a cell would run them (in a
namespace with the names a lesson imports), so the tests judge exactly what
a learner gets.
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import torch

import minigrad as mg
from minigrad import exercises, nn

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
CHECKED_NAME = re.compile(r"exercises\.check_\w+\((\w+)\)")


def cells(tag: str, exercise_id: str) -> str:
    """The source of the lesson cell tagged ``tag`` for ``exercise_id``."""
    marker = "# EXERCISE" if tag == "exercise" else "# CHECK"
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            first = cell.source.splitlines()[0] if cell.source else ""
            if tag in cell.metadata.get("tags", []) and first.split() == [
                *marker.split(),
                exercise_id,
            ]:
                return cell.source
    raise LookupError(f"no cell tagged {tag!r} for exercise {exercise_id!r}")


def namespace() -> dict:
    """The names a lesson has imported by the time its exercise cell runs."""
    return {"torch": torch, "mg": mg, "math": math, "np": np, "exercises": exercises, "nn": nn}


def answer_of(source: str, exercise_id: str):
    """Run a cell's source; return what its check cell hands to the check."""
    scope = namespace()
    exec(compile(source, f"<{exercise_id} cell>", "exec"), scope)
    name = CHECKED_NAME.search(cells("check", exercise_id)).group(1)
    return scope[name]


def gap(exercise_id: str):
    """The learner's answer as the lesson hands it out, untouched."""
    return answer_of(cells("exercise", exercise_id), exercise_id)


def solution_source(exercise_id: str) -> str:
    return (SOLUTIONS / f"{exercise_id}.py").read_text()


def solution(exercise_id: str):
    return answer_of(solution_source(exercise_id), exercise_id)


def answer_lines(exercise_id: str) -> list[str]:
    """The solution's lines of code that the gap does not already have: the answer itself."""
    given = {line.strip() for line in cells("exercise", exercise_id).splitlines()}
    docstrings = {
        line.strip()
        for node in ast.walk(ast.parse(solution_source(exercise_id)))
        if isinstance(node, ast.Expr) and isinstance(getattr(node, "value", None), ast.Constant)
        for line in str(node.value.value).splitlines()
    }
    lines = []
    for line in solution_source(exercise_id).splitlines():
        code = line.split("  #")[0].strip()
        if len(code) >= 6 and not code.startswith("#") and code not in given:
            if code not in docstrings and code.strip("\"'") not in docstrings:
                lines.append(code)
    assert lines, f"solutions/{exercise_id}.py adds nothing to the gap"
    return lines


def check_of(exercise_id: str):
    return getattr(exercises, f"check_{exercise_id}")


def run(exercise_id: str, answer, capsys):
    """Run the check on ``answer``: (result, what it printed)."""
    capsys.readouterr()
    result = check_of(exercise_id)(answer)
    out = capsys.readouterr().out
    assert out.strip() == result.message.strip()
    return result, out


def assert_passes(exercise_id: str, answer, capsys) -> str:
    result, out = run(exercise_id, answer, capsys)
    assert result, out
    assert out.startswith(f"PASS {exercise_id}:"), out
    return out


def assert_fails(exercise_id: str, answer, capsys, *words: str) -> str:
    """The check FAILs and its message (detail or diagnosis) holds each of ``words``."""
    result, out = run(exercise_id, answer, capsys)
    assert not result, out
    assert out.startswith(f"FAIL {exercise_id}:"), out
    assert "hint:" in out, out
    for word in words:
        assert word in out, f"{word!r} is not in the FAIL message:\n{out}"
    return out


def hint_tiers(exercise_id: str, capsys) -> list[str]:
    """Every hint tier, as ``exercises.hint`` prints them, one call each."""
    exercises.reset_hints()
    capsys.readouterr()
    tiers = []
    for _ in exercises.EXERCISES[exercise_id].tiers():
        exercises.hint(exercise_id)
        tiers.append(capsys.readouterr().out)
    return tiers


def assert_gap_fails_quietly(exercise_id: str, capsys) -> None:
    """The untouched gap FAILs, and neither the FAIL nor any hint shows a line of the answer."""
    out = assert_fails(exercise_id, gap(exercise_id), capsys)
    tiers = hint_tiers(exercise_id, capsys)
    assert f"%load solutions/{exercise_id}.py" in tiers[-1]
    for line in answer_lines(exercise_id):
        assert line not in out, f"the FAIL message shows the answer {line!r}"
        for tier in tiers:
            assert line not in tier, f"a hint tier shows the answer {line!r}:\n{tier}"
