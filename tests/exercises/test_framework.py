"""The check framework itself: diagnoses, honest checks, hint tiers, progress, grading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from minigrad import exercises
from minigrad.exercises import diagnoses
from minigrad.exercises.compare import mismatch
from tests.exercises.helpers import NOTEBOOKS, assert_fails, hint_tiers, run

# -- the generic diagnoses ----------------------------------------------------------------

E = torch.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]], dtype=torch.float64)


@pytest.mark.parametrize(
    "received, words",
    [
        (2 * E, "exactly 2x the expected"),
        (E / 2, "exactly 1/2x the expected"),
        (-E, "wrong sign"),
        (1.37 * E, "about 1.37x the expected"),
        (E.T, "the transpose of the expected"),
        (torch.zeros_like(E), "every element is zero"),
        (E.reshape(3, 2), "should have shape (2, 3)"),
        (E.reshape(-1), "should have shape (2, 3), received shape (6,)"),
        (E + float("inf"), "not finite"),
    ],
)
def test_mismatch_says_what_kind_of_mistake(received, words):
    found = mismatch("grad", E, received)
    assert found is not None
    assert words in found.detail + " " + (found.diagnosis or "")


def test_a_lost_size_one_dimension_is_named():
    found = mismatch("grad", E[:, :1], E[:, 0])
    assert "right values but shape (2,) instead of (2, 1)" in found.detail


def test_mismatch_accepts_equal_values_and_rejects_wrong_types():
    assert mismatch("grad", E, E.clone().float()) is None
    assert "should be a tensor of shape (2, 3), received None" in mismatch("grad", E, None).detail
    assert "should be a number" in mismatch("slope", 1.5, "1.5").detail


def test_a_single_number_is_a_constant_factor_only_when_the_factor_is_simple():
    assert diagnoses.constant_factor(torch.tensor(3.0), torch.tensor(6.0)) == 2.0
    assert diagnoses.constant_factor(torch.tensor(3.0), torch.tensor(3.1)) is None


def test_a_recorded_mistake_wins_over_the_generic_patterns():
    says = diagnoses.diagnose(E, 2 * E, (diagnoses.Mistake(2 * E, "the recorded one"),))
    assert says == "the recorded one"


# -- honest checks: copies, mutations, int-like answers, crashes ------------------------------


def test_the_learner_gets_copies_and_a_mutated_input_is_reported(capsys):
    def scribbles(a, b, g):
        grad_a, grad_b = g @ b.T, a.T @ g
        g.zero_()
        return grad_a, grad_b

    out = assert_fails("matmul_grad", scribbles, capsys, "changed its input g")
    assert "the values are right" in out


def test_a_mutation_is_noted_beside_a_wrong_value(capsys):
    def both(a, b, g):
        a.add_(1)
        return 2 * (g @ b.T), a.T @ g

    assert_fails(
        "matmul_grad", both, capsys, "exactly 2x", "note: your code also changed its input a"
    )


def test_any_int_like_index_counts(capsys):
    culprit = exercises.lesson05.planted_node
    for kind in (int, np.int64, np.int32, lambda i: torch.tensor(i)):
        result, out = run("wrong_node", lambda ctx, kind=kind: kind(culprit(ctx)), capsys)
        assert result, out
    assert_fails("wrong_node", lambda ctx: True, capsys, "expected a node index (an int)")
    assert_fails("wrong_node", lambda ctx: 4.0, capsys, "expected a node index (an int)")


def test_an_error_in_the_learners_code_is_a_fail_with_its_place(capsys):
    def broken(a, b, g):
        return a @ g, None

    out = assert_fails("matmul_grad", broken, capsys, "your code raised RuntimeError", "in broken")
    assert "Traceback" not in out


def test_deep_recursion_is_diagnosed(capsys):
    def recursive(a, b, g):
        return recursive(a, b, g)

    assert_fails("matmul_grad", recursive, capsys, "RecursionError", "walk it with a loop")


# -- hints, progress, grading ------------------------------------------------------------


def test_hint_goes_one_tier_further_each_call_and_ends_with_load(capsys):
    tiers = hint_tiers("matmul_grad", capsys)
    assert len(tiers) == len(exercises.EXERCISES["matmul_grad"].hints) + 1 >= 3
    assert tiers[0].startswith("hint 1 of 3 for matmul_grad: ")
    assert tiers[1].startswith("hint 2 of 3 for matmul_grad: ")
    assert "%load solutions/matmul_grad.py" in tiers[-1] and "for the next tier" not in tiers[-1]
    exercises.hint("matmul_grad")  # past the last tier it stays there
    assert capsys.readouterr().out == tiers[-1]
    with pytest.raises(KeyError, match="the exercises are: .*matmul_grad"):
        exercises.hint("no_such_exercise")


def test_the_fail_message_points_at_the_hints(capsys):
    out = assert_fails("matmul_grad", lambda a, b, g: None, capsys)
    assert 'exercises.hint("matmul_grad")' in out


def test_progress_shows_each_lesson_and_remembers_outcomes_in_a_file(capsys, private_progress):
    table = exercises.progress()
    assert {row["state"] for row in table.rows if row["exercise"]} == {"not tried"}
    assert [row["lesson"] for row in table.rows] == sorted(row["lesson"] for row in table.rows)
    on_disk = {int(path.name[:2]) for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert {row["lesson"] for row in table.rows} == on_disk  # every lesson, and only those

    run("matmul_grad", lambda a, b, g: (g @ b.T, a.T @ g), capsys)
    run("softplus_gate", None, capsys)
    saved = json.loads(private_progress.read_text())
    assert saved["matmul_grad"]["passed"] is True and saved["softplus_gate"]["passed"] is False

    table = exercises.progress()
    states = {row["exercise"]: row["state"] for row in table.rows}
    assert states["matmul_grad"] == "PASS" and states["softplus_gate"] == "FAIL"
    assert states["wrong_node"] == "not tried"
    text = repr(table)
    assert f"1 of {len(exercises.EXERCISES)} exercises pass" in text
    assert "03_tensors" in text and "matmul_grad" in text


def test_grading_turns_a_fail_into_an_error_and_records_nothing(capsys, private_progress):
    exercises.grading(True)
    with pytest.raises(exercises.ExerciseFailed, match="FAIL matmul_grad"):
        exercises.check_matmul_grad(lambda a, b, g: None)
    assert "FAIL matmul_grad" in capsys.readouterr().out  # the learner still reads why
    assert exercises.check_matmul_grad(lambda a, b, g: (g @ b.T, a.T @ g))
    assert isinstance(exercises.ExerciseFailed("x"), AssertionError)
    assert not private_progress.exists()


def test_every_exercise_has_a_check_a_lesson_and_hints():
    for exercise_id, spec in exercises.EXERCISES.items():
        assert callable(getattr(exercises, f"check_{exercise_id}")), exercise_id
        assert spec.hints and all(len(h) > 40 for h in spec.hints), exercise_id
