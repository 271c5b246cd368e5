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
from minigrad.exercises.diagnoses import as_float64, one_sided
from minigrad.gate import Gate
from minigrad.tape import Context
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


# -- the relative error ---------------------------------------------------------------------


def relative_errors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a - b| / max(|a|, |b|) element by element, 0 where both are 0."""
    size = torch.maximum(a.abs(), b.abs())
    return torch.where(size > 0, (a - b).abs() / torch.where(size > 0, size, 1.0), 0.0)


@exercise(
    "relative_error",
    lesson=5,
    title="the relative error of two gradients",
    hints=(
        "An absolute difference of 1e-6 is tiny next to a gradient of 1e3 and huge next to "
        "one of 1e-9: divide each difference by the size of the numbers it compares. Use "
        "the larger of the two magnitudes, so that swapping a and b changes nothing, and say "
        "what happens where both are exactly 0.",
        "Element by element: |a - b| / max(|a|, |b|), defined as 0 where a = b = 0 (nothing "
        "to compare). The report is the worst element: the maximum over all of them.",
    ),
)
def check_relative_error(check: Check, relative_error) -> str:
    """``relative_error(a, b)``: the largest |a - b| / max(|a|, |b|) over the elements, a number."""
    cases = [
        ([2.0, 4.0], [2.2, 4.0]),
        ([1e8, -3e8], [1.1e8, -3e8]),
        ([1e-10, 5e-11], [1e-10, 4e-11]),
        ([-3.0, -1.0], [-2.0, -1.0]),
        ([0.0, 1.0, 0.0], [0.0, 1.5, 0.0]),
        ([1.0, 0.25], [-1.0, 0.25]),
        ([[0.5, 2.0], [4.0, -8.0]], [[0.5, 2.0], [4.0, -7.0]]),
    ]
    for a, b in cases:
        a, b = (torch.tensor(v, dtype=torch.float64) for v in (a, b))
        check.case = f"a = {a.tolist()}, b = {b.tolist()}"
        errors = relative_errors(a, b)
        scale = a.abs().clamp_min(1e-300)
        mistakes = (
            Mistake((a - b).abs().max(), "that is the absolute error: divide each difference "
                    "by the size of the numbers it compares"),
            Mistake(((a - b).abs() / scale).max(), "divided by |a| alone: the result changes "
                    "when a and b swap places; use the larger of the two magnitudes"),
            Mistake(errors.mean(), "that is the average over the elements: a gradient check "
                    "reports the worst element, where one wrong entry cannot hide"),
            Mistake(torch.where(a * b != 0, (a - b).abs() / torch.maximum(a, b), 0.0).max(),
                    "the denominator must be a magnitude: with negative numbers the larger of "
                    "a and b is not the larger in size"),
        )  # fmt: skip
        received = check.call(relative_error, a, b, names=("a", "b"))
        as_number = as_float64(received)
        if as_number is not None and bool(torch.isnan(as_number).any()):
            check.fail(
                f"the result is nan (expected {errors.max().item():.6g})",
                "0 / 0 where a and b are both zero: nothing differs there, so count it as 0",
            )
        check.expect("the relative error", errors.max(), received, rtol=1e-9, atol=1e-300,
                     mistakes=mistakes)  # fmt: skip
    return f"right on {len(cases)} pairs: tiny, huge, negative, zero and opposite values"


# -- what a gradient check reports at a kink --------------------------------------------------


@exercise(
    "kink_mask",
    lesson=5,
    title="where a gradient check meets a kink",
    hints=(
        "The central difference looks at f(x - eps) and f(x + eps). ReLU has a kink at 0: "
        "the estimate is wrong exactly where the two probes land on different sides of it. "
        "For which x does that happen?",
        "One probe on each side of 0 means x - eps < 0 < x + eps, that is, x closer to 0 "
        "than eps. Return that as a boolean tensor shaped like x.",
    ),
)
def check_kink_mask(check: Check, kink_mask) -> str:
    """``kink_mask(x, eps)``: True where the central difference of relu at x straddles 0."""
    for eps in (0.1, 1e-3, 1e-6):
        factors = [0.0, 0.5, -0.5, 0.2, -0.8, 2.0, -2.0, 10.0, -10.0, 1.5, -1.5, 0.05]
        x = torch.tensor(factors, dtype=torch.float64) * eps
        check.case = f"eps = {eps}, x = {[round(f, 2) for f in factors]} * eps"
        want = (x.abs() < eps).double()
        mistakes = (
            Mistake((x < eps).double(), "a negative x far from 0 is not near the kink: what "
                    "matters is how far x is from 0, in either direction"),
            Mistake((x.abs() < eps / 2).double(), "the probes sit a whole eps to each side of "
                    "x, not half of it"),
            Mistake((x == 0).double(), "not only x = 0: whenever one probe lands on each "
                    "side of the kink, the estimate mixes the two slopes"),
            Mistake((x.abs() >= eps).double(), "that is the opposite: the places where the "
                    "check can be trusted"),
        )  # fmt: skip
        received = check.call(kink_mask, x, eps, names=("x", "eps"))
        if isinstance(received, torch.Tensor):
            received = received.double()
        check.expect("the mask", want, received, mistakes=mistakes)
    return "right at three step sizes, on both sides of the kink"


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
        check.case = f"tape {seed + 1} of {LAYOUTS}"
        received = check.call(find_wrong_node, ctx, names=("ctx",))
        answer = check.expect_node_index(received, ctx)
        answers.append(answer)
        if answer == culprit:
            continue
        detail = f"the answer {answer} is wrong"
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
