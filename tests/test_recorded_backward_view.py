"""A backward recorded with create_graph, as the tape table, trace and TapeViewer show it.

The tape then holds two programs: the function, and after it its backward,
each node of the second marked with the node whose backward made it. A
root computed from the recorded gradient is traced through both, and the
gradients the trace reports are torch's double backward.
"""

from __future__ import annotations

import torch

import minigrad as mg
from minigrad.trace import trace
from tests.conftest import assert_close
from widgets import TapeViewer


def build():
    """f = sum(tanh(x) * w); g = df/dx (recorded); z = sum(g * g)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, generator=generator, dtype=torch.float64)
    w = torch.randn(3, generator=generator, dtype=torch.float64)
    ctx = mg.Context(keep_outputs=True)
    mx = ctx.variable(x, requires_grad=True, name="x")
    mw = ctx.variable(w, requires_grad=True, name="w")
    f = (mx.tanh() * mw).sum()
    forward_nodes = len(ctx.nodes)
    (g,) = mg.grad(f, mx, create_graph=True)
    z = (g * g).sum()
    tx, tw = x.clone().requires_grad_(), w.clone().requires_grad_()
    (tg,) = torch.autograd.grad((tx.tanh() * tw).sum(), tx, create_graph=True)
    (tg * tg).sum().backward()
    return ctx, z, forward_nodes, {"x": tx.grad, "w": tw.grad}


def test_the_tape_lists_the_recorded_backward_after_the_function():
    ctx, _, forward_nodes, _ = build()
    records = ctx.records()
    assert [r["backward_of"] for r in records[:forward_nodes]] == [None] * forward_nodes
    second = records[forward_nodes:-2]  # (the last two are z's own Mul and Sum)
    assert second and all(r["backward_of"] is not None for r in second)
    # the backward runs the first program in reverse: Mul's backward, then Tanh's (Sum's
    # sends the constant seed on: nothing to record)
    assert [r["backward_of"] for r in second] == sorted(
        (r["backward_of"] for r in second), reverse=True
    )
    assert second[0]["backward_of"] == 1 and second[-1]["backward_of"] == 0
    table = str(ctx)
    assert "backward of" in table.splitlines()[1]
    assert any(line.rstrip().endswith("#0") for line in table.splitlines())


def test_trace_steps_through_both_programs_and_its_gradients_are_torchs():
    ctx, z, forward_nodes, expected = build()
    steps = trace(z)
    forward = [s for s in steps if s["phase"] == "forward"]
    assert len(forward) == len(ctx.nodes)
    assert [s["backward_of"] is not None for s in forward[forward_nodes:-2]] == [True] * (
        len(forward) - forward_nodes - 2
    )
    # the walk went through the recorded backward and on into the function
    walked = [s["index"] for s in steps if s["phase"] == "backward"]
    assert max(walked) == len(forward) - 1 and min(walked) == 0


def test_the_gradient_through_a_recorded_backward_is_torchs():
    ctx, z, _, expected = build()
    x, w = (n.parents[i][0].variable for n, i in ((ctx.nodes[0], 0), (ctx.nodes[1], 1)))
    z.backward()
    assert_close(x.grad, expected["x"], torch.float64, "dz/dx")
    assert_close(w.grad, expected["w"], torch.float64, "dz/dw")


def test_the_tape_viewer_says_which_steps_are_the_recorded_backward():
    ctx, z, forward_nodes, _ = build()
    viewer = TapeViewer(z)
    viewer.position = forward_nodes  # the first node of the second program
    assert "recorded backward of node" in viewer.status.value
    assert "recorded by create_graph" in viewer.details.value
    viewer.position = 0
    assert "recorded backward" not in viewer.status.value
