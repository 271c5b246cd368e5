"""Lesson 2's checks: the reverse walk (against torch.autograd) and a topological order."""

from __future__ import annotations

import pytest
import torch

from minigrad.exercises import lesson02
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- reverse_walk ----------------------------------------------------------------------------


def test_the_scalar_tapes_hold_torchs_local_derivatives():
    """The tapes the check walks are right: each step's locals are torch.autograd's."""
    x1, x2, w1, w2, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True)
                         for v in (2.0, 0.0, -3.0, 1.0, 6.88))  # fmt: skip
    o = torch.tanh(x1 * w1 + x2 * w2 + b)
    grads = torch.autograd.grad(o, (x1, x2, w1, w2, b))
    walked = solution("reverse_walk")(lesson02.neuron_tape(), "o")
    for name, g in zip(("x1", "x2", "w1", "w2", "b"), grads):
        assert walked[name] == pytest.approx(g.item(), rel=1e-12), name
    a = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    (da,) = torch.autograd.grad(a * a + a, a)
    assert solution("reverse_walk")(lesson02.reuse_tape(), "y")["a"] == da.item()


def walk_by_autograd(tape, root):
    """Every value gets a zero "nudge" leaf added to it; d root / d nudge is d root / d value.

    Each step's output is the sum of local * input, which has the step's local derivatives.
    """
    nudges, values = {}, {}

    def value(name):
        if name not in nudges:
            nudges[name] = torch.zeros((), dtype=torch.float64, requires_grad=True)
            values[name] = nudges[name]
        return values[name]

    for step in tape:
        total = sum(local * value(name) for name, local in zip(step.inputs, step.local))
        value(step.output)
        values[step.output] = total + nudges[step.output]
    names = list(nudges)
    grads = torch.autograd.grad(values[root], [nudges[n] for n in names], allow_unused=True)
    return {n: 0.0 if g is None else g.item() for n, g in zip(names, grads)}


def test_reverse_walk_passes_the_solution_and_torchs_walk(capsys):
    assert_passes("reverse_walk", solution("reverse_walk"), capsys)
    assert_passes("reverse_walk", walk_by_autograd, capsys)


def test_reverse_walk_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("reverse_walk", capsys)


def overwrites(tape, root):
    grads = {root: 1.0}
    for step in reversed(tape):
        for name, local in zip(step.inputs, step.local):
            grads[name] = grads.get(step.output, 0.0) * local
    return grads


def walks_forward(tape, root):
    grads = {root: 1.0}
    for step in tape:
        for name, local in zip(step.inputs, step.local):
            grads[name] = grads.get(name, 0.0) + grads.get(step.output, 0.0) * local
    return grads


def forgets_the_chain(tape, root):
    grads = {root: 1.0}
    for step in reversed(tape):
        for name, local in zip(step.inputs, step.local):
            grads[name] = grads.get(name, 0.0) + local
    return grads


def reverses_the_callers_tape(tape, root):
    tape.reverse()
    return walks_forward(tape, root)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (overwrites, ["dy/da is wrong: expected 7, received 3", "accumulate, do not overwrite"]),
        (walks_forward, ["do/dx1", "walking the tape forward"]),
        (forgets_the_chain, ["local derivatives alone", "grad_output"]),
        (reverses_the_callers_tape, ["changed its input tape", "order changed"]),
        (lambda tape, root: [1.0], ["expected a dict"]),
        (
            lambda tape, root: solution("reverse_walk")(tape, tape[-1].output),
            ["root 'w'", "the tape's last value, which is not the root"],
        ),
    ],
    ids=["overwrite", "forward", "no-chain", "mutates-tape", "not-a-dict", "last-step-as-root"],
)
def test_reverse_walk_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("reverse_walk", wrong, capsys, *words)


# -- topological_order --------------------------------------------------------------------


def by_kahn(graph, root):
    """Another right answer: Kahn's algorithm on the part of the graph root depends on."""
    needed = lesson02.ancestors(graph, root)
    waiting = {n: len(graph[n]) for n in needed}
    readers = {n: [] for n in needed}
    for reader in needed:
        for name in graph[reader]:
            readers[name].append(reader)
    ready = [n for n in needed if waiting[n] == 0]
    order = []
    while ready:
        name = ready.pop()
        order.append(name)
        for reader in readers[name]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                ready.append(reader)
    return order


def test_topological_order_passes_the_solution_and_kahns_algorithm(capsys):
    assert_passes("topological_order", solution("topological_order"), capsys)
    assert_passes("topological_order", by_kahn, capsys)


def test_topological_order_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("topological_order", capsys)


def recursive(graph, root):
    order = []

    def visit(name):
        if name not in order:
            for parent in graph[name]:
                visit(parent)
            order.append(name)

    visit(root)
    return order


def with_duplicates(graph, root):
    order, stack = [], [root]
    while stack:
        name = stack.pop()
        order.append(name)
        stack.extend(graph[name])
    return order[::-1]


@pytest.mark.parametrize(
    "wrong, words",
    [
        (recursive, ["chain of 20000", "RecursionError", "with a loop"]),
        (lambda g, r: solution("topological_order")(g, r)[::-1], ["reverse of a tape"]),
        (with_duplicates, ["appears twice"]),
        (lambda g, r: list(g), ["'t' is in the order, but 'w' does not depend on it"]),
        (lambda g, r: [n for n in g if g[n]], ["'b' is missing"]),
        (lambda g, r: sorted(g), ["comes before its input"]),
    ],
    ids=["recursion", "reversed", "duplicates", "extra", "no-leaves", "unordered"],
)
def test_topological_order_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("topological_order", wrong, capsys, *words)
