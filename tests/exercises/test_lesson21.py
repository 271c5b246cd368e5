"""Lesson 21's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

torch.func is the oracle: the other right answers are rules that ask
torch.func.jvp for the tangent, and torch.func.jacfwd / jacrev for the
whole Jacobian.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson21
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- jvp_rules ---------------------------------------------------------------------------


class TorchExp(mg.Exp):
    def jvp(self, t):  # exp(log y) = y: torch's tangent at the input that made y
        return torch.func.jvp(torch.exp, (self.out.log(),), (t,))[1]


class TorchSigmoid(mg.Sigmoid):
    def jvp(self, t):
        return torch.func.jvp(torch.sigmoid, (torch.logit(self.out),), (t,))[1]


class TorchMul(mg.Mul):
    def jvp(self, ta, tb):
        return torch.func.jvp(torch.mul, (self.a, self.b), (ta, tb))[1]


class TorchMatMul(mg.MatMul):
    def jvp(self, ta, tb):
        return torch.func.jvp(torch.matmul, (self.a, self.b), (ta, tb))[1]


class TorchSoftmax(mg.Softmax):
    def jvp(self, t):  # softmax(log y) = y, as y sums to 1 along dim
        return torch.func.jvp(lambda z: torch.softmax(z, self.dim), (self.out.log(),), (t,))[1]


BY_TORCH = (TorchExp, TorchSigmoid, TorchMul, TorchMatMul, TorchSoftmax)
BASES = (mg.Exp, mg.Sigmoid, mg.Mul, mg.MatMul, mg.Softmax)


def test_jvp_rules_passes_the_solution_and_torch_funcs_tangents(capsys):
    assert_passes("jvp_rules", solution("jvp_rules"), capsys)
    assert_passes("jvp_rules", BY_TORCH, capsys)


def test_jvp_rules_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("jvp_rules", capsys)


def with_rule(position: int, rule):
    """torch's right rules, with the gate at ``position`` given ``rule`` as its jvp."""
    classes = list(BY_TORCH)
    classes[position] = type("Wrong", (BASES[position],), {"jvp": rule})
    return tuple(classes)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (with_rule(0, lambda self, t: self.out), ["Exp", "dy/dx alone"]),
        (with_rule(0, lambda self, t: t), ["Exp", "the tangent itself"]),
        (with_rule(1, lambda self, t: t * self.out), ["Sigmoid", "a factor is missing"]),
        (with_rule(1, lambda self, t: self.out * (1 - self.out)), ["Sigmoid", "dy/dx alone"]),
        (with_rule(2, lambda self, ta, tb: ta * self.b), ["Mul", "only a's term"]),
        (with_rule(2, lambda self, ta, tb: ta * tb), ["Mul", "product of the tangents"]),
        (with_rule(3, lambda self, ta, tb: self.a @ tb), ["MatMul", "only B's term"]),
        (with_rule(4, lambda self, t: self.out * t), ["Softmax", "outputs are coupled"]),
        (
            with_rule(4, lambda self, t: self.out * (t - t.sum(self.dim, keepdim=True))),
            ["Softmax", "sum(y * t), not sum(t)"],
        ),
        (
            with_rule(4, lambda self, t: self.out * (t - (self.out * t).sum(0, keepdim=True))),
            ["Softmax"],
        ),
    ],
    ids=[
        "exp-slope",
        "exp-tangent",
        "sigmoid-factor",
        "sigmoid-slope",
        "mul-one-term",
        "mul-tangents",
        "matmul-one-term",
        "softmax-uncoupled",
        "softmax-unweighted",
        "softmax-dim",
    ],  # fmt: skip
)
def test_jvp_rules_names_the_gate_and_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("jvp_rules", wrong, capsys, *words)


def test_jvp_rules_refuses_something_that_is_not_a_gate_class(capsys):
    rules = (*BY_TORCH[:2], "Mul", *BY_TORCH[3:])
    assert_fails("jvp_rules", rules, capsys, "expected the class Mul (a Gate)")
    assert_fails("jvp_rules", BY_TORCH[:4], capsys, "five gate classes")


def test_jvp_rules_fails_an_answer_hard_coded_for_the_first_draw(capsys):
    generator = torch.Generator().manual_seed(21)
    first = next(lesson21._cases(generator))
    answer = first[4]
    assert_fails("jvp_rules", with_rule(0, lambda self, t: answer), capsys, "Exp")


# -- jacobian_by_jvps ----------------------------------------------------------------------


def test_jacobian_by_jvps_passes_the_solution_and_torch_funcs_jacobians(capsys):
    assert_passes("jacobian_by_jvps", solution("jacobian_by_jvps"), capsys)
    assert_passes("jacobian_by_jvps", lambda f, x: torch.func.jacfwd(f)(x), capsys)
    assert_passes("jacobian_by_jvps", lambda f, x: torch.func.jacrev(f)(x), capsys)


def test_jacobian_by_jvps_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("jacobian_by_jvps", capsys)


def columns_as_rows(f, x):
    return torch.stack([mg.jvp(f, (x,), (e,))[1] for e in torch.eye(x.numel(), dtype=x.dtype)])


def one_jvp_of_ones(f, x):
    return mg.jvp(f, (x,), (torch.ones_like(x),))[1]


def first_column_only(f, x):
    column = mg.jvp(f, (x,), (torch.eye(x.numel(), dtype=x.dtype)[0],))[1]
    return column.unsqueeze(1).expand(-1, x.numel())


@pytest.mark.parametrize(
    "wrong, words",
    [
        (columns_as_rows, ["rows and columns are swapped"]),
        (one_jvp_of_ones, ["a tangent of ones", "one input at a time"]),
        (first_column_only, ["the Jacobian", "f(x) = A @ x"]),
    ],
    ids=["transposed", "ones", "one-column"],
)
def test_jacobian_by_jvps_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("jacobian_by_jvps", wrong, capsys, *words)


def test_the_closed_form_jacobians_are_torchs():
    for description, f, x, want in lesson21._functions(torch.Generator().manual_seed(210)):
        torch.testing.assert_close(torch.func.jacrev(f)(x), want, msg=description)
