"""Lesson 4's checks: gates written by the learner, judged against torch.autograd."""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- softplus_gate ---------------------------------------------------------------------


class SoftplusForward(mg.Gate):
    def forward(self, x):
        self.x = x
        return torch.nn.functional.softplus(x)


def softplus_with(backward):
    return type("Softplus", (SoftplusForward,), {"backward": backward})


def autograd_backward(self, grad_output):
    x = self.x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.nn.functional.softplus(x), x, grad_output)
    return (grad,)


def test_softplus_passes_the_solution_and_torchs_gradient(capsys):
    assert_passes("softplus_gate", solution("softplus_gate"), capsys)
    assert_passes("softplus_gate", softplus_with(autograd_backward), capsys)


def test_softplus_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("softplus_gate", capsys)


def naive(self, grad_output):
    return (grad_output * torch.exp(self.x) / (1 + torch.exp(self.x)),)


@pytest.mark.parametrize(
    "backward, words",
    [
        (lambda self, g: (torch.sigmoid(self.x),), ["local derivatives alone", "grad_output"]),
        (lambda self, g: (g * torch.exp(self.x),), ["that is e^x"]),
        (lambda self, g: (-g * torch.sigmoid(self.x),), ["wrong sign"]),
        (naive, ["x of shape (7,)", "received nan", "not finite"]),
        (lambda self, g: g * torch.sigmoid(self.x), ["GradientError", "tuple"]),
    ],
    ids=["no-grad-output", "exp", "sign", "overflow-at-800", "no-tuple"],
)
def test_softplus_names_the_kind_of_mistake(backward, words, capsys):
    assert_fails("softplus_gate", softplus_with(backward), capsys, *words)


def test_softplus_reports_a_backward_that_changes_grad_output_in_place(capsys):
    def in_place(self, grad_output):
        return (grad_output.mul_(torch.sigmoid(self.x)),)

    out = assert_fails("softplus_gate", softplus_with(in_place), capsys)
    assert "the values are right, but your code changed its input grad_output" in out
    assert "in-place" in out


def test_softplus_rejects_what_is_not_a_gate(capsys):
    assert_fails("softplus_gate", lambda x: x, capsys, "expected a subclass of mg.Gate")


# -- divide_gate ---------------------------------------------------------------------------


class DivideForward(mg.Gate):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b


def divide_with(backward):
    return type("Divide", (DivideForward,), {"backward": backward})


def divide_by_autograd(self, grad_output):
    a, b = (t.clone().requires_grad_(True) for t in (self.a, self.b))
    grad_a, grad_b = torch.autograd.grad(a / b, (a, b), grad_output)
    need_a, need_b = self.needs_input_grad
    return (grad_a if need_a else None), (grad_b if need_b else None)


def test_divide_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("divide_gate", solution("divide_gate"), capsys)
    assert_passes("divide_gate", divide_with(divide_by_autograd), capsys)


def test_divide_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("divide_gate", capsys)


@pytest.mark.parametrize(
    "backward, words",
    [
        (lambda s, g: (g / s.b, g * s.a / s.b**2), ["grad_b", "wrong sign"]),
        (lambda s, g: (g / s.b, -g / s.b**2), ["grad_b", "a factor is missing"]),
        (lambda s, g: (g / s.b, -g * s.a / s.b), ["one power of b is missing"]),
        (lambda s, g: (1 / s.b, -s.a / s.b**2), ["grad_a", "local derivatives alone"]),
        (lambda s, g: (g / s.b, -g * s.a / s.b**2), ["grad_b should be None", "(True, False)"]),
        (lambda s, g: (g / s.b,), ["backward's pair", "received 1 item(s)"]),
    ],
    ids=["sign", "missing-a", "missing-power", "no-grad-output", "ignores-needs", "one-item"],
)
def test_divide_names_the_kind_of_mistake(backward, words, capsys):
    assert_fails("divide_gate", divide_with(backward), capsys, *words)


# -- logsumexp_gate -------------------------------------------------------------------------


class ByAutograd(mg.Gate):
    """Another right answer: torch's logsumexp forward, torch.autograd's backward."""

    def forward(self, x):
        self.x = x
        return torch.logsumexp(x, dim=-1)

    def backward(self, grad_output):
        x = self.x.clone().requires_grad_(True)
        return torch.autograd.grad(torch.logsumexp(x, dim=-1), x, grad_output)


def test_logsumexp_passes_the_solution_and_torch(capsys):
    assert_passes("logsumexp_gate", solution("logsumexp_gate"), capsys)
    assert_passes("logsumexp_gate", ByAutograd, capsys)


def test_logsumexp_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("logsumexp_gate", capsys)


def with_methods(**methods):
    return type("LogSumExp", (ByAutograd,), methods)


def naive_forward(self, x):
    self.x = x
    return torch.log(torch.exp(x).sum(dim=-1))


@pytest.mark.parametrize(
    "gate, words",
    [
        (with_methods(forward=naive_forward), ["±800", "received inf", "e^800 overflows"]),
        (
            with_methods(backward=lambda s, g: (torch.softmax(s.x, -1),)),
            ["x.grad", "local derivatives alone"],
        ),
        (
            with_methods(backward=lambda s, g: (g * torch.softmax(s.x, -1),)),
            ["x of shape (3, 5)", "RuntimeError", "give it back the reduced dimension"],
        ),
        (
            with_methods(backward=lambda s, g: (g[:, None] * torch.softmax(s.x, 0),)),
            ["a softmax down the columns"],
        ),
        (
            with_methods(
                forward=lambda s, x: (setattr(s, "x", x), torch.logsumexp(x, -1, keepdim=True))[1]
            ),
            ["forward output", "shape (3, 1) instead of (3,)"],
        ),
    ],
    ids=["overflow", "no-grad-output", "misaligned", "wrong-softmax-dim", "keepdim"],
)
def test_logsumexp_names_the_kind_of_mistake(gate, words, capsys):
    assert_fails("logsumexp_gate", gate, capsys, *words)


def test_logsumexp_names_grad_output_lined_up_with_the_columns(capsys):
    """On a square x the misaligned product runs; its values give it away."""

    def columns(self, g):
        return (g[None, :] * torch.softmax(self.x, -1),)

    class SquareOnly(ByAutograd):
        def backward(self, g):
            if self.x.shape[0] == self.x.shape[1]:
                return columns(self, g)
            return super().backward(g)

    assert_fails("logsumexp_gate", SquareOnly, capsys, "lined up with the columns")
