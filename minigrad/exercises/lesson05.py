"""Lesson 5's exercises, and its demo model: a small network with one planted wrong gate.

The demo model lives here, not in the library, because its Swish gate is
wrong on purpose: it is lesson material, and nothing outside lesson 5 should
be able to pick it up by accident.
"""

from __future__ import annotations

import math

import torch

from minigrad import ops
from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.exercises.diagnoses import one_sided
from minigrad.gate import Gate
from minigrad.tape import Context, Node
from minigrad.variable import Variable

# -- the central difference ------------------------------------------------------------


@exercise(
    "central_difference",
    lesson=5,
    title="the central difference",
    hints=(
        "A difference quotient is (change in f) / (change in x). The one-sided quotient "
        "steps only to the right of x; the central one steps eps to each side, so the change "
        "in x between its two points is not eps.",
        "Taylor: f(x + h) = f(x) + h f'(x) + h^2/2 f''(x) + ..., and f(x - h) is the same with "
        "h -> -h. Subtract the two: the f(x) and h^2 terms cancel and 2 h f'(x) is left. "
        "Solve that for f'(x).",
    ),
)
def check_central_difference(check: Check, central_difference) -> str:
    """``central_difference(f, x, eps)`` must return the central difference quotient, a number."""

    def cubic(x):
        return x**3 - 2 * x

    cases = [(math.sin, 0.7, 1e-3), (math.exp, -1.2, 1e-2), (cubic, 1.5, 0.1), (math.cos, 2, 1e-4)]
    for f, x, eps in cases:
        want = (f(x + eps) - f(x - eps)) / (2 * eps)
        mistakes = (
            one_sided((f(x + eps) - f(x)) / eps),
            one_sided((f(x) - f(x - eps)) / eps),
            Mistake(
                (f(x + 1e-3) - f(x - 1e-3)) / 2e-3,
                f"that is the estimate for eps = 0.001, not for the eps you were given ({eps}): "
                "use the function's eps argument",
            ),
        )
        check.case = f"f = {f.__name__}, x = {x}, eps = {eps}"
        received = check.call(central_difference, f, x, eps, names=("f", "x", "eps"))
        check.expect(
            "the estimate",
            want,
            received,
            rtol=1e-9,
            atol=1e-12,
            mistakes=mistakes if eps != 1e-3 else mistakes[:2],
            factors={2: "did you divide by eps instead of 2*eps?"},
        )
    return f"right on {len(cases)} functions, at steps eps from 1e-4 to 0.1"


# -- the demo model: which gate is wrong? ---------------------------------------------


class Softsign(Gate):
    """y = x / (1 + |x|).   dy/dx = 1 / (1 + |x|)**2."""

    def forward(self, x):
        self.x = x
        return x / (1 + x.abs())

    def backward(self, grad_output):
        return (grad_output / (1 + self.x.abs()) ** 2,)


class Swish(Gate):
    """y = x * sigmoid(x)."""

    def forward(self, x):
        self.x = x
        return x * torch.sigmoid(x)

    def backward(self, grad_output):
        s = torch.sigmoid(self.x)
        # The planted bug of lesson 5: the right derivative has one more factor.
        return (grad_output * (s + self.x * s),)


# Each layout records the same few gates in another order, so the wrong one moves.
LAYOUTS = 3


def mystery_inputs(seed: int = 0) -> list[torch.Tensor]:
    """Float64 values for x (4, 3), w1 (5, 3), b1 (5,) and w2 (2, 5) of :func:`mystery_forward`."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (5, 3), (5,), (2, 5)]
    return [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]


def mystery_forward(x, w1, b1, w2, layout: int = 0):
    """Per-example losses of a small network, shape (4,). One of its gates is wrong (lesson 5).

    layout 0:  h = x w1^T + b1,  z = softsign(h) w2^T,        s = swish(z)
    layout 1:  h = x w1^T + b1,  z = swish(h) w2^T,           s = softsign(z)
    layout 2:  h = x w1^T + b1,  z = softsign(tanh(h)) w2^T,  s = swish(2 z)

    and then loss_i = mean_j s_ij^2.
    """
    h = ops.linear(x, w1, b1)
    if layout == 0:
        s = Swish()(ops.matmul(Softsign()(h), w2.T))
    elif layout == 1:
        s = Softsign()(ops.matmul(Swish()(h), w2.T))
    else:
        s = Swish()(ops.mul(ops.matmul(Softsign()(ops.tanh(h)), w2.T), 2.0))
    return ops.mean(ops.mul(s, s), dim=1)


def mystery_model(seed: int = 0) -> tuple[Context, Variable]:
    """The mystery network recorded on a fresh tape: ``(ctx, loss)``.

    ``seed`` picks the input values and the layout (``seed % 3``). The
    Context keeps every output, so each node can be checked alone with
    ``mg.gradcheck_node``.
    """
    ctx = Context(keep_outputs=True, name="mystery")
    names = ["x", "w1", "b1", "w2"]
    leaves = [
        ctx.variable(v, requires_grad=True, name=n) for v, n in zip(mystery_inputs(seed), names)
    ]
    return ctx, ops.mean(mystery_forward(*leaves, layout=seed % LAYOUTS))


def planted_node(ctx: Context) -> int:
    """The index of the node whose gate is the planted wrong one (known by construction)."""
    return next(node.index for node in ctx if isinstance(node.gate, Swish))


@exercise(
    "wrong_node",
    lesson=5,
    title="find the wrong node on a tape",
    hints=(
        "Checking the whole model says *whether* a gradient is wrong, not *where*. A tape is "
        "a list you can loop over, and every node on it can be checked alone, on the inputs "
        "it saw: mg.gradcheck_node(node) returns a report that is falsy when that node's "
        "backward disagrees with finite differences.",
        "Loop over the nodes in tape order, check each one alone, and stop at the first "
        "report that is falsy; the answer is that node's position on the tape (node.index).",
    ),
)
def check_wrong_node(check: Check, find_wrong_node) -> str:
    """``find_wrong_node(ctx)`` must return the index of the node whose gate fails its check.

    It runs on three mystery tapes, where the wrong node sits at different places.
    """
    answers = []
    for seed in range(LAYOUTS):
        ctx, _ = mystery_model(seed)
        culprit = planted_node(ctx)
        ops_on_tape = [node.op for node in ctx]
        received = check.call(find_wrong_node, ctx, names=("ctx",))
        if isinstance(received, Node):
            received = received.index
        if received is None:
            check.fail("expected a node index (an int), received None")
        answer = check.expect_index(received, "a node index")
        answers.append(answer)
        if answer == culprit:
            continue
        detail = f"on tape {seed + 1} of {LAYOUTS} the answer {answer} is wrong"
        if not 0 <= answer < len(ops_on_tape):
            check.fail(f"{detail}: that tape has nodes 0 to {len(ops_on_tape) - 1}")
        if len(set(answers)) == 1 and seed > 0:
            diagnosis = (
                f"you returned {answer} on every tape, but the wrong node is somewhere else on "
                "this one: find it from the tape each time"
            )
        elif abs(answer - culprit) == 1:
            diagnosis = (
                "one away from the culprit: a node's position on the tape is node.index, "
                "counted from 0"
            )
        else:
            diagnosis = f"node {answer} ({ops_on_tape[answer]}) passes its own gradient check"
        check.fail(detail, diagnosis)
    return f"found the wrong node on {LAYOUTS} tapes, wherever it sat"
