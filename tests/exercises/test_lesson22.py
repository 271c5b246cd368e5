"""Lesson 22's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

torch.func is the oracle: the other right answers take H v and the Newton
step from torch.func (grad, jvp, hessian), and the closed forms the checks
compute are compared with torch's own derivatives.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson22
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- hvp_by_hand ---------------------------------------------------------------------------


def hvp_by_torch(f, x, v):
    """Forward over reverse: the jvp of torch's gradient function."""
    return torch.func.jvp(torch.func.grad(f), (x,), (v,))[1]


def test_hvp_by_hand_passes_the_solution_torch_func_and_mg_hvp(capsys):
    assert_passes("hvp_by_hand", solution("hvp_by_hand"), capsys)
    assert_passes("hvp_by_hand", hvp_by_torch, capsys)
    assert_passes("hvp_by_hand", lambda f, x, v: mg.hvp(f, (x,), (v,))[1], capsys)


def test_hvp_by_hand_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("hvp_by_hand", capsys)


def first_gradient_not_recorded(f, x, v):
    x = mg.tensor(x, requires_grad=True)
    (g,) = mg.grad(f(x), x)  # create_graph forgotten: g is a plain tensor
    (hv,) = mg.grad((g * v).sum(), x)
    return hv


def the_gradient(f, x, v):
    x = mg.tensor(x, requires_grad=True)
    return mg.grad(f(x), x)[0]


def gradient_times_v(f, x, v):
    return the_gradient(f, x, v) * v


@pytest.mark.parametrize(
    "wrong, words",
    [
        (first_gradient_not_recorded, ["nothing recorded to walk back", "record its backward"]),
        (the_gradient, ["the gradient g itself"]),
        (gradient_times_v, ["element by element", "sum it into one number"]),
    ],
    ids=["no-create-graph", "gradient", "g-times-v"],
)
def test_hvp_by_hand_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("hvp_by_hand", wrong, capsys, *words)


def test_hvp_by_hand_fails_an_answer_hard_coded_for_the_first_function(capsys):
    generator = torch.Generator().manual_seed(22)
    _, _, x, _, hessian = next(lesson22._functions(generator))
    first = hessian @ lesson22.draw(generator, *x.shape)
    assert_fails("hvp_by_hand", lambda f, x, v: first, capsys, "f(x) = sum(exp(x))")


# -- newton_step ---------------------------------------------------------------------------


def newton_by_torch(f, x):
    return x - torch.linalg.solve(torch.func.hessian(f)(x), torch.func.grad(f)(x))


def test_newton_step_passes_the_solution_and_torch_funcs_step(capsys):
    assert_passes("newton_step", solution("newton_step"), capsys)
    assert_passes("newton_step", newton_by_torch, capsys)
    assert_passes(
        "newton_step",
        lambda f, x: x - torch.linalg.inv(mg.hessian(f, x)) @ torch.func.grad(f)(x),
        capsys,
    )


def test_newton_step_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("newton_step", capsys)


def torch_parts(f, x):
    return torch.func.grad(f)(x), torch.func.hessian(f)(x)


def uphill(f, x):
    g, h = torch_parts(f, x)
    return x + torch.linalg.solve(h, g)


def gradient_descent(f, x):
    return x - torch_parts(f, x)[0]


def times_hessian(f, x):
    g, h = torch_parts(f, x)
    return x - h @ g


def diagonal_only(f, x):
    g, h = torch_parts(f, x)
    return x - g / torch.diagonal(h)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (uphill, ["goes uphill", "sign of the step"]),
        (gradient_descent, ["gradient-descent step", "divides the gradient by the curvature"]),
        (times_hessian, ["multiplies by H"]),
        (diagonal_only, ["only H's diagonal"]),
    ],
    ids=["uphill", "descent", "times-H", "diagonal"],
)
def test_newton_step_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("newton_step", wrong, capsys, *words)


# -- the closed forms are torch's ----------------------------------------------------------


def test_the_closed_form_gradients_and_hessians_are_torchs():
    cases = [
        *lesson22._functions(torch.Generator().manual_seed(22)),
        *lesson22._newton_cases(torch.Generator().manual_seed(220)),
    ]
    for description, f, x, gradient, hessian in cases:
        torch.testing.assert_close(torch.func.grad(f)(x), gradient, msg=description)
        torch.testing.assert_close(torch.func.hessian(f)(x), hessian, msg=description)
