"""Lesson 13's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

torch.autograd is the oracle for the closed-form gradient the checks compute.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson13
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution


def test_the_closed_form_gradient_is_torchs():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=g, dtype=torch.float64, requires_grad=True)
    x = torch.randn(7, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (7,), generator=g)
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(x @ w.T + b, y), (w, b))
    got = lesson13.softmax_regression_grads(w.detach(), b.detach(), x, y)
    for mine, theirs in zip(got, expected):
        torch.testing.assert_close(mine, theirs, atol=1e-14, rtol=1e-12)


# -- average_shards ------------------------------------------------------------------------


def averaged_as_one_flat_tensor(replicas):
    """Another right answer: stack each replica's gradients as one row, take the rows' mean."""
    rows = torch.stack([torch.cat([p.grad.reshape(-1) for p in r.parameters()]) for r in replicas])
    mean = rows.mean(0)
    for replica in replicas:
        offset = 0
        for p in replica.parameters():
            p.grad = mean[offset : offset + p.grad.numel()].reshape(p.grad.shape).clone()
            offset += p.grad.numel()


def test_average_shards_passes_the_solution_and_another_right_answer(capsys):
    assert_passes("average_shards", solution("average_shards"), capsys)
    assert_passes("average_shards", averaged_as_one_flat_tensor, capsys)


def test_average_shards_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("average_shards", capsys)


def summed(replicas):
    for params in zip(*(r.parameters() for r in replicas)):
        total = sum(p.grad for p in params)
        for p in params:
            p.grad = total.clone()


def only_the_first(replicas):
    for params in zip(*(r.parameters() for r in replicas)):
        params[0].grad = sum(p.grad for p in params) / len(params)


def copied_from_the_first(replicas):
    for params in zip(*(r.parameters() for r in replicas)):
        for p in params[1:]:
            p.grad = params[0].grad.clone()


def divided_by_the_samples(replicas):
    for params in zip(*(r.parameters() for r in replicas)):
        mean = sum(p.grad for p in params) / 12
        for p in params:
            p.grad = mean.clone()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (summed, ["replica 0's weight.grad", "the sum of the 2 shards' gradients"]),
        (only_the_first, ["replica 1's weight.grad", "still this replica's own shard"]),
        (copied_from_the_first, ["replica 0's weight.grad", "still this replica's own shard"]),
        (divided_by_the_samples, ["exactly 1/6"]),
    ],
    ids=["sum", "first-only", "copied", "per-sample"],
)
def test_average_shards_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("average_shards", wrong, capsys, *words)


# -- accumulate ------------------------------------------------------------------------------


def accumulated_from_summed_losses(model, optimizer, x, y, micro):
    """Another right answer: each micro-batch's summed loss over the whole batch's size."""
    optimizer.zero_grad()
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        (mg.cross_entropy(model(xs), ys, reduction="sum") / len(x)).backward()
    optimizer.step()


def test_accumulate_passes_the_solution_and_another_right_answer(capsys):
    assert_passes("accumulate", solution("accumulate"), capsys)
    assert_passes("accumulate", accumulated_from_summed_losses, capsys)


def test_accumulate_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("accumulate", capsys)


def undivided(model, optimizer, x, y, micro):
    optimizer.zero_grad()
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        mg.cross_entropy(model(xs), ys).backward()
    optimizer.step()


def zeroed_inside(model, optimizer, x, y, micro):
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        optimizer.zero_grad()
        (mg.cross_entropy(model(xs), ys) / micro).backward()
    optimizer.step()


def step_each(model, optimizer, x, y, micro):
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        optimizer.zero_grad()
        (mg.cross_entropy(model(xs), ys) / micro).backward()
        optimizer.step()


def never_zeroed(model, optimizer, x, y, micro):
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        (mg.cross_entropy(model(xs), ys) / micro).backward()
    optimizer.step()


def no_step(model, optimizer, x, y, micro):
    optimizer.zero_grad()
    for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
        (mg.cross_entropy(model(xs), ys) / micro).backward()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (undivided, ["the weight after the step", "a step 2x too large"]),
        (zeroed_inside, ["the step of the last micro-batch alone"]),
        (step_each, ["2 steps, one per micro-batch"]),
        (never_zeroed, ["a gradient left over from before"]),
        (no_step, ["the optimiser never stepped"]),
    ],
    ids=["undivided", "zeroed-inside", "step-each", "never-zeroed", "no-step"],
)
def test_accumulate_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("accumulate", wrong, capsys, *words)
