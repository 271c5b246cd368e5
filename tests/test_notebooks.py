"""The lessons in notebooks/: committed clean, paired with their text form, and runnable.

Marker scheme for exercises:

* an exercise cell is tagged ``exercise`` and starts with ``# EXERCISE <id>``;
  it leaves a gap (e.g. ``raise NotImplementedError``) for the learner;
* its solution is the whole replacement cell, in ``notebooks/solutions/<id>.py``;
* a later cell tagged ``check`` starts with ``# CHECK <id>`` and calls a check
  from ``minigrad.exercises``, which prints ``PASS <id>`` or ``FAIL <id>``.

Every notebook is executed once as committed (the untouched exercises must
FAIL without stopping the notebook) and once more, for those with exercises,
with every solution substituted (every check must PASS).
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

from tests.exercises.helpers import answer_lines

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PAIRS = NOTEBOOKS / "pairs"  # the text forms, out of the learner's file browser
SOLUTIONS = NOTEBOOKS / "solutions"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in LESSONS]  # the start page 00_start_here, then lessons 1 to n
START = "00_start_here"

EXERCISE = re.compile(r"^#\s*EXERCISE\s+(\w+)")
CHECK = re.compile(r"^#\s*CHECK\s+(\w+)")

# What a lesson may import: minigrad, the widgets, and the array/plot libraries.
ALLOWED_IMPORTS = {
    "minigrad",
    "widgets",
    "torch",
    "numpy",
    "matplotlib",
    "math",
    "time",
    "tempfile",
    "pathlib",
    "copy",
    "warnings",
}

CELL_TIMEOUT_S = 240
TOTAL_BUDGET_S = 600  # every lesson, executed as committed, on this CPU machine

_runs: dict[tuple[str, bool], tuple[nbformat.NotebookNode, float]] = {}
# The checks remember outcomes for exercises.progress(): keep the test runs' out of notebooks/.
KERNEL_ENV = dict(os.environ, MINIGRAD_PROGRESS=str(Path(tempfile.mkdtemp()) / "progress.json"))
# On a shared CPU, torch's OpenMP threads spin while they wait for work and starve each other
# (lesson 10's CNN trained 7 to 20 times slower under load); passive waiting lets them sleep.
# ./run sets the same for the lessons and the tests.
KERNEL_ENV.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def marked(nb, tag: str, pattern: re.Pattern) -> dict[str, int]:
    """Exercise (or check) id -> cell position, for cells carrying ``tag``."""
    found = {}
    for position, cell in enumerate(nb.cells):
        if tag in tags(cell):
            match = pattern.match(cell.source)
            assert match, f"cell {position} is tagged {tag!r} but does not start with its marker"
            found[match.group(1)] = position
    return found


def with_solutions(nb) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose exercise cells are replaced by their solutions."""
    nb = nbformat.from_dict(nb)
    for exercise_id, position in marked(nb, "exercise", EXERCISE).items():
        nb.cells[position].source = (SOLUTIONS / f"{exercise_id}.py").read_text().rstrip("\n")
    return nb


def execute(name: str, solved: bool = False) -> tuple[nbformat.NotebookNode, float]:
    """Run a lesson top to bottom in a fresh kernel (cached for the session)."""
    key = (name, solved)
    if key not in _runs:
        nb = read(name)
        if solved:
            nb = with_solutions(nb)
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOKS)}},
        )
        start = time.perf_counter()
        client.execute(env=KERNEL_ENV)
        _runs[key] = (nb, time.perf_counter() - start)
    return _runs[key]


def text_of(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def exercise_lessons() -> list[str]:
    return [name for name in NAMES if marked(read(name), "exercise", EXERCISE)]


# -- the course is all there ------------------------------------------------------


def test_the_course_has_a_start_page_then_twelve_lessons_in_order():
    assert NAMES[0] == START, f"the course should open with {START}.ipynb: {NAMES}"
    numbers = [int(name[:2]) for name in NAMES[1:]]
    assert numbers == list(range(1, len(numbers) + 1)), f"lessons are not numbered 1..n: {NAMES}"
    assert len(numbers) >= 12, f"expected at least 12 lessons, found {len(numbers)}: {NAMES}"


def links(name: str) -> set[str]:
    """The notebooks a notebook's markdown links to."""
    text = "\n".join(c.source for c in read(name).cells if c.cell_type == "markdown")
    return set(re.findall(r"\]\(([\w.]+\.ipynb)\)", text))


def test_the_start_page_links_every_lesson():
    missing = {f"{name}.ipynb" for name in NAMES[1:]} - links(START)
    assert not missing, f"{START}.ipynb does not link {sorted(missing)}"


@pytest.mark.parametrize("position", range(1, len(NAMES)))
def test_each_lesson_links_to_the_previous_and_the_next(position):
    name = NAMES[position]
    wanted = {f"{NAMES[position - 1]}.ipynb"}
    if position + 1 < len(NAMES):
        wanted.add(f"{NAMES[position + 1]}.ipynb")
    assert wanted <= links(name), f"{name} should link to {sorted(wanted - links(name))}"
    assert all((NOTEBOOKS / link).exists() for link in links(name)), f"{name}: a broken link"


def test_the_file_browser_shows_each_lesson_once():
    beside = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
    assert not beside, f"text forms beside the notebooks (move them to pairs/): {beside}"


def test_readme_lists_every_lesson():
    listed = (ROOT / "README.md").read_text()
    for name in NAMES:
        assert f"{name}.ipynb" in listed, f"README.md does not mention {name}.ipynb"


# -- kept healthy: clean, paired, importing only the package -----------------------


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    for position, cell in enumerate(read(name).cells):
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [], f"{name}: cell {position} has outputs; strip them"
        assert cell.execution_count is None, f"{name}: cell {position} has an execution count"


@pytest.mark.parametrize("name", NAMES)
def test_pair_is_in_sync(name):
    text_form = PAIRS / f"{name}.py"
    assert text_form.exists(), f"{name}.ipynb has no text pair {text_form.name}"
    from_text = jupytext.read(text_form)
    from_ipynb = read(name)

    def cells(nb):
        return [(c.cell_type, c.source.strip(), tuple(tags(c))) for c in nb.cells]

    assert cells(from_text) == cells(from_ipynb), (
        f"pairs/{name}.py and {name}.ipynb differ: run "
        f"`.venv/bin/jupytext --sync notebooks/pairs/{name}.py`"
    )


@pytest.mark.parametrize("name", NAMES)
def test_imports_only_the_package_and_array_libraries(name):
    for cell in read(name).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(jupytext_magics_removed(cell.source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in ALLOWED_IMPORTS, f"{name} imports {module}"


def jupytext_magics_removed(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("%"))


def test_no_function_or_class_is_pasted_into_two_lessons():
    seen: dict[str, str] = {}
    for name in NAMES:
        for cell in read(name).cells:
            if cell.cell_type != "code" or "exercise" in tags(cell):
                continue
            for node in ast.parse(jupytext_magics_removed(cell.source)).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    body = ast.dump(node)
                    assert body not in seen, (
                        f"{node.name} is defined in both {seen.get(body)} and {name}: move it "
                        "into the package (minigrad/exercises/ or widgets/) and import it"
                    )
                    seen[body] = name


def test_every_exercise_has_a_solution_and_a_check():
    solutions = {p.stem for p in SOLUTIONS.glob("*.py")}
    exercises = set()
    for name in NAMES:
        nb = read(name)
        found = marked(nb, "exercise", EXERCISE)
        checks = marked(nb, "check", CHECK)
        for exercise_id, position in found.items():
            assert exercise_id in checks, f"{name}: exercise {exercise_id} has no check cell"
            assert checks[exercise_id] > position, f"{name}: check {exercise_id} comes first"
            solution = (SOLUTIONS / f"{exercise_id}.py").read_text()
            assert EXERCISE.match(solution), f"solutions/{exercise_id}.py lacks its marker"
        exercises |= set(found)
    assert exercises, "the course has no exercises"
    assert exercises == solutions, f"exercises {exercises} vs solutions {solutions}"


# -- every lesson runs top to bottom ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_lesson_runs_top_to_bottom(name):
    nb, seconds = execute(name)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{name}: {errors[0]['ename']}: {errors[0]['evalue']}"
    print(f"{name}: {seconds:.1f} s")


def test_all_lessons_run_within_the_budget():
    total = sum(execute(name)[1] for name in NAMES)
    assert total < TOTAL_BUDGET_S, f"the lessons took {total:.0f} s, over {TOTAL_BUDGET_S} s"


# -- exercises: untouched they fail, solved they pass ------------------------------


@pytest.mark.parametrize("name", exercise_lessons())
def test_untouched_exercises_fail_their_checks(name):
    nb, _ = execute(name)
    for check_id, position in marked(nb, "check", CHECK).items():
        output = text_of(nb.cells[position])
        assert f"FAIL {check_id}" in output, f"{name}: untouched {check_id} did not FAIL: {output}"
        assert f"PASS {check_id}" not in output
        assert "hint:" in output, f"{name}: the FAIL of {check_id} gives no hint"


@pytest.mark.parametrize("name", exercise_lessons())
def test_solved_exercises_pass_their_checks(name):
    nb, _ = execute(name, solved=True)
    for check_id, position in marked(nb, "check", CHECK).items():
        output = text_of(nb.cells[position])
        assert f"PASS {check_id}" in output, f"{name}: solved {check_id} did not PASS: {output}"
        assert f"FAIL {check_id}" not in output


def shown(nb) -> str:
    """Everything a lesson printed or displayed, as text."""
    return "\n".join(text_of(cell) for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.parametrize("name", exercise_lessons())
def test_an_untouched_lesson_shows_no_line_of_its_solutions(name):
    nb, _ = execute(name)
    output = shown(nb)
    for exercise_id in marked(nb, "exercise", EXERCISE):
        for line in answer_lines(exercise_id):
            assert line not in output, f"{name} shows the answer of {exercise_id}: {line!r}"


def test_lesson_5_names_the_culprit_only_once_wrong_node_passes():
    untouched, _ = execute("05_gradient_checking")
    solved, _ = execute("05_gradient_checking", solved=True)
    for giveaway in ("WRONG", "forgot the factor"):
        assert giveaway not in shown(untouched)
        assert giveaway in shown(solved)
