"""Lesson 1's checks: gradients by hand, judged against torch.autograd."""

from __future__ import annotations

import pytest
import torch

from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- expression_grads ----------------------------------------------------------------------


def expression_by_autograd(a, b, c, d):
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b, c, d)]
    ta, tb, tc, td = leaves
    return tuple(g.item() for g in torch.autograd.grad((ta + tb) * (tc - td), leaves))


def test_expression_grads_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("expression_grads", solution("expression_grads"), capsys)
    assert_passes("expression_grads", expression_by_autograd, capsys)
    assert_passes("expression_grads", lambda a, b, c, d: [c - d, c - d, a + b, -a - b], capsys)


def test_expression_grads_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("expression_grads", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda a, b, c, d: (c - d, c - d, a + b, a + b), ["dL/dd", "wrong sign"]),
        (lambda a, b, c, d: (1, 1, a + b, -(a + b)), ["dL/da", "local derivative", "alone"]),
        (lambda a, b, c, d: (a + b, a + b, c - d, d - c), ["dL/da", "the *other* factor"]),
        (lambda a, b, c, d: (-1.5, -1.5, 2.0, -2.0), ["a = -2.0", "dL/da is wrong"]),
        (lambda a, b, c, d: (c - d, a + b), ["four numbers", "received 2 item(s)"]),
    ],
    ids=["sign", "no-chain-factor", "own-factor", "hard-coded", "too-few"],
)
def test_expression_grads_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("expression_grads", wrong, capsys, *words)


# -- tanh_neuron ---------------------------------------------------------------------------


def neuron_by_autograd(x, w, b):
    w = w.clone().requires_grad_(True)
    b = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    grad_w, grad_b = torch.autograd.grad(torch.tanh((w * x).sum() + b), (w, b))
    return grad_w, grad_b.item()


def test_tanh_neuron_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("tanh_neuron", solution("tanh_neuron"), capsys)
    assert_passes("tanh_neuron", neuron_by_autograd, capsys)

    def by_cosh(x, w, b):  # tanh'(z) = 1 / cosh(z)**2, another right form
        local = 1 / torch.cosh(torch.dot(w, x) + b) ** 2
        return local * x, local

    assert_passes("tanh_neuron", by_cosh, capsys)


def test_tanh_neuron_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("tanh_neuron", capsys)


def z_of(x, w, b):
    return (w * x).sum() + b


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda x, w, b: (x, 1.0), ["dO/dw", "tanh's derivative is missing"]),
        (lambda x, w, b: ((1 - z_of(x, w, b) ** 2) * x, 1.0), ["not tanh's derivative"]),
        (
            lambda x, w, b: ((1 - torch.tanh(z_of(x, w, b)) ** 2) * w, 0.0),
            ["dO/dw", "not w_i itself"],
        ),
        (
            lambda x, w, b: ((1 - torch.tanh(z_of(x, w, b)) ** 2) * x, 1.0),
            ["dO/db", "tanh's derivative is missing"],
        ),
    ],
    ids=["no-tanh", "one-minus-z-squared", "w-not-x", "bias-without-tanh"],
)
def test_tanh_neuron_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("tanh_neuron", wrong, capsys, *words)
