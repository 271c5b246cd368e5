"""Lesson 20's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

The closed forms the checks compute are checked here against torch: the gap against
torch.nextafter, the loss-scale rule against torch.amp.GradScaler (in
tests/test_grad_scaler.py), the master step against torch.optim.SGD on float32 masters.
"""

from __future__ import annotations

import math

import pytest
import torch

from minigrad.exercises import lesson20
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution
from tests.test_grad_scaler import torch_rule

# -- spacing ---------------------------------------------------------------------------------


def by_nextafter(w, dtype):
    """Another right answer: torch steps to the next larger number of the dtype."""
    size = w.abs()
    return torch.nextafter(size, torch.full_like(size, math.inf)) - size


@pytest.mark.parametrize("dtype, values", lesson20.SPACING_CASES)
def test_the_closed_form_gap_is_torchs_nextafter(dtype, values):
    w = torch.tensor(values, dtype=dtype)
    torch.testing.assert_close(lesson20.spacing_of(w, dtype), by_nextafter(w, dtype).double(),
                               atol=0, rtol=0)  # fmt: skip


def by_frexp(w, dtype):
    """Another right answer: |w| = m 2**e with m in [0.5, 1), so |w| is in [2**(e-1), 2**e)."""
    info = torch.finfo(dtype)
    _, exponent = torch.frexp(w.double().abs())
    lowest = round(math.log2(info.smallest_normal)) + 1
    exponent = torch.where(w == 0, lowest, exponent).clamp(min=lowest)
    return info.eps * torch.ldexp(torch.ones_like(w, dtype=torch.float64), exponent - 1)


def test_spacing_passes_the_solution_and_other_right_answers(capsys):
    assert_passes("spacing", solution("spacing"), capsys)
    assert_passes("spacing", by_nextafter, capsys)
    assert_passes("spacing", by_frexp, capsys)


def test_spacing_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("spacing", capsys)


FIRST_GAPS = lesson20.spacing_of(torch.tensor(lesson20.SPACING_CASES[0][1], dtype=torch.float16),
                                 torch.float16)  # fmt: skip


def floor_exponent(w):
    return torch.floor(torch.log2(w.double().abs()))


def gap_with(eps, w, lowest=None):
    exponent = floor_exponent(w)
    return eps * 2.0 ** (exponent if lowest is None else exponent.clamp(min=lowest))


def lowest(dtype):
    return math.log2(torch.finfo(dtype).smallest_normal)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda w, d: torch.finfo(d).eps * w.double().abs(), ["that is eps * |w|"]),
        (lambda w, d: torch.full(w.shape, torch.finfo(d).eps), ["the gap next to 1 only"]),
        (lambda w, d: gap_with(torch.finfo(d).eps, w, lowest(d)) / 2, ["exactly 1/2x",
                                                                       "half the gap"]),
        (lambda w, d: gap_with(torch.finfo(d).eps, w), ["float16, w = [2.0", "the tiny ones"]),
        (lambda w, d: gap_with(torch.finfo(torch.float32).eps, w, lowest(d)),
         ["float32's gap"]),
        (lambda w, d: gap_with(torch.finfo(torch.float16).eps, w, lowest(d)),
         ["torch.bfloat16, w =", "torch.float16's eps"]),
        (
            lambda w, d: torch.finfo(d).eps
            * 2.0 ** (torch.ceil(torch.log2(w.double().abs())) - 1).clamp(min=lowest(d)),
            ["index (0,)", "the gap *below* them"],
        ),
        (lambda w, d: FIRST_GAPS, ["torch.bfloat16, w ="]),  # the first case's answer
    ],
    ids=["relative", "eps", "half", "no-subnormals", "float32", "other-dtype", "below",
         "fixed"],
)  # fmt: skip
def test_spacing_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("spacing", wrong, capsys, *words)


# -- scale_update ----------------------------------------------------------------------------


def test_scale_update_passes_the_solution_and_torchs_kernel(capsys):
    assert_passes("scale_update", solution("scale_update"), capsys)
    assert_passes("scale_update", torch_rule, capsys)  # another right answer: torch's kernel


def test_scale_update_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("scale_update", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda s, t, f, g, b, i: (s * b, t) if f else ((s * g, 0) if t + 1 == i else
                                                        (s, t + 1)),
         ["step 2", "the tracker", "starts again from 0"]),
        (lambda s, t, f, g, b, i: (s * b, 0) if f else ((s * g, 0) if t + 1 > i else
                                                        (s, t + 1)),
         ["step 5", "the scale", "off-by-one"]),
        (lambda s, t, f, g, b, i: (s * b, 0) if f else ((s * g, 0) if t + 2 == i else
                                                        (s, t + 1)),
         ["step 1", "grew too early"]),
        (lambda s, t, f, g, b, i: (s * g, 0) if f else ((s * g, 0) if t + 1 == i else
                                                        (s, t + 1)),
         ["an overflow", "must shrink"]),
        (lambda s, t, f, g, b, i: (s / g, 0) if f else ((s * g, 0) if t + 1 == i else
                                                        (s, t + 1)),
         ["backoff_factor 0.25", "not by 1 / growth_factor"]),
        (lambda s, t, f, g, b, i: (s * b, 0) if f else ((s * g, i) if t + 1 == i else
                                                        (s, t + 1)),
         ["the tracker", "after the scale grows"]),
        (lambda s, t, f, g, b, i: (s, t), ["step 0", "the tracker", "adds one"]),
    ],
    ids=["no-reset", "late", "early", "grows-on-inf", "inverse", "no-reset-after-growth",
         "stuck"],
)  # fmt: skip
def test_scale_update_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("scale_update", wrong, capsys, *words)


# -- master_step -----------------------------------------------------------------------------


def by_torch_sgd(weight, master, grad, lr):
    """Another right answer: torch.optim.SGD steps the float32 master."""
    parameter = torch.nn.Parameter(master.clone())
    parameter.grad = grad.float()
    torch.optim.SGD([parameter], lr=lr).step()
    return parameter.detach().to(weight.dtype), parameter.detach()


def test_master_step_passes_the_solution_and_torchs_sgd(capsys):
    assert_passes("master_step", solution("master_step"), capsys)
    assert_passes("master_step", by_torch_sgd, capsys)


def test_master_step_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("master_step", capsys)


def test_the_third_training_has_updates_that_vanish_in_float16():
    dtype, start, lr, steps, size = lesson20.MASTER_CASES[2]
    grads = lesson20.drawn_grads(steps, len(start), size, dtype, 2)
    assert bool(((lr * grads) == 0).all()), "lr * grad should be 0 in float16"
    assert bool(((lr * grads.float()) != 0).all())


def half_product_in_float16(weight, master, grad, lr):
    """Right for bfloat16; for float16, lr * grad in float16 (0 when it is tiny enough)."""
    step = (lr * grad).float() if grad.dtype == torch.float16 else lr * grad.float()
    return (master - step).to(weight.dtype), master - step


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda w, m, g, lr: ((w.float() - lr * g.float()).to(w.dtype),
                              w.float() - lr * g.float()),
         ["the master", "rebuilt from the 16-bit weight"]),
        (lambda w, m, g, lr: ((m - lr * g).to(w.dtype), m - (lr * g).float()),
         ["computed in torch.bfloat16"]),
        (half_product_in_float16, ["weights [0.002", "computed in torch.float16"]),
        (lambda w, m, g, lr: (w, m - lr * g.float()), ["the weight", "never moved"]),
        (lambda w, m, g, lr: (w - lr * g, m - lr * g.float()), ["the weight", "never moved"]),
        (lambda w, m, g, lr: (w, m), ["the master did not move"]),
        (lambda w, m, g, lr: ((m + lr * g.float()).to(w.dtype), m + lr * g.float()),
         ["uphill"]),
        (lambda w, m, g, lr: ((m - lr * g.float()).to(w.dtype), (m - lr * g.float()).double()),
         ["the master is torch.float64", "keep each in its own dtype"]),
    ],
    ids=["rebuilt", "half-update", "flushed", "not-copied", "self-updated", "stuck", "uphill",
         "float64"],
)  # fmt: skip
def test_master_step_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("master_step", wrong, capsys, *words)
