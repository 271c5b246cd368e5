"""``python -m minigrad.grading COURSE``: the lessons as an nbgrader course, for an instructor.

nbgrader (https://nbgrader.readthedocs.io) grades Jupyter assignments: an
instructor keeps a *source* version of each notebook with the solutions in it,
``nbgrader generate_assignment`` turns it into the *student* version, and
``nbgrader autograde`` runs the students' submissions, giving each *test cell*
its points when it runs without raising.

This module writes that source version from the lessons:

* each lesson with exercises becomes the assignment ``lessonNN`` in
  ``COURSE/source/lessonNN/``;
* an exercise cell becomes a *solution cell*: the gap's own lines, with the
  solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` where the
  gap was (the student version gets ``raise NotImplementedError()`` there);
* a check cell becomes a locked *test cell* worth one point;
* a first, locked cell turns grading on (``exercises.grading(True)``), so that a
  check that FAILs raises and the autograder counts it. For a learner, outside
  nbgrader, a FAIL only prints.

``COURSE/nbgrader_config.py`` is written too. docs/grading.md walks through the
whole path. Only the standard library is used here: nbgrader itself is needed
only to generate and grade, on the instructor's machine.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

from minigrad.lessons import course_folder

EXERCISE = re.compile(r"^#\s*EXERCISE\s+(\w+)")
CHECK = re.compile(r"^#\s*CHECK\s+(\w+)")
STUB = "# Your code here: replace the line below.\nraise NotImplementedError()"

CONFIG = f'''"""nbgrader's settings for the minigrad course (from python -m minigrad.grading)."""

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = "."
# What the student version gets where a solution was: the lessons' own gap convention.
c.ClearSolutions.code_stub = {{"python": {STUB!r}}}
# Some lessons train a model for a few seconds per cell; the default timeout is 30 s.
c.Execute.timeout = 600
'''

SWITCH = (
    "# Grading is on in this copy: a check that FAILs raises, so that the autograder counts it.\n"
    "from minigrad import exercises\n"
    "\n"
    "exercises.grading(True)"
)


def is_gap_line(line: str) -> bool:
    """A line that only marks where the learner's code goes."""
    text = line.strip()
    return (
        text.startswith("# Your code here")
        or text.startswith("raise NotImplementedError")
        or text == "return None"
    )


def with_solution_regions(gap: str, solution: str) -> str:
    """The gap cell with each gap replaced by the solution's lines between nbgrader's markers.

    Raises ValueError when the solution changes a line of the gap that is not
    a gap line (a docstring, a signature): the student version would lose it.
    """
    gap_lines, solution_lines = gap.splitlines(), solution.rstrip("\n").splitlines()
    out = []
    matcher = difflib.SequenceMatcher(None, gap_lines, solution_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(gap_lines[i1:i2])
            continue
        changed = [line for line in gap_lines[i1:i2] if not is_gap_line(line)]
        if changed:
            raise ValueError(
                f"the solution changes {changed[0].strip()!r}, which is not part of the gap\n"
                "help: make the solution keep every line of the exercise cell except its gap"
            )
        body = solution_lines[j1:j2] or [""]
        first = (gap_lines[i1:i2] or [line for line in body if line.strip()] or [""])[0]
        indent = first[: len(first) - len(first.lstrip())]
        out += [f"{indent}### BEGIN SOLUTION", *body, f"{indent}### END SOLUTION"]
    return "\n".join(out)


def _nbgrader(cell: dict, grade_id: str, solution=False, grade=False, locked=False, points=0):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3}
    meta["solution"] = solution
    if grade:
        meta["points"] = points
    cell.setdefault("metadata", {})["nbgrader"] = meta
    return cell


def source_version(notebook: dict, solutions: Path) -> tuple[dict, int]:
    """The nbgrader source version of one lesson, and how many points it is worth."""
    cells = []
    points = 0
    for cell in notebook["cells"]:
        cell = json.loads(json.dumps(cell))  # a deep copy of plain JSON
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        tags = cell.get("metadata", {}).get("tags", [])
        exercise, check = EXERCISE.match(text), CHECK.match(text)
        if "exercise" in tags and exercise:
            solution = (solutions / f"{exercise.group(1)}.py").read_text()
            cell["source"] = with_solution_regions(text, solution)
            _nbgrader(cell, f"exercise_{exercise.group(1)}", solution=True)
        elif "check" in tags and check:
            _nbgrader(cell, f"check_{check.group(1)}", grade=True, locked=True, points=1)
            points += 1
        cells.append(cell)
    switch = {"cell_type": "code", "execution_count": None, "outputs": [], "source": SWITCH}
    switch["metadata"] = {}
    cells.insert(0, _nbgrader(switch, "grading_switch", locked=True))
    notebook = dict(notebook, cells=cells)
    notebook.setdefault("metadata", {}).setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    return notebook, points


def write_course(course: Path, lessons: list[str] | None = None) -> dict[str, int]:
    """Write the nbgrader course; return assignment -> points. ``lessons``: e.g. ["01", "03"]."""
    folder = course_folder()
    course = Path(course)
    written = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        number = path.name[:2]
        if lessons is not None and number not in lessons:
            continue
        source, points = source_version(json.loads(path.read_text()), folder / "solutions")
        if not points:
            continue  # a lesson without exercises has nothing to grade
        assignment = f"lesson{number}"
        target = course / "source" / assignment / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(source, indent=1) + "\n")
        written[assignment] = points
    (course / "nbgrader_config.py").write_text(CONFIG)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.grading",
        description="Write the lessons as an nbgrader course (source versions with solutions).",
    )
    parser.add_argument("course", type=Path, help="the nbgrader course folder to write")
    parser.add_argument(
        "--lessons", nargs="+", metavar="NN", help="only these lessons (e.g. 01 03); default all"
    )
    args = parser.parse_args(argv)
    written = write_course(args.course, args.lessons)
    for assignment, points in written.items():
        print(f"{assignment}: {points} point(s), one per check")
    print(
        f"next: cd {args.course} && nbgrader generate_assignment {next(iter(written), 'lessonNN')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
