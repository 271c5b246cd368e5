"""Lesson 12's checks: the debugging tools, held to the real ones.

Oracles: ``mg.detect_anomaly()`` names the first non-finite node of each
broken model (the check reads it off the tape itself);
``torch.nn.utils.clip_grad_norm_`` is the other right clip_grad_norm.
"""

from __future__ import annotations

import re

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson12
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- first_nonfinite -------------------------------------------------------------------------


def first_by_anomaly_mode(layout: int) -> int:
    with pytest.raises(mg.AnomalyError) as caught, mg.detect_anomaly():
        lesson12.broken_model(layout)
    return int(re.search(r"\(node (\d+) on the tape\)", str(caught.value)).group(1))


@pytest.mark.parametrize("layout", range(lesson12.BROKEN_LAYOUTS))
def test_the_check_agrees_with_detect_anomaly(layout):
    ctx, loss = lesson12.broken_model(layout)
    nans, infs = lesson12.nonfinite_nodes(ctx)
    assert not bool(torch.isfinite(loss.value).all())
    assert min(nans + infs) == first_by_anomaly_mode(layout)


def test_the_broken_models_put_the_culprit_in_several_places():
    culprits = set()
    inf_first = 0
    for layout in range(lesson12.BROKEN_LAYOUTS):
        nans, infs = lesson12.nonfinite_nodes(lesson12.broken_model(layout)[0])
        culprits.add(min(nans + infs))
        inf_first += bool(infs) and min(infs) < min(nans, default=99)
    assert len(culprits) >= 3 and inf_first >= 2


def by_anomaly(ctx):
    """Another right answer: re-run each node's gate under detect_anomaly (forward only)."""
    for node in ctx:
        if not all(bool(torch.isfinite(v.value).all()) for v in node.payload.outputs()):
            return ctx[node.index]  # a Node counts as its index


def scan(kind="both", order="forward", shift=0):
    def first_nonfinite(ctx):
        nodes = list(ctx) if order == "forward" else list(ctx)[::-1]
        for node in nodes:
            value = node.payload.outputs()[0].value
            bad = {"both": ~torch.isfinite(value), "nan": torch.isnan(value)}[kind]
            if bool(bad.any()):
                return node.index + shift
        return None

    return first_nonfinite


@pytest.mark.parametrize(
    "wrong, words",
    [
        (scan(kind="nan"), ["broken model 1 of 4", "holds the first NaN", "made an Inf before"]),
        (scan(order="backward"), ["the last node with a non-finite output"]),
        (scan(shift=1), ["one node too late"]),
        (scan(shift=-1), ["only finite values in its output"]),
        (lambda ctx: 1, ["broken model 2 of 4", "you returned 1 on every tape"]),
        (lambda ctx: None, ["received None", "loss is not finite"]),
        (lambda ctx: 50, ["that tape has nodes 0 to 7"]),
        (lambda ctx: 4, ["node 4 (Log) is not finite, but only because an earlier"]),
    ],
    ids=[
        "nan-only",
        "last",
        "one-late",
        "one-early",
        "hard-coded",
        "none",
        "out-of-range",
        "later",
    ],
)
def test_first_nonfinite_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("first_nonfinite", wrong, capsys, *words)


def test_first_nonfinite_returning_none_on_an_inf_tape_says_to_look_for_infs(capsys):
    def nan_only_or_none(ctx):
        return scan(kind="nan")(ctx) if ctx.name.endswith("3") else by_anomaly(ctx).index

    assert_fails("first_nonfinite", nan_only_or_none, capsys, "model 4 of 4", "an Inf, not a NaN")


# -- dead_fraction --------------------------------------------------------------------------


def dead_by_counting(hidden):
    units = hidden.shape[1]
    dead = sum(1 for unit in range(units) if float(hidden[:, unit].max()) <= 0.0)
    return torch.tensor(dead / units)  # a 0-d tensor counts as a number


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda h: float((h == 0).float().mean()), ["64 examples", "fraction of activations"]),
        (lambda h: float((h == 0).any(0).float().mean()), ["for some example"]),
        (lambda h: float((h == 0).all(1).float().mean()), ["64 examples", "fraction of examples"]),
        (lambda h: int((h == 0).all(0).sum()), ["number of dead units"]),
        (lambda h: float((h > 0).any(0).float().mean()), ["units that are alive"]),
        (lambda h: float((h < 0).all(0).float().mean()), ["never below 0"]),
        (lambda h: float((h <= 1e-6).all(0).float().mean()), ["8 examples", "however weakly"]),
        (lambda h: 0.25, ["8 examples of 10 units"]),
    ],
    ids=["elements", "any", "rows", "count", "alive", "below-zero", "threshold", "hard-coded"],
)
def test_dead_fraction_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("dead_fraction", wrong, capsys, *words)


# -- clip_grad_norm -------------------------------------------------------------------------------


def clip_by_torch(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    holders = []
    for g in grads:
        holder = torch.zeros_like(g)
        holder.grad = g  # torch clips these very tensors, in place
        holders.append(holder)
    return torch.nn.utils.clip_grad_norm_(holders, max_norm)


def clip_without_eps(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = torch.cat([g.reshape(-1) for g in grads]).norm()
    for p in parameters:
        if p.grad is not None and total > max_norm:
            p.grad = p.grad * (max_norm / total)  # a new tensor in .grad is fine too
    return total.item()


def clip(by="total", always=False, returns="before"):
    def clip_grad_norm(parameters, max_norm):
        grads = [p.grad for p in parameters if p.grad is not None]
        norms = [float(g.norm()) for g in grads]
        squares = sum(n * n for n in norms)
        total = {"sum": sum(norms), "squared": squares}.get(by, squares**0.5)
        for g, n in zip(grads, norms):
            size = n if by == "each" else total
            if always or size > max_norm:
                g.mul_(max_norm / size)
        return {"before": total, "after": min(total, max_norm)}[returns]

    return clip_grad_norm


@pytest.mark.parametrize(
    "wrong, words",
    [
        (clip(by="each"), ["p0.grad", "its own norm"]),
        (clip(always=True), ["max_norm = 10.0", "scaled up"]),
        (clip(by="sum"), ["sum of the parameters' norms"]),
        (clip(by="squared"), ["squared norm"]),
        (clip(returns="after"), ["the returned total norm", "the norm after clipping"]),
        (lambda parameters, max_norm: None, ["p0.grad is wrong"]),
    ],
    ids=["each", "always", "sum", "squared", "after", "nothing"],
)
def test_clip_grad_norm_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("clip_grad_norm", wrong, capsys, *words)


def test_clip_grad_norm_that_gives_a_gradient_to_a_parameter_without_one_fails(capsys):
    def fills_in(parameters, max_norm):
        total = clip_by_torch(parameters, max_norm)
        for p in parameters:
            if p.grad is None:
                p.grad = torch.zeros_like(p.value)
        return total

    assert_fails("clip_grad_norm", fills_in, capsys, "p1 had no gradient and now has one")


# -- all three ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("first_nonfinite", by_anomaly),
        ("dead_fraction", dead_by_counting),
        ("clip_grad_norm", clip_by_torch),
        ("clip_grad_norm", clip_without_eps),
    ],
    ids=["node-object", "counting", "torch", "without-eps"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["first_nonfinite", "dead_fraction", "clip_grad_norm"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)
