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
