"""The start page's warm-up: its check, hints and diagnoses."""

from __future__ import annotations

import pytest
import torch

from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution


def slope_by_autograd(x):
    t = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_(True)
    (t**3 - 2 * t).sum().backward()
    return t.grad if t.ndim else t.grad.item()


def test_warm_up_passes_the_solution_and_torchs_derivative(capsys):
    assert_passes("warm_up", solution("warm_up"), capsys)
    assert_passes("warm_up", slope_by_autograd, capsys)


def test_warm_up_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("warm_up", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda x: 3 * x**2, ["the term -2x is missing"]),
        (lambda x: 3 * x**3 - 2, ["lowers the exponent by one"]),
        (lambda x: x**2 - 2, ["brings the exponent down"]),
        (lambda x: 4.75, ["with x = -2.0", "expected 10, received 4.75"]),
    ],
    ids=["missing-term", "exponent", "factor", "hard-coded"],
)
def test_warm_up_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("warm_up", wrong, capsys, *words)
