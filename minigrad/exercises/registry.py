"""Every exercise of the course, its lesson, and its hints in tiers.

An :class:`Exercise` is registered when its lesson module is imported (by
the :func:`~minigrad.exercises.checking.exercise` decorator). Its hints go
from the idea to the formula; the last tier, added here for every exercise,
says how to load the solution. No tier is code that is the answer: a test
runs every tier and looks for the solution's lines in what it printed.

``hint(id)`` prints the next tier each time it is called.
"""

from __future__ import annotations

from dataclasses import dataclass

# The lessons, in order: the progress table and the hints name them this way.
LESSONS = {
    0: "00_start_here",
    1: "01_derivatives",
    2: "02_the_tape",
    3: "03_tensors",
    4: "04_your_own_gate",
    5: "05_gradient_checking",
    6: "06_modules_and_init",
    7: "07_optimisers",
    8: "08_lr_schedules",
    9: "09_training_an_mlp",
    10: "10_cnn_and_checkpoints",
    11: "11_on_a_gpu",
    12: "12_debugging",
    13: "13_data_parallel",
    14: "14_softmax_by_hand",
    15: "15_normalisation_backward",
    16: "16_convolution_backward",
    17: "17_rnn_bptt",
    18: "18_attention_transformer",
    19: "19_memory",
    20: "20_precision",
    21: "21_forward_mode",
    22: "22_higher_order",
}


@dataclass(frozen=True)
class Exercise:
    """One gap in a lesson: ``id`` (as in ``# EXERCISE id``), its lesson and its hints."""

    id: str
    lesson: int
    title: str
    hints: tuple[str, ...]

    def tiers(self) -> tuple[str, ...]:
        """The hints in order, ending with how to load the solution."""
        return self.hints + (
            f"Still stuck? In a new cell, run `%load solutions/{self.id}.py`: it loads the "
            "solution into that cell. Read it, run it, then run the check again. (A graded "
            "copy of the course has no solutions folder.)",
        )


EXERCISES: dict[str, Exercise] = {}
_hints_shown: dict[str, int] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.lesson not in LESSONS:
        raise ValueError(f"exercise {exercise.id!r}: no lesson {exercise.lesson} in LESSONS")
    if not exercise.hints:
        raise ValueError(f"exercise {exercise.id!r} needs at least one hint (the idea)")
    if exercise.id in EXERCISES and EXERCISES[exercise.id] != exercise:
        raise ValueError(f"two exercises are called {exercise.id!r}")
    EXERCISES[exercise.id] = exercise
    return exercise


def find(exercise_id: str) -> Exercise:
    """The registered exercise, or a KeyError that lists the known ids."""
    if exercise_id not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise KeyError(f"no exercise {exercise_id!r}; the exercises are: {known}")
    return EXERCISES[exercise_id]


def hint(exercise_id: str) -> None:
    """Print the next hint tier for an exercise (the idea first, then the formula).

    Each call goes one tier further; the last tier says how to load the solution.
    """
    exercise = find(exercise_id)
    tiers = exercise.tiers()
    shown = min(_hints_shown.get(exercise_id, 0), len(tiers) - 1)
    _hints_shown[exercise_id] = shown + 1
    more = (
        f"\n(call exercises.hint({exercise_id!r}) again for the next tier)"
        if shown + 1 < len(tiers)
        else ""
    )
    print(f"hint {shown + 1} of {len(tiers)} for {exercise_id}: {tiers[shown]}{more}")


def reset_hints() -> None:
    """Start every exercise's hints again from the first tier."""
    _hints_shown.clear()
