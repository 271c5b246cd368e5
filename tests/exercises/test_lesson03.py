"""Lesson 3's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

The other right formulations use torch.autograd, the oracle.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- matmul_grad -------------------------------------------------------------------------


def matmul_by_autograd(a, b, g):
    a, b = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    return torch.autograd.grad(a @ b, (a, b), g)


def test_matmul_grad_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("matmul_grad", solution("matmul_grad"), capsys)
    assert_passes("matmul_grad", matmul_by_autograd, capsys)
    assert_passes("matmul_grad", lambda a, b, g: ((b @ g.T).T, (g.T @ a).T), capsys)


def test_matmul_grad_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("matmul_grad", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda a, b, g: (2 * (g @ b.T), a.T @ g), ["grad_a", "exactly 2x the expected"]),
        (lambda a, b, g: (g @ b.T, -(a.T @ g)), ["grad_b", "wrong sign"]),
        (lambda a, b, g: (g @ b.T, g.T @ a), ["grad_b", "the transpose of the expected"]),
        (lambda a, b, g: (a.T @ g, g @ b.T), ["this is dL/dB, not dL/dA"]),
        (lambda a, b, g: (g @ b.T,), ["a pair (grad_a, grad_b)", "received 1 item"]),
    ],
    ids=["factor", "sign", "transpose", "swapped", "one-item"],
)
def test_matmul_grad_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("matmul_grad", wrong, capsys, *words)


def test_matmul_grad_quotes_torchs_value_at_the_first_wrong_element(capsys):
    out = assert_fails("matmul_grad", lambda a, b, g: (2 * (g @ b.T), a.T @ g), capsys)
    assert "index (0, 0)" in out
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    b = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    g = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    grad_a, _ = matmul_by_autograd(a, b, g)
    expected = float(re.search(r"expected (\S+),", out).group(1))
    received = float(re.search(r"received (\S+)\n", out).group(1))
    assert math.isclose(expected, grad_a[0, 0].item(), rel_tol=1e-5)
    assert math.isclose(received, 2 * grad_a[0, 0].item(), rel_tol=1e-5)


def test_matmul_grad_fails_an_answer_hard_coded_for_the_first_shape(capsys):
    first = matmul_by_autograd(*_first_matmul_case())
    assert_fails("matmul_grad", lambda a, b, g: first, capsys, "shape")


def _first_matmul_case():
    generator = torch.Generator().manual_seed(3)
    return [
        torch.randn(s, generator=generator, dtype=torch.float64) for s in [(2, 3), (3, 4), (2, 4)]
    ]
