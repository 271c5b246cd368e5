"""Lesson 19's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

The bytes are checked against what a real tape of the chain holds and against torch's own
tensor sizes; the checkpointed chain against torch.autograd on the same layers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson19
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- tape_bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch, widths, dtype", lesson19.BYTES_CASES)
def test_the_closed_form_is_what_a_real_tape_of_the_chain_holds(batch, widths, dtype):
    expected = sum(torch.empty(batch, d, dtype=dtype).nbytes for d in widths)
    assert lesson19.measured_chain_bytes(batch, widths, dtype) == expected


def from_torch_sizes(batch, widths, dtype):
    """Another right answer: torch's own byte count of each activation the tape keeps."""
    return sum(torch.zeros(batch, d, dtype=dtype).nbytes for d in widths)


def test_tape_bytes_passes_the_solution_and_another_right_answer(capsys):
    assert_passes("tape_bytes", solution("tape_bytes"), capsys)
    assert_passes("tape_bytes", from_torch_sizes, capsys)
    assert_passes("tape_bytes", lambda b, w, d: np.int64(from_torch_sizes(b, w, d)), capsys)


def test_tape_bytes_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("tape_bytes", capsys)


def size(dtype):
    return torch.empty((), dtype=dtype).element_size()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda b, w, d: size(d) * b * (sum(w) + sum(w[1:-1])), ["counted twice"]),
        (lambda b, w, d: size(d) * b * sum(w[1:]), ["the input x is missing"]),
        (lambda b, w, d: size(d) * b * sum(w[:-1]), ["the last output is missing"]),
        (lambda b, w, d: b * sum(w), ["number of elements, not of bytes"]),
        (
            lambda b, w, d: size(d) * (b * sum(w) + sum(o * i + o for i, o in zip(w, w[1:]))),
            ["includes the parameters"],
        ),
        (lambda b, w, d: 4 * b * sum(w), ["torch.float64", "depends on the dtype"]),
        (lambda b, w, d: 25856, ["batch 5, widths [3, 7, 7, 7, 2]"]),  # the first case's answer
    ],
    ids=["shared-twice", "no-input", "no-output", "elements", "parameters", "float32", "fixed"],
)
def test_tape_bytes_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("tape_bytes", wrong, capsys, *words)


# -- checkpoint_chain -------------------------------------------------------------------------


def split_by_numpy(segment, x, params, segments):
    """Another right answer: numpy's array_split cuts the layer indices as evenly."""
    h = x
    for run in np.array_split(np.arange(len(params) // 2), segments):
        h = mg.recompute(segment, h, *params[2 * run[0] : 2 * (run[-1] + 1)])
    return h


def test_checkpoint_chain_passes_the_solution_and_another_right_answer(capsys):
    assert_passes("checkpoint_chain", solution("checkpoint_chain"), capsys)
    assert_passes("checkpoint_chain", split_by_numpy, capsys)


def test_the_checkpointed_solution_gives_torchs_gradients():
    ctx = mg.Context()
    params = lesson19.chain_params(ctx, (6,) * 8, torch.float64, seed=3)
    x = torch.randn(4, 6, dtype=torch.float64)
    out = solution("checkpoint_chain")(lesson19.tanh_layers, ctx.variable(x), params, 3)
    lesson19.chain_loss(out).backward()
    leaves = [p.value.clone().requires_grad_(True) for p in params]
    h = x
    for w, b in zip(leaves[0::2], leaves[1::2]):
        h = torch.tanh(h @ w.T + b)
    expected = torch.autograd.grad((h * h).mean(), leaves)
    for p, grad in zip(params, expected):
        torch.testing.assert_close(p.grad, grad, atol=1e-12, rtol=1e-10)


def test_checkpoint_chain_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("checkpoint_chain", capsys)


def not_checkpointed(segment, x, params, segments):
    return segment(x, *params)


def closure(segment, x, params, segments):
    def run(h):
        return segment(h, *params)

    return mg.recompute(run, x)


def remainder_apart(segment, x, params, segments):
    layers, h = len(params) // 2, x
    size = layers // segments
    for start in range(0, layers, size):
        h = mg.recompute(segment, h, *params[2 * start : 2 * (start + size)])
    return h


def lopsided(segment, x, params, segments):
    h = x
    for i in range(segments - 1):
        h = mg.recompute(segment, h, *params[2 * i : 2 * i + 2])
    return mg.recompute(segment, h, *params[2 * (segments - 1) :])


def one_layer_lost(segment, x, params, segments):
    return solution("checkpoint_chain")(segment, x, params[:-2], segments)


def last_layer_outside(segment, x, params, segments):
    h = solution("checkpoint_chain")(segment, x, params[:-2], segments)
    return segment(h, *params[-2:])


def backward_inside(segment, x, params, segments):
    out = solution("checkpoint_chain")(segment, x, params, segments)
    lesson19.chain_loss(out).backward()
    return out


@pytest.mark.parametrize(
    "wrong, words",
    [
        (not_checkpointed, ["no Recompute node", "send each run of layers through mg.recompute"]),
        (closure, ["raised ContextError", "pass it as an input"]),
        (remainder_apart, ["7 layers in 3 segments", "4 Recompute nodes for 3", "remainder"]),
        (lopsided, ["segments hold [1, 5] layers", "as equal as possible"]),
        (one_layer_lost, ["5 in all, not 6", "each layer must run exactly once"]),
        (last_layer_outside, ["the tape holds ['Linear', 'Tanh']", "ran outside mg.recompute"]),
        (backward_inside, ["without calling backward yourself"]),
    ],
    ids=["plain", "closure", "remainder", "lopsided", "lost-layer", "outside", "backward"],
)
def test_checkpoint_chain_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("checkpoint_chain", wrong, capsys, *words)
