"""A backward that fails leaves nothing behind, and the next backward is exact.

Whatever stops the walk (a learner's gate that raises, a hook that raises, a
GradientError, detect_anomaly's AnomalyError, Ctrl-C in a hook), no ``.grad``
changes, no half-summed gradient survives to be added in by the next
backward, and the tape is left in a documented state: emptied without
``retain_graph`` (so the forward must run again), whole with it. torch is the
oracle for the gradients of the backward that follows.

The graph is built so that the failure comes halfway: ``x`` has already
received part of its gradient (through ``c = 3x``) when node ``b`` fails.
"""

from __future__ import annotations

import math

import pytest
import torch

import minigrad as mg

KINDS = ["gate raises", "hook raises", "GradientError", "AnomalyError", "KeyboardInterrupt"]
EXPECTED_ERROR = {
    "gate raises": ZeroDivisionError,
    "hook raises": ValueError,
    "GradientError": mg.GradientError,
    "AnomalyError": mg.AnomalyError,
    "KeyboardInterrupt": KeyboardInterrupt,
}


class Doubler(mg.Gate):
    """y = 2 x, with a backward that misbehaves while ``fault`` is set."""

    def __init__(self):
        self.fault = None

    def forward(self, x):
        return x * 2

    def backward(self, grad_output):
        if self.fault == "gate raises":
            raise ZeroDivisionError("the learner's backward divided by zero")
        if self.fault == "GradientError":
            return (grad_output.sum(),)  # forgot to keep the input's shape
        if self.fault == "AnomalyError":
            return (grad_output * math.nan,)
        return (grad_output * 2,)


class Armed:
    """A graph with a fault that can be switched off: ``loss = sum(2 (x w) + 3 x)``."""

    def __init__(self, kind: str, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.x0 = torch.randn(3, generator=g, dtype=torch.float64)
        self.w0 = torch.randn(3, generator=g, dtype=torch.float64)
        self.kind = kind
        self.armed = True
        self.ctx = mg.Context()
        self.x = self.ctx.variable(self.x0, requires_grad=True, name="x")
        self.w = self.ctx.variable(self.w0, requires_grad=True, name="w")
        self.forward()

    def hook(self, grad):
        if self.armed and self.kind == "hook raises":
            raise ValueError("the learner's hook failed")
        if self.armed and self.kind == "KeyboardInterrupt":
            raise KeyboardInterrupt

    def forward(self):
        self.gate = Doubler()
        self.gate.fault = self.kind if self.armed else None
        self.a = self.x * self.w
        self.b = self.gate(self.a)
        self.b.register_hook(self.hook)
        self.c = self.x * 3.0  # walked before b: x has part of its gradient when b fails
        self.loss = (self.b + self.c).sum()

    def disarm(self):
        self.armed = False
        self.gate.fault = None

    def backward(self, **kwargs):
        if self.kind == "AnomalyError":
            with mg.detect_anomaly():
                self.loss.backward(**kwargs)
        else:
            self.loss.backward(**kwargs)

    def torch_grads(self):
        x = self.x0.clone().requires_grad_()
        w = self.w0.clone().requires_grad_()
        c = x * 3.0
        (2 * (x * w) + c).sum().backward()
        return x.grad, w.grad


def nothing_was_written(graph: Armed) -> None:
    assert graph.x.grad is None and graph.w.grad is None  # no leaf got a partial sum
    assert graph.c.grad is None and graph.loss.grad is None  # nor a retained intermediate


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_backward_writes_no_gradient_and_empties_the_tape(kind):
    graph = Armed(kind)
    with pytest.raises(EXPECTED_ERROR[kind]) as caught:
        graph.backward()
    nothing_was_written(graph)
    assert graph.ctx.nodes == []  # emptied, as after a backward that finished
    if hasattr(caught.value, "__notes__"):
        assert any("no .grad was changed" in note for note in caught.value.__notes__)
    with pytest.raises(mg.TapeError, match="run the forward pass again"):
        graph.loss.backward()
    # The forward again, then a backward: exactly torch's gradients, nothing added in.
    graph.disarm()
    graph.forward()
    graph.backward()
    expected_x, expected_w = graph.torch_grads()
    assert torch.equal(graph.x.grad, expected_x)
    assert torch.equal(graph.w.grad, expected_w)


@pytest.mark.parametrize("kind", KINDS)
def test_with_retain_graph_the_tape_stays_whole_and_the_next_backward_is_exact(kind):
    graph = Armed(kind)
    nodes = list(graph.ctx.nodes)
    with pytest.raises(EXPECTED_ERROR[kind]):
        graph.backward(retain_graph=True)
    nothing_was_written(graph)
    assert graph.ctx.nodes == nodes and not any(node.released for node in nodes)
    graph.disarm()
    graph.backward()  # the same tape, walked again
    expected_x, expected_w = graph.torch_grads()
    assert torch.equal(graph.x.grad, expected_x)
    assert torch.equal(graph.w.grad, expected_w)
    assert graph.ctx.nodes == []


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_from_an_earlier_backward_survive_a_failed_one(kind):
    graph = Armed(kind)
    graph.disarm()
    graph.forward()
    graph.backward()
    before_x, before_w = graph.x.grad.clone(), graph.w.grad.clone()
    graph.armed = True
    graph.forward()
    graph.gate.fault = kind
    with pytest.raises(EXPECTED_ERROR[kind]):
        graph.backward()
    assert torch.equal(graph.x.grad, before_x) and torch.equal(graph.w.grad, before_w)


def test_a_failing_hook_on_a_leaf_leaves_every_leaf_alone():
    ctx = mg.Context()
    x = ctx.variable([1.0, 2.0], requires_grad=True)
    w = ctx.variable([3.0, 4.0], requires_grad=True)

    def refuse(grad):
        raise RuntimeError("hook on w")

    w.register_hook(refuse)
    loss = (x * w).sum()
    with pytest.raises(RuntimeError, match="hook on w"):
        loss.backward()
    assert x.grad is None and w.grad is None


def test_the_error_says_where_the_walk_stopped():
    graph = Armed("gate raises")
    with pytest.raises(ZeroDivisionError) as caught:
        graph.backward()
    if not hasattr(caught.value, "__notes__"):
        pytest.skip("exception notes need Python 3.11")
    assert any("at node 1: Doubler" in note for note in caught.value.__notes__)


def test_backward_through_a_value_from_an_emptied_tape_is_refused_and_writes_nothing():
    ctx = mg.Context()
    x = ctx.variable([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.sum().backward()  # empties the tape: h's node is released
    first = x.grad.clone()
    with pytest.raises(mg.TapeError, match=r"(?s)node 0.*earlier backward.*run the forward"):
        (h * h).sum().backward()  # the gradient cannot reach x through h any more
    assert torch.equal(x.grad, first)
