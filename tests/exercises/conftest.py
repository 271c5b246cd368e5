"""Every exercise test keeps its progress file in a temporary folder and starts its hints afresh."""

from __future__ import annotations

import pytest

from minigrad import exercises


@pytest.fixture(autouse=True)
def private_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIGRAD_PROGRESS", str(tmp_path / "progress.json"))
    exercises.reset_hints()
    exercises.grading(False)
    yield tmp_path / "progress.json"
    exercises.grading(False)
