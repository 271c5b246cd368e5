"""Lesson 4's exercises: writing your own Gate, forward and backward side by side."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.compare import mismatch
from minigrad.exercises.diagnoses import as_float64, missing_chain_factor
from minigrad.gate import Gate
from minigrad.tape import Context

# Where stability matters: e^800 overflows even in float64 (whose largest is about e^709).
EXTREMES = torch.tensor([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0], dtype=torch.float64)


def expect_gate_class(check: Check, gate_class, name: str) -> None:
    """FAIL unless ``gate_class`` is a subclass of mg.Gate."""
    if not (isinstance(gate_class, type) and issubclass(gate_class, Gate)):
        check.fail(
            f"expected a subclass of mg.Gate, received {gate_class!r}",
            f"define `class {name}(mg.Gate):` with a forward and a backward method",
        )


def run_gate(gate_class, *values, grad_output: torch.Tensor):
    """Run ``gate_class()`` on fresh leaves and backprop ``grad_output``: (output, grads).

    An output of the wrong shape is returned without a backward (its check FAILs on it).
    """
    ctx = Context(name="check")
    leaves = [ctx.variable(v, requires_grad=True, name=f"x{i}") for i, v in enumerate(values)]
    y = gate_class()(*leaves)
    if y.shape != grad_output.shape:
        return y.value, [None for _ in leaves]
    y.backward(grad_output)
    return y.value, [leaf.grad for leaf in leaves]


# -- Softplus ----------------------------------------------------------------------------


@exercise(
    "softplus_gate",
    lesson=4,
    title="Softplus: a gate's backward",
    hints=(
        "backward gets dL/dy (grad_output) and returns dL/dx, one per input, as a tuple. The "
        "chain rule says dL/dx = dL/dy * dy/dx, so you need the local derivative dy/dx at "
        "the x that forward saved on self.",
        "dy/dx = e^x / (1 + e^x). Divide top and bottom by e^x to see which well-known "
        "function that is (torch has it, written so that it never overflows); at x = 800 the "
        "fraction as written is inf / inf.",
    ),
)
def check_softplus_gate(check: Check, gate_class) -> str:
    """``gate_class()`` must be a Gate computing y = log(1 + e^x) with the right backward."""
    expect_gate_class(check, gate_class, "Softplus")
    generator = torch.Generator().manual_seed(4)
    cases = [draw(generator, 5, scale=3), draw(generator, 3, 4, scale=3), EXTREMES]
    for x in cases:
        g = draw(generator, *x.shape)
        want_y, slope = torch.nn.functional.softplus(x), torch.sigmoid(x)
        y, (grad,) = check.call(
            lambda x, g: run_gate(gate_class, x, grad_output=g), x, g, names=("x", "grad_output")
        )
        shape = tuple(x.shape)
        check.expect(f"forward output for x of shape {shape}", want_y, y)
        mistakes = (
            missing_chain_factor(slope),
            Mistake(g * torch.exp(x), "that is e^x: the derivative of the exponential, but not "
                    "of log(1 + e^x); the log around it adds one more chain-rule factor"),
        )  # fmt: skip
        check.expect(f"x.grad for x of shape {shape}", g * slope, grad, mistakes=mistakes)
    return "forward and backward are right, also at x = -800 and x = 800"


# -- a two-input gate that skips what nobody needs ------------------------------------------


@exercise(
    "divide_gate",
    lesson=4,
    title="a two-input gate with needs_input_grad",
    hints=(
        "backward returns one entry per input: (grad_a, grad_b). Each is grad_output times "
        "that input's local derivative. self.needs_input_grad is a pair of bools: where it "
        "is False, nobody asked for that gradient, so return None in its place and do not "
        "compute it.",
        "For y = a / b: dy/da = 1 / b, and dy/db = -a / b^2 (write a / b as a * b^(-1) and "
        "use the power rule). Both are multiplied by grad_output.",
    ),
)
def check_divide_gate(check: Check, gate_class) -> str:
    """``gate_class()`` must compute y = a / b, with None for each input nobody needs."""
    expect_gate_class(check, gate_class, "Divide")
    generator = torch.Generator().manual_seed(41)
    asked = [(True, True), (True, False), (False, True)]
    for shape, need in zip([(5,), (2, 3), (4,)], asked):
        a = draw(generator, *shape)
        b = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5  # away from 0
        b = b * torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0).double()
        g = draw(generator, *shape)
        check.case = f"a and b of shape {shape}, gradients asked for (a, b) = {need}"
        want = (g / b, -g * a / b**2)
        output, grads = check.call(
            lambda a, b, g, need=need: _backward_alone(gate_class, (a, b), need, g), a, b, g,
            names=("a", "b", "grad_output"),
        )  # fmt: skip
        check.expect("the forward output", a / b, output)
        grads = check.expect_sequence(grads, 2, "backward's pair (grad_a, grad_b)")
        for name, wanted, needed, got in zip(("grad_a", "grad_b"), want, need, grads):
            if not needed:
                if got is not None:
                    check.fail(
                        f"{name} should be None: needs_input_grad is {need}",
                        "nobody asked for this gradient: return None in its place, and skip "
                        "the work of computing it",
                    )
                continue
            mistakes = (
                missing_chain_factor(wanted / g),
                Mistake(-g / b**2, "your grad_b does not depend on a, yet how much y = a / b "
                        "moves with b is proportional to a: a factor is missing"),
                Mistake(-g * a / b, "one power of b is missing: the power rule lowers the "
                        "exponent of b**-1 by one"),
            )  # fmt: skip
            check.expect(name, wanted, got, mistakes=mistakes)
    return "forward and both gradients are right, and a gradient nobody needs is None"


def _misaligned(error: Exception) -> str | None:
    if isinstance(error, RuntimeError) and "must match the size" in str(error):
        return (
            "grad_output has one value per row (one dimension fewer than x): give it back "
            "the reduced dimension so that it broadcasts along each row"
        )
    return None


def _backward_alone(gate_class, values, needs, grad_output):
    """Record the gate on fresh leaves (``needs`` says which require grad); call its backward."""
    ctx = Context(name="check")
    leaves = [
        ctx.variable(v, requires_grad=n, name=f"x{i}")
        for i, (v, n) in enumerate(zip(values, needs))
    ]
    y = gate_class()(*leaves)
    return y.value, y.node.gate.backward(grad_output)


# -- logsumexp, stable at +-800 -----------------------------------------------------------


@exercise(
    "logsumexp_gate",
    lesson=4,
    title="a logsumexp gate that is stable at ±800",
    hints=(
        "e^800 overflows (float64's largest number is about e^709.8), and e^-800 is 0, whose "
        "log is -inf; yet logsumexp of such numbers is a perfectly ordinary number. Find a "
        "constant you can take out of the sum so that no exponent is large. For the "
        "backward, the chain rule through the log and the sum: the derivative with respect "
        "to x_k is e^(x_k) divided by the whole sum (the softmax of x).",
        "For any m: log(sum_j e^(x_j)) = m + log(sum_j e^(x_j - m)). With m the row's "
        "maximum, every exponent is <= 0 and one of them is 0, so the sum lies in [1, n]. "
        "The backward: dy/dx_k = e^(x_k - y), one row at a time; grad_output has one value per "
        "row, so give it back its reduced dimension before multiplying.",
    ),
)
def check_logsumexp_gate(check: Check, gate_class) -> str:
    """``gate_class()`` must compute y = log(sum_j exp(x_j)) over the last dimension, and back."""
    expect_gate_class(check, gate_class, "LogSumExp")
    generator = torch.Generator().manual_seed(42)
    extremes = torch.tensor(
        [[800.0, 799.0, -5.0], [-800.0, -801.0, -799.0], [800.0, -800.0, 0.0]], dtype=torch.float64
    )
    for x in [draw(generator, 3, 5, scale=2), draw(generator, 4, 4), extremes]:
        g = draw(generator, x.shape[0])
        check.case = f"x of shape {tuple(x.shape)}" + (
            " with entries of ±800" if x.max() > 700 else ""
        )
        want_y = torch.logsumexp(x, dim=-1)
        softmax = torch.softmax(x, dim=-1)
        y, (grad,) = check.call(
            lambda x, g: run_gate(gate_class, x, grad_output=g), x, g,
            names=("x", "grad_output"), explain=_misaligned,
        )  # fmt: skip
        found = mismatch("the forward output", want_y, y)
        if found is not None and not bool(torch.isfinite(as_float64(y)).all()):
            check.fail(
                found.detail,
                "e^800 overflows even in float64, and the log of an underflowed 0 is -inf: "
                "no exponent in your formula may be large",
            )
        check.expect("the forward output", want_y, y)
        mistakes = [
            missing_chain_factor(softmax),
            Mistake(g[:, None] * torch.softmax(x, dim=0), "that is a softmax down the columns: "
                    "the sum ran along the last dimension, so normalise along it"),
        ]  # fmt: skip
        if x.shape[0] == x.shape[1]:  # square: grad_output lined up with the columns fits too
            mistakes.append(
                Mistake(g[None, :] * softmax, "grad_output has one value per row, but it was "
                        "lined up with the columns: keep the reduced dimension so that it "
                        "broadcasts along each row")
            )  # fmt: skip
        check.expect("x.grad", g[:, None] * softmax, grad, mistakes=tuple(mistakes))
    return "forward and backward are right, also for rows with entries of ±800"
