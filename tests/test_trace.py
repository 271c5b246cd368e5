"""trace is backprop's own walk, summarised: the same hooks, zeros and checks, no second loop.

Every number is compared with what ``backward`` writes (and that with torch,
in test_widgets_tape.py); the tests here are the ones a second copy of the
walk got wrong: hooks it did not run, shapes it did not check, zeros it made
on the wrong device.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.trace import trace
from tests.conftest import DEVICES


def backward_steps(steps):
    return [s for s in steps if s["phase"] == "backward"]


def sent_to(steps, label):
    """The summaries of every gradient sent to the input called ``label``, in walk order."""
    return [g for s in backward_steps(steps) for g in s["grad_inputs"] if g["label"] == label]


def test_trace_runs_the_hooks_backprop_runs():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable([1.0, 2.0], requires_grad=True, name="x")
    h = x * 3.0
    h.register_hook(lambda grad: grad * 10)  # replaces the gradient flowing back through h
    loss = h.sum()
    steps = trace(loss)
    loss.backward()
    (to_x,) = sent_to(steps, "x")
    assert x.grad.tolist() == [30.0, 30.0]
    assert to_x["grad"]["mean"] == 30.0  # a trace without the hook would show 3


def test_trace_refuses_a_gradient_of_the_wrong_shape_as_backprop_does():
    class ForgetsToExpand(mg.Gate):
        def forward(self, a):
            return a.sum()

        def backward(self, grad_output):
            return (grad_output,)

    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable([1.0, 2.0], requires_grad=True, name="x")
    y = ForgetsToExpand()(x)
    with pytest.raises(mg.GradientError, match=r"shape \(\) for input 0, whose shape is \(2,\)"):
        trace(y)
    with pytest.raises(mg.GradientError, match=r"shape \(\) for input 0, whose shape is \(2,\)"):
        y.backward()


@pytest.mark.parametrize("device", DEVICES)
def test_an_unused_output_sends_zeros_on_its_own_device(device):
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.arange(4.0, device=device), requires_grad=True, name="x")
    first, _unused = mg.split(x, 2)
    loss = (first * first).sum()
    steps = trace(loss)  # Split's backward gets zeros for the unused half
    (split_step,) = [s for s in backward_steps(steps) if s["op"] == "Split"]
    assert split_step["grad_output"][1] is None  # nothing arrived there
    (to_x,) = sent_to(steps, "x")
    loss.backward()
    assert x.grad.device.type == torch.device(device).type
    assert x.grad.tolist() == [0.0, 2.0, 0.0, 0.0]
    assert to_x["grad"]["norm"] == pytest.approx(float(x.grad.norm()))


def test_trace_shows_what_backprop_writes():
    """Each arriving gradient is the .grad backprop gives that output; a leaf's total, its grad."""
    g = torch.Generator().manual_seed(0)
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.randn(3, 4, generator=g, dtype=torch.float64), name="x")
    w0 = torch.randn(4, 4, generator=g, dtype=torch.float64)
    w = ctx.variable(w0, requires_grad=True, name="w")
    h = (x @ w).tanh()
    a, b = mg.chunk(h, 2, dim=1)
    loss = (a * b + a).sum() + (h * w.sum()).mean()  # h and w used several times
    steps = trace(loss)
    intermediates = {node.index: node.payload.outputs() for node in ctx.nodes}
    loss.backward()
    for step in backward_steps(steps):
        for slot, arriving in enumerate(step["grad_output"]):
            written = intermediates[step["index"]][slot].grad
            if arriving is None:
                assert written is None
            else:
                assert arriving["norm"] == pytest.approx(float(written.norm()), rel=1e-12)
    last_to_w = sent_to(steps, "w")[-1]
    assert last_to_w["accumulated"] is True
    assert last_to_w["total"]["norm"] == pytest.approx(float(w.grad.norm()), rel=1e-12)


def test_the_total_shown_for_an_input_includes_this_nodes_share():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable([3.0], requires_grad=True, name="x")
    steps = trace(x * x)  # both inputs of the Mul are x
    first, second = sent_to(steps, "x")
    assert (first["accumulated"], second["accumulated"]) == (False, True)
    assert first["grad"]["mean"] == second["grad"]["mean"] == 3.0
    assert second["total"]["mean"] == 6.0  # 2x: both shares, once the node has sent them
    assert x.grad is None  # trace wrote nothing
