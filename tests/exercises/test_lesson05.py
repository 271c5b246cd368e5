"""Lesson 5's checks, and its mystery model judged by torch.autograd (never by minigrad)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import minigrad as mg
from minigrad import exercises
from minigrad.exercises import lesson05
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- central_difference ----------------------------------------------------------------


def test_central_difference_passes_the_solution_and_another_form(capsys):
    assert_passes("central_difference", solution("central_difference"), capsys)
    assert_passes("central_difference", lambda f, x, e: (f(x + e) / 2 - f(x - e) / 2) / e, capsys)


def test_central_difference_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("central_difference", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda f, x, e: (f(x + e) - f(x - e)) / e,
            ["exactly 2x", "divide by eps instead of 2*eps"],
        ),
        (lambda f, x, e: (f(x + e) - f(x)) / e, ["one-sided difference"]),
        (lambda f, x, e: (f(x) - f(x - e)) / e, ["one-sided difference"]),
        (lambda f, x, e: (f(x - e) - f(x + e)) / (2 * e), ["wrong sign"]),
        (
            lambda f, x, e: (f(x + 1e-3) - f(x - 1e-3)) / 2e-3,
            ["eps = 0.01", "the estimate for eps = 0.001"],
        ),
        (lambda f, x, e: None, ["should be a number", "None"]),
    ],
    ids=["eps-not-2eps", "one-sided", "backward-one-sided", "sign", "ignores-eps", "none"],
)
def test_central_difference_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("central_difference", wrong, capsys, *words)


def test_central_difference_quotes_the_exact_slope_to_eps_squared(capsys):
    out = assert_fails("central_difference", lambda f, x, e: (f(x + e) - f(x)) / e, capsys)
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    torch.sin(x).backward()  # the oracle: the central difference is within eps**2 of it
    quoted = float(out.split("expected ")[1].split(",")[0])
    assert abs(quoted - x.grad.item()) < 1e-6


# -- relative_error --------------------------------------------------------------------------


def relative_error_by_numpy(a, b):
    """Another right answer, in numpy, with the zero case masked out."""
    a, b = a.numpy(), b.numpy()
    size = np.maximum(np.abs(a), np.abs(b))
    both_zero = size == 0
    return float(np.max(np.where(both_zero, 0.0, np.abs(a - b) / np.where(both_zero, 1, size))))


def test_relative_error_passes_the_solution_and_another_form(capsys):
    assert_passes("relative_error", solution("relative_error"), capsys)
    assert_passes("relative_error", relative_error_by_numpy, capsys)


def test_relative_error_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("relative_error", capsys)


def worst(errors):
    return float(errors.max())


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda a, b: worst((a - b).abs()), ["the absolute error"]),
        (lambda a, b: worst((a - b).abs() / a.abs()), ["divided by |a| alone"]),
        (lambda a, b: worst((a - b).abs() / torch.maximum(a, b)), ["must be a magnitude"]),
        (
            lambda a, b: float(
                ((a - b).abs() / torch.maximum(a.abs(), b.abs())).nan_to_num().mean()
            ),
            ["the average over the elements"],
        ),
        (lambda a, b: worst((a - b).abs() / torch.maximum(a.abs(), b.abs())), ["nan", "0 / 0"]),
    ],
    ids=["absolute", "asymmetric", "no-abs", "mean", "zero-over-zero"],
)
def test_relative_error_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("relative_error", wrong, capsys, *words)


# -- kink_mask -------------------------------------------------------------------------------


def kink_by_autograd(x, eps):
    """Another right answer: where the central difference disagrees with torch's relu slope."""
    leaf = x.clone().requires_grad_(True)
    (analytic,) = torch.autograd.grad(torch.relu(leaf).sum(), leaf)
    numeric = (torch.relu(x + eps) - torch.relu(x - eps)) / (2 * eps)
    return (numeric - analytic).abs() > 1e-6


def test_kink_mask_passes_the_solution_and_torchs_disagreements(capsys):
    assert_passes("kink_mask", solution("kink_mask"), capsys)
    assert_passes("kink_mask", kink_by_autograd, capsys)
    assert_passes("kink_mask", lambda x, eps: (x.abs() < eps).int(), capsys)


def test_kink_mask_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("kink_mask", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda x, eps: x < eps, ["how far x is from 0, in either direction"]),
        (lambda x, eps: x.abs() < eps / 2, ["not half of it"]),
        (lambda x, eps: x == 0, ["not only x = 0"]),
        (lambda x, eps: x.abs() >= eps, ["that is the opposite"]),
        (lambda x, eps: x.abs() < 1e-3, ["eps = 0.1", "the mask is wrong"]),
    ],
    ids=["no-abs", "half-eps", "only-zero", "inverted", "hard-coded-eps"],
)
def test_kink_mask_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("kink_mask", wrong, capsys, *words)


# -- the mystery model, judged by torch.autograd ------------------------------------------


def torch_layout(x, w1, b1, w2, layout):
    """The mystery network written in torch, for autograd."""
    f = torch.nn.functional
    h = f.linear(x, w1, b1)
    if layout == 0:
        s = f.silu(f.softsign(h) @ w2.T)
    elif layout == 1:
        s = f.softsign(f.silu(h) @ w2.T)
    else:
        s = f.silu(2.0 * (f.softsign(torch.tanh(h)) @ w2.T))
    return (s * s).mean(1).mean()


def minigrad_grads(seed, swish):
    ctx, loss = exercises.mystery_model(seed)
    leaves = _leaves(ctx)
    for node in ctx:
        if isinstance(node.gate, exercises.Swish):
            node.gate.__class__ = swish
    loss.backward()
    return [leaf.grad for leaf in leaves]


def _leaves(ctx):
    seen = []
    for node in ctx:
        for value in node.inputs:
            if isinstance(value, mg.Variable) and value.node is None and value not in seen:
                seen.append(value)
    return seen


class RightSwish(exercises.Swish):
    def backward(self, grad_output):
        s = torch.sigmoid(self.x)
        return (grad_output * (s + self.x * s * (1 - s)),)


@pytest.mark.parametrize("seed", range(lesson05.LAYOUTS))
def test_swish_is_the_one_wrong_gate_by_torch(seed):
    values = [v.clone().requires_grad_(True) for v in exercises.mystery_inputs(seed)]
    torch_layout(*values, layout=seed).backward()
    oracle = [v.grad for v in values]
    with_right_swish = minigrad_grads(seed, RightSwish)
    with_planted_swish = minigrad_grads(seed, exercises.Swish)
    for ours, theirs in zip(with_right_swish, oracle):  # every other gate agrees with torch
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    assert not all(torch.allclose(o, t) for o, t in zip(with_planted_swish, oracle))


def test_swish_backward_alone_disagrees_with_torch_and_softsign_agrees():
    x = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    g = torch.randn(6, dtype=torch.float64)
    for gate, reference, right in [
        (exercises.Swish, torch.nn.functional.silu, False),
        (exercises.Softsign, torch.nn.functional.softsign, True),
    ]:
        leaf = mg.tensor(x.clone(), requires_grad=True)
        gate()(leaf).backward(g)
        xt = x.clone().requires_grad_(True)
        reference(xt).backward(g)
        assert torch.allclose(leaf.grad, xt.grad) is right, gate.__name__


# -- wrong_node ------------------------------------------------------------------------


def culprit_by_torch(ctx):
    """The first node whose backward disagrees with torch.autograd's for the same op."""
    references = {
        "Linear": torch.nn.functional.linear,
        "Softsign": torch.nn.functional.softsign,
        "Swish": torch.nn.functional.silu,
        "Tanh": torch.tanh,
        "MatMul": torch.matmul,
    }
    for node in ctx:
        if node.op not in references:
            continue
        inputs = [v.value.clone().requires_grad_(True) for v in node.inputs]
        out = references[node.op](*inputs)
        g = torch.randn_like(out)
        expected = torch.autograd.grad(out, inputs, g)
        received = copy.copy(node.gate).backward(g)
        if not all(torch.allclose(e, r) for e, r in zip(expected, received)):
            return node.index
    return None


def test_wrong_node_passes_the_solution_and_a_torch_based_answer(capsys):
    assert_passes("wrong_node", solution("wrong_node"), capsys)
    assert_passes("wrong_node", culprit_by_torch, capsys)
    assert_passes("wrong_node", lambda ctx: np.int64(culprit_by_torch(ctx)), capsys)
    assert_passes("wrong_node", lambda ctx: ctx[culprit_by_torch(ctx)], capsys)


def test_wrong_node_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("wrong_node", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda ctx: 4, ["tape 2 of 3", "you returned 4 on every tape"]),
        (lambda ctx: culprit_by_torch(ctx) + 1, ["one away from the culprit", "counted from 0"]),
        (lambda ctx: 0, ["node 0 (Linear) passes its own gradient check"]),
        (lambda ctx: 99, ["that tape has nodes 0 to 7"]),
        (lambda ctx: None, ["expected a node index", "None"]),
        (lambda ctx: "4", ["expected a node index (an int)", "'4'"]),
    ],
    ids=["hard-coded", "off-by-one", "passing-node", "out-of-range", "none", "string"],
)
def test_wrong_node_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("wrong_node", wrong, capsys, *words)


def test_gradcheck_node_leaves_the_tape_alone():
    ctx, loss = exercises.mystery_model(0)
    before = len(ctx)
    assert mg.gradcheck_node(ctx[0])
    assert len(ctx) == before
    loss.backward()  # the tape is still whole: backprop still runs
    assert len(ctx) == 0
