"""Lesson 4's exercises: writing your own Gate, forward and backward side by side."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import missing_chain_factor
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
    """Run ``gate_class()`` on fresh leaves and backprop ``grad_output``: (output, grads)."""
    ctx = Context(name="check")
    leaves = [ctx.variable(v, requires_grad=True, name=f"x{i}") for i, v in enumerate(values)]
    y = gate_class()(*leaves)
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
