"""What the tape saves, in bytes: per node (records and print(ctx)) and per tape, each storage once.

The expected figures are written from the shapes and dtypes alone (numel *
element size, torch's own storage size for views), never read back from
minigrad.
"""

from __future__ import annotations

import weakref

import pytest
import torch

import minigrad as mg
from minigrad.memory import format_bytes, tensor_bytes

SIZE = {torch.float16: 2, torch.bfloat16: 2, torch.float32: 4, torch.float64: 8}


@pytest.mark.parametrize("dtype", list(SIZE))
def test_each_node_reports_the_bytes_its_gate_saved(dtype):
    ctx = mg.Context()
    x = ctx.variable(torch.randn(6, 5, dtype=dtype), name="x")
    w = ctx.variable(torch.randn(4, 5, dtype=dtype), requires_grad=True, name="w")
    h = mg.linear(x, w)  # saves x (for dL/dw), not w: nobody asked for dL/dx
    y = mg.tanh(h)  # saves its output
    z = y * y  # saves both factors: the same tensor, once
    records = ctx.records()
    assert [r["op"] for r in records] == ["Linear", "Tanh", "Mul"]
    assert [r["saved_bytes"] for r in records] == [30 * SIZE[dtype], 24 * SIZE[dtype],
                                                   24 * SIZE[dtype]]  # fmt: skip
    assert z.shape == (6, 4)


def test_a_tape_counts_a_tensor_several_nodes_saved_once():
    ctx = mg.Context()
    x = ctx.variable(torch.randn(8, 3, dtype=torch.float64))
    weights = [ctx.variable(torch.randn(3, 3, dtype=torch.float64), requires_grad=True)
               for _ in range(4)]  # fmt: skip
    h = x
    for w in weights:
        h = mg.tanh(mg.linear(h, w))
    per_node = sum(r["saved_bytes"] for r in ctx.records())
    activation, weight = 8 * 3 * 8, 3 * 3 * 8
    # x and four tanh outputs, each once; the weights the Linears after the first saved
    assert mg.saved_bytes(ctx) == 5 * activation + 3 * weight
    assert mg.saved_bytes(ctx, besides=weights) == 5 * activation
    assert per_node == 5 * activation + 3 * (activation + weight)  # Tanh's and Linear's copies
    h.sum().backward()
    assert mg.saved_bytes(ctx) == 0


def test_a_view_costs_its_whole_storage_and_shares_its_key():
    base = torch.randn(10, 10)
    assert tensor_bytes(base[:2]) == tensor_bytes(base.T) == 400
    ctx = mg.Context()
    row = ctx.variable(base[:2].clone(), requires_grad=True)
    big = ctx.variable(base)
    _ = row * big[:2]  # Mul saves the view, for dL/drow: all of big stays alive
    assert ctx.records()[0]["saved_bytes"] == 400


def test_print_ctx_shows_a_bytes_column_and_the_total():
    ctx = mg.Context(name="bytes")
    a = ctx.variable(torch.ones(256), requires_grad=True, name="a")
    b = ctx.variable(torch.ones(256), requires_grad=True, name="b")
    _ = (a * b).tanh()
    table = str(ctx)
    lines = table.splitlines()
    assert lines[1].split() == ["#", "op", "inputs", "output", "bytes", "saved"]
    assert "2.0 KiB  a (256,), b (256,)" in lines[2]  # two float32 vectors of 256
    assert "1.0 KiB  out (256,)" in lines[3]
    assert lines[-1].strip() == "saved in all: 3.0 KiB (a tensor several nodes saved counts once)"


@pytest.mark.parametrize(
    "count, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * 2**20, "3.0 MiB")]
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_the_tape_viewer_and_draw_tape_show_the_bytes():
    widgets = pytest.importorskip("widgets")
    ctx = mg.Context(keep_outputs=True)
    a = ctx.variable(torch.ones(256), requires_grad=True, name="a")
    loss = (a * a).sum()
    viewer = widgets.TapeViewer(loss)
    assert "<th>bytes</th>" in viewer.table.value and "<td>1.0 KiB</td>" in viewer.table.value
    # a * a: both factors are the same tensor, one storage (named as the learner named it)
    assert "saved: a (256,), a (256,) (1.0 KiB)" in widgets.draw_tape(loss, show_saved=True).source


class _Spy(mg.Gate):
    """y = 2x; its backward notes (weakly) the gradients that have passed the walk so far."""

    def __init__(self, passed: list):
        self.passed = passed

    def forward(self, x):
        return x * 2.0

    def backward(self, grad_output):
        alive = [name for name, ref in self.passed if ref() is not None]
        self.passed.append((f"arriving at node {len(self.passed)}", weakref.ref(grad_output)))
        grad = grad_output * 2.0
        self.passed.append((f"sent by node {len(self.passed) - 1}", weakref.ref(grad)))
        self.alive_when_called = alive
        return (grad,)


@pytest.mark.parametrize("walk", ["backward", "mg.grad"])
def test_a_gradient_is_freed_once_the_walk_has_passed_it(walk):
    """When a gate's backward runs, only the gradient arriving at it is alive: the ones
    that arrived at nodes walked before are gone (nothing holds a finished step's
    gradients), so backward's peak memory is that of the live gradients alone."""
    passed: list = []
    x = mg.tensor(torch.randn(1000, dtype=torch.float64), requires_grad=True)
    gates = [_Spy(passed) for _ in range(4)]
    h = x
    for gate in gates:
        h = gate(h)
    loss = h.sum()
    del h  # (a live output keeps its gradient, by design: only the walk's own hold counts)
    if walk == "backward":
        loss.backward()
    else:
        mg.grad(loss, [x])
    for gate in reversed(gates[:-1]):  # the last gate (walked first) saw nothing before it
        # what arrived at the node walked before it is gone; what that node sent is
        # the gradient arriving here, held by the walk until this gate has used it
        assert len(gate.alive_when_called) <= 1, gate.alive_when_called
