"""Lesson 2's exercises: the reverse walk over a tape, and the order a tape is recorded in.

Both work on small stand-ins for minigrad's tape, so that the algorithm is all
there is to see: a *scalar tape* is a list of :class:`Step` s in the order they
ran, each with its local derivatives already worked out; a *graph* is a dict
from each value's name to the names of its inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.exercises.diagnoses import diagnose, missing_chain_factor, overwritten, walked_forward


@dataclass(frozen=True)
class Step:
    """One entry of a scalar tape: ``output`` was computed from ``inputs``.

    ``local[i]`` is the local derivative d output / d inputs[i], at the values that ran.
    """

    output: str
    inputs: tuple[str, ...]
    local: tuple[float, ...]

    def __repr__(self) -> str:
        parts = ", ".join(f"d{self.output}/d{i} = {d:.4g}" for i, d in zip(self.inputs, self.local))
        return f"{self.output} <- {', '.join(self.inputs)}   ({parts})"


def neuron_tape(x1=2.0, x2=0.0, w1=-3.0, w2=1.0, b=6.88) -> list[Step]:
    """o = tanh(x1 w1 + x2 w2 + b), recorded step by step."""
    o = math.tanh(x1 * w1 + x2 * w2 + b)
    return [
        Step("p1", ("x1", "w1"), (w1, x1)),
        Step("p2", ("x2", "w2"), (w2, x2)),
        Step("s", ("p1", "p2"), (1.0, 1.0)),
        Step("z", ("s", "b"), (1.0, 1.0)),
        Step("o", ("z",), (1 - o * o,)),
    ]


def reuse_tape(a=3.0) -> list[Step]:
    """y = a * a + a: ``a`` is used three times."""
    return [Step("m", ("a", "a"), (a, a)), Step("y", ("m", "a"), (1.0, 1.0))]


def diamond_tape(a=1.5, b=-2.0) -> list[Step]:
    """u = a b,  v = u + a,  w = u v,  then an unused step t = 2 v after the root w."""
    u = a * b
    v = u + a
    return [
        Step("u", ("a", "b"), (b, a)),
        Step("v", ("u", "a"), (1.0, 1.0)),
        Step("w", ("u", "v"), (v, u)),
        Step("t", ("v",), (2.0,)),
    ]


def walk(tape: list[Step], root: str, reverse=True, accumulate=True, chain=True) -> dict:
    """d root / d name for every name on the tape; the flags switch on the classic slips."""
    grads = {root: 1.0}
    for step in reversed(tape) if reverse else tape:
        if step.output not in grads:
            continue  # the root does not depend on this step's output
        upstream = grads[step.output] if chain else 1.0
        for name, local in zip(step.inputs, step.local):
            sent = upstream * local
            grads[name] = grads.get(name, 0.0) + sent if accumulate else sent
    return grads


def _from_the_last_step(value) -> Mistake:
    return Mistake(
        value,
        "these are the gradients of the tape's last value, which is not the root here: start "
        "from the root (d root / d root = 1), wherever it sits on the tape",
    )


def names_on(tape: list[Step]) -> list[str]:
    names = []
    for step in tape:
        for name in (*step.inputs, step.output):
            if name not in names:
                names.append(name)
    return names


@exercise(
    "reverse_walk",
    lesson=2,
    title="the reverse walk over a tape",
    hints=(
        "Keep a dict of gradients, starting with d root / d root = 1. A step can pass a "
        "gradient back only once its output's gradient is complete, that is, after every "
        "step that used that output has sent its share. Which order over the tape "
        "guarantees that?",
        "Go over the steps from the last to the first. For each step, take the gradient of "
        "its output so far (zero if nothing reached it), and for each input send "
        "gradient * local derivative. An input may be used by several steps (or twice by "
        "one): its gradient is the sum of everything sent to it.",
    ),
)
def check_reverse_walk(check: Check, backward_pass) -> str:
    """``backward_pass(tape, root)`` must return {name: d root / d name} for the names on tape."""
    tapes = [
        ("the neuron o = tanh(x1 w1 + x2 w2 + b)", neuron_tape(), "o"),
        ("y = a * a + a (a used three times)", reuse_tape(), "y"),
        ("w = u v with u = a b, v = u + a", diamond_tape(), "w"),
        ("the neuron at other values", neuron_tape(1.0, -0.5, 0.7, 2.0, -0.3), "o"),
    ]
    for what, tape, root in tapes:
        check.case = f"the tape of {what}, root {root!r}"
        names = names_on(tape)
        want = walk(tape, root)
        slips = [
            (walk(tape, root, accumulate=False), overwritten),
            (walk(tape, root, reverse=False), walked_forward),
            (walk(tape, root, chain=False), missing_chain_factor),
            (walk(tape, tape[-1].output), _from_the_last_step),
        ]
        received = check.call(backward_pass, tape, root, names=("tape", "root"))
        if not isinstance(received, dict):
            check.fail(f"expected a dict {{name: gradient}}, received {type(received).__name__}")
        got = []
        for name in names:
            value = received.get(name, 0.0)
            try:
                got.append(float(value))
            except (TypeError, ValueError):
                check.fail(f"the gradient for {name!r} should be a number, received {value!r}")
        vector = torch.tensor(got, dtype=torch.float64)
        expected = torch.tensor([want.get(n, 0.0) for n in names], dtype=torch.float64)
        wrong = ~torch.isclose(vector, expected, rtol=1e-9, atol=1e-12)
        if bool(wrong.any()):
            first = int(wrong.nonzero()[0])
            mistakes = tuple(
                kind(torch.tensor([slip.get(n, 0.0) for n in names], dtype=torch.float64))
                for slip, kind in slips
            )
            check.fail(
                f"d{root}/d{names[first]} is wrong: expected {expected[first].item():.6g}, "
                f"received {vector[first].item():.6g}",
                diagnose(expected, vector, mistakes),
            )
    return f"every gradient is right on {len(tapes)} tapes, values used several times included"


# -- the order a tape is recorded in -------------------------------------------------------


def chain_graph(length: int) -> dict[str, tuple[str, ...]]:
    """x0 -> x1 -> ... -> x{length}: a tape far longer than Python's recursion limit."""
    return {"x0": (), **{f"x{i}": (f"x{i - 1}",) for i in range(1, length + 1)}}


GRAPHS = [
    ("the neuron", {"x1": (), "w1": (), "x2": (), "w2": (), "b": (), "p1": ("x1", "w1"),
     "p2": ("x2", "w2"), "s": ("p1", "p2"), "z": ("s", "b"), "o": ("z",)}, "o"),
    ("a diamond", {"a": (), "b": (), "u": ("a", "b"), "v": ("u", "a"), "w": ("u", "v"),
     "t": ("v",)}, "w"),
    ("a value used by three later ones", {"a": (), "p": ("a",), "q": ("a", "p"),
     "r": ("a", "q", "p"), "y": ("r", "q")}, "y"),
]  # fmt: skip


def ancestors(graph: dict, root: str) -> set[str]:
    """Every name ``root`` depends on, and ``root`` itself."""
    found, stack = {root}, [root]
    while stack:
        for parent in graph[stack.pop()]:
            if parent not in found:
                found.add(parent)
                stack.append(parent)
    return found


def order_problem(graph: dict, root: str, order: list) -> tuple[str, str | None] | None:
    """What is wrong with ``order`` as a topological order of ``root``'s graph (None if right)."""
    needed = ancestors(graph, root)
    seen = set()
    for name in order:
        if name in seen:
            return (
                f"{name!r} appears twice",
                "a value used by several later nodes is still one node: remember which nodes "
                "you have visited, and list each once",
            )
        seen.add(name)
    if seen - needed:
        extra = sorted(seen - needed)[0]
        return (f"{extra!r} is in the order, but {root!r} does not depend on it", None)
    if needed - seen:
        missing = sorted(needed - seen)[0]
        return (
            f"{missing!r} is missing",
            "every value the root depends on belongs in the order, the leaves and the root too",
        )
    position = {name: i for i, name in enumerate(order)}
    if all(position[p] > position[n] for n in order for p in graph[n]):
        return (
            "every node comes *before* its inputs",
            "that is the reverse of a tape: the order backprop walks it. A tape is recorded "
            "as the ops run, so each node comes after the nodes it reads",
        )
    for name in order:
        for parent in graph[name]:
            if position[parent] > position[name]:
                return (f"{name!r} comes before its input {parent!r}", None)
    return None


@exercise(
    "topological_order",
    lesson=2,
    title="the order of a tape",
    hints=(
        "A node can run only after all its inputs have. Start from the root and look at its "
        "inputs, their inputs, and so on; a node goes into the order once everything it "
        "reads is already there. Remember which nodes you have already placed: a value read "
        "by several nodes is placed once.",
        "Depth first, without recursion: keep a stack of (node, inputs done?) pairs, starting "
        "with the root. Pop one; if its inputs are done, append the node to the order (unless "
        "it is there already); otherwise push it back marked done, then push each input that "
        "is not placed yet.",
    ),
)
def check_topological_order(check: Check, topological_order) -> str:
    """``topological_order(graph, root)``: the names root depends on, each after its inputs."""
    cases = [*GRAPHS, ("a chain of 20000 ops", chain_graph(20000), "x20000")]
    for what, graph, root in cases:
        check.case = f"{what} (root {root!r})"
        received = check.call(topological_order, graph, root, names=("graph", "root"))
        if not isinstance(received, (list, tuple)):
            check.fail(f"expected a list of names, received {type(received).__name__}")
        problem = order_problem(graph, root, list(received))
        if problem is not None:
            check.fail(*problem)
    return f"a valid order for {len(cases)} graphs, one of them 20000 ops long"
