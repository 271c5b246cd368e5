"""Which exercises pass: remembered across lessons, shown lesson by lesson.

Every check records its outcome. Each lesson runs in its own kernel, so the
outcomes are kept in a small JSON file beside the notebooks (the kernel's
working folder), ``.minigrad_progress.json``, or in the file named by the
environment variable ``MINIGRAD_PROGRESS``. ``exercises.progress()`` reads it
back as a table, which the start-here notebook shows.

Nothing is written while grading (an autograder's copy is not the learner's).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from minigrad.exercises.registry import EXERCISES, LESSONS

FILE_NAME = ".minigrad_progress.json"


def progress_file() -> Path:
    """Where outcomes are kept: ``$MINIGRAD_PROGRESS``, else the working folder."""
    return Path(os.environ.get("MINIGRAD_PROGRESS") or Path.cwd() / FILE_NAME)


def load() -> dict[str, dict]:
    """Exercise id -> ``{"passed": bool, "time": seconds since the epoch}``."""
    try:
        data = json.loads(progress_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(exercise_id: str, passed: bool) -> None:
    """Remember the latest outcome of one exercise (atomically: a crash leaves the old file)."""
    path = progress_file()
    data = load()
    data[exercise_id] = {"passed": bool(passed), "time": round(time.time())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".progress-")
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only folder: the check's own output still says PASS or FAIL


@dataclass
class Progress:
    """The table ``exercises.progress()`` returns: one row per exercise, in lesson order."""

    rows: list[dict]

    @property
    def passed(self) -> int:
        return sum(row["state"] == "PASS" for row in self.rows)

    def __repr__(self) -> str:
        exercises = [row for row in self.rows if row["exercise"]]
        lines = [
            f"{self.passed} of {len(exercises)} exercises pass",
            f"{'lesson':<26} {'exercise':<22} state",
        ]
        last = None
        for row in self.rows:
            lesson = row["notebook"] if row["notebook"] != last else ""
            last = row["notebook"]
            lines.append(f"{lesson:<26} {row['exercise'] or '(no exercises)':<22} {row['state']}")
        return "\n".join(lines)


def progress() -> Progress:
    """Which exercises pass, lesson by lesson (PASS, FAIL, or 'not tried')."""
    outcomes = load()
    rows = []
    for number, notebook in LESSONS.items():
        ids = [e.id for e in EXERCISES.values() if e.lesson == number]
        if not ids:
            rows.append({"lesson": number, "notebook": notebook, "exercise": "", "state": ""})
        for exercise_id in ids:
            outcome = outcomes.get(exercise_id)
            state = "not tried" if outcome is None else ("PASS" if outcome["passed"] else "FAIL")
            rows.append(
                {"lesson": number, "notebook": notebook, "exercise": exercise_id, "state": state}
            )
    return Progress(rows)
