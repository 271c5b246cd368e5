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


# -- sum_to_shape --------------------------------------------------------------------------


def sum_by_autograd(grad, shape):
    """What torch.autograd gives a broadcast input: the oracle for sum_to_shape."""
    leaf = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    (result,) = torch.autograd.grad(leaf + torch.zeros_like(grad), leaf, grad)
    return result


def test_sum_to_shape_passes_the_solution_torchs_gradient_and_sum_to_size(capsys):
    assert_passes("sum_to_shape", solution("sum_to_shape"), capsys)
    assert_passes("sum_to_shape", sum_by_autograd, capsys)
    assert_passes("sum_to_shape", lambda grad, shape: grad.sum_to_size(shape), capsys)


def test_sum_to_shape_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("sum_to_shape", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda g, s: g.sum(1) if g.ndim > len(s) else g, ["summed over dimension(s) (1,)"]),
        (
            lambda g, s: g.sum(0) if g.ndim > len(s) else g,
            ["shape (3, 1)", "received shape (3, 4)"],
        ),
        (
            lambda g, s: (
                sum_by_autograd(g, s).reshape(-1) if len(s) == 2 else sum_by_autograd(g, s)
            ),
            ["right values but shape (3,) instead of (3, 1)"],
        ),
        (
            lambda g, s: sum_by_autograd(g, s) * sum_by_autograd(g, s).numel() / g.numel(),
            ["the mean over the stretched dimensions"],
        ),
        (
            lambda g, s: (
                g.sum(dim=[i for i, d in enumerate(s) if d == 1], keepdim=True)
                if len(s) == g.ndim
                else g
            ),
            ["has shape (3, 4), the input's is (4,)", "adds dimensions on the left"],
        ),
        (
            lambda g, s: g.sum(1) if g.shape == (4, 4) and s == (4,) else sum_by_autograd(g, s),
            ["shape (4, 4) for an input of shape (4,)", "summed over dimension(s) (1,)"],
        ),
    ],
    ids=["wrong-dim", "forgot-to-sum", "lost-size-1", "mean", "no-leading-sum", "square-wrong-dim"],
)
def test_sum_to_shape_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("sum_to_shape", wrong, capsys, *words)


# -- linear_backward -----------------------------------------------------------------------


def linear_by_autograd(x, w, b, g):
    x, w, b = (t.clone().requires_grad_(True) for t in (x, w, b))
    return torch.autograd.grad(torch.nn.functional.linear(x, w, b), (x, w, b), g)


def test_linear_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("linear_backward", solution("linear_backward"), capsys)
    assert_passes("linear_backward", linear_by_autograd, capsys)
    assert_passes(
        "linear_backward",
        lambda x, w, b, g: (torch.einsum("no,oi->ni", g, w), torch.einsum("no,ni->oi", g, x),
                            g.T @ torch.ones(len(g), dtype=g.dtype)),
        capsys,
    )  # fmt: skip


def test_linear_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("linear_backward", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda x, w, b, g: (g @ w, x.T @ g, g.sum(0)),
            ["grad_w", "the transpose of the expected"],
        ),
        (
            lambda x, w, b, g: (g @ w, g.T @ x, g.sum(1)),
            ["grad_b", "summed over dimension(s) (1,)"],
        ),
        (lambda x, w, b, g: (g @ w, g.T @ x, g.mean(0)), ["grad_b", "the mean over the batch"]),
        (lambda x, w, b, g: (g @ w, g.T @ x, b), ["grad_b", "that is b itself"]),
        (lambda x, w, b, g: (g @ w, -g.T @ x, g.sum(0)), ["grad_w", "wrong sign"]),
    ],
    ids=["transposed-w", "bias-wrong-dim", "bias-mean", "bias-itself", "sign"],
)
def test_linear_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("linear_backward", wrong, capsys, *words)
