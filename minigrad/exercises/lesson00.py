"""The start page's warm-up: one derivative, to try out checks, diagnoses and hints."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise


@exercise(
    "warm_up",
    lesson=0,
    title="a first derivative",
    hints=(
        "Differentiate term by term: the derivative of a sum is the sum of the derivatives, "
        "and a constant factor stays in front.",
        "The power rule: d/dx x^n = n x^(n-1). So x^3 gives a term in x^2, and -2x gives a "
        "constant.",
    ),
)
def check_warm_up(check: Check, slope) -> str:
    """``slope(x)`` must return f'(x) for f(x) = x**3 - 2x, for numbers and tensors alike."""
    generator = torch.Generator().manual_seed(0)
    for x in [1.5, -2.0, draw(generator, 6, scale=3)]:
        check.case = f"x = {x}" if isinstance(x, float) else f"x of shape {tuple(x.shape)}"
        want = 3 * x**2 - 2
        mistakes = (
            Mistake(3 * x**2, "the term -2x is missing from your derivative"),
            Mistake(x**2 - 2, "the power rule brings the exponent down as a factor"),
            Mistake(3 * x**3 - 2, "the power rule also lowers the exponent by one"),
        )
        received = check.call(slope, x, names=("x",))
        check.expect("f'(x)", want, received, mistakes=mistakes)
    return "f'(x) is right for numbers and for a tensor"
