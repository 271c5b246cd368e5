"""Diagnoses: what kind of mistake a wrong answer is, said in words.

A check knows the right answer; when the learner's differs, the useful
question is *how*. Most slips in backprop code leave a fingerprint that can be
recognised from the numbers alone:

* every element off by one factor c (received = c * expected): a wrong
  constant, e.g. exactly 2x when a difference was divided by eps, not 2 eps;
* c = -1: a sign flip;
* received[i, j] = expected[j, i]: a transposed result;
* a value that matches what a known wrong method gives on the same inputs
  (the local derivative without the chain rule's grad_output factor, the last
  contribution instead of the sum, the tape walked forward, a one-sided
  difference, a sum over the wrong broadcast dimension). A check computes
  those on its own inputs and hands them over as :class:`Mistake` s.

:func:`diagnose` tries the known mistakes first (they are the most specific),
then the generic patterns. Every phrase names the kind of mistake and where to
look, never the code that would fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from minigrad.errors import format_shape

# A mistake is recognised when the received value matches its value this closely.
MATCH_RTOL = 1e-6
MATCH_ATOL = 1e-9


@dataclass
class Mistake:
    """A wrong answer a check can recognise: its value on this case, and what to say."""

    value: object  # a tensor or a number, as the learner's code would return it
    says: str


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = MATCH_RTOL, atol=MATCH_ATOL) -> bool:
    """Same shape and every element within ``atol + rtol * |b|`` (NaNs equal NaNs)."""
    if a.shape != b.shape:
        return False
    return bool(torch.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True).all())


def as_float64(value) -> torch.Tensor | None:
    """A number, a tensor or a Variable as a float64 tensor; ``None`` for anything else."""
    value = getattr(value, "value", value)  # a Variable holds its tensor in .value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, torch.Tensor) and not value.is_complex():
        return value.detach().to("cpu", torch.float64)
    return None


# -- the recorded mistakes a check can hand over ------------------------------------


def missing_chain_factor(value) -> Mistake:
    """The local derivative alone: the incoming gradient was never multiplied in."""
    return Mistake(
        value,
        "these are the local derivatives alone: the chain rule also multiplies each one by "
        "the gradient that arrives from above (grad_output)",
    )


def overwritten(value) -> Mistake:
    """Each value kept only the last gradient sent to it, not the sum of all of them."""
    return Mistake(
        value,
        "a value that is used several times kept only its last gradient: the contributions "
        "of all its uses must be added up (accumulate, do not overwrite)",
    )


def walked_forward(value) -> Mistake:
    """The tape was walked from the first node to the last."""
    return Mistake(
        value,
        "this is what walking the tape forward (first node to last) gives: a node's output "
        "gradient is complete only after every later node has sent its share, so walk it "
        "from the last node to the first",
    )


def one_sided(value) -> Mistake:
    """The forward difference (f(x + eps) - f(x)) / eps instead of the central one."""
    return Mistake(
        value,
        "that is the one-sided difference (f(x + eps) - f(x)) / eps, whose error shrinks only "
        "like eps; step to both sides of x so that the eps**2 terms cancel",
    )


def wrong_broadcast_dims(value, summed: tuple[int, ...], right: tuple[int, ...]) -> Mistake:
    """A broadcast gradient summed over other dimensions than the stretched ones."""
    return Mistake(
        value,
        f"that is the gradient summed over dimension(s) {summed}; broadcasting added or "
        f"stretched dimension(s) {right}, and those are the ones to sum over",
    )


# -- the generic patterns ------------------------------------------------------------


def constant_factor(expected: torch.Tensor, received: torch.Tensor) -> float | None:
    """The factor c with received = c * expected for every element, if there is one (c != 1).

    A single number is always *some* multiple of another, so for fewer than
    three non-zero elements only a simple fraction (2, 1/2, -1, 3/2, ...) counts.
    """
    if expected.shape != received.shape or not bool(torch.isfinite(received).all()):
        return None
    if not expected.numel() or not bool(torch.isfinite(expected).all()):
        return None
    big = expected.abs() > 1e-6 * float(expected.abs().max())
    if not bool(big.any()):
        return None
    factor = float((received[big] / expected[big]).median())
    if abs(factor - 1) < 1e-6 or factor == 0:
        return None
    if not close(received, factor * expected, rtol=1e-5, atol=1e-9):
        return None
    if int(big.sum()) < 3 and _simple_fraction(factor) is None:
        return None
    return factor


def _simple_fraction(factor: float) -> Fraction | None:
    fraction = Fraction(factor).limit_denominator(8)
    return fraction if abs(float(fraction) - factor) < 1e-6 * abs(factor) else None


def describe_factor(factor: float, explanations: dict | None = None, elements: int = 2) -> str:
    """Words for a constant factor: "exactly 2x the expected", "about 1.41x", a sign flip."""
    fraction = _simple_fraction(factor)
    subject = "every element" if elements > 1 else "your value"
    if fraction == -1:
        text = f"{subject} has the wrong sign (exactly -1x the expected): a sign flip"
    elif fraction is not None:
        text = f"{subject} is exactly {_fraction_text(fraction)}x the expected"
    else:
        text = f"{subject} is about {factor:.4g}x the expected (one constant factor)"
    for known, why in (explanations or {}).items():
        if abs(factor - known) < 1e-6 * abs(known):
            return f"{text}: {why}"
    if fraction == -1:
        return text + "; check the sign of each term and the order of each subtraction"
    return text + "; look for a wrong constant in your formula"


def _fraction_text(fraction: Fraction) -> str:
    return str(fraction.numerator) if fraction.denominator == 1 else str(fraction)


def transposed(expected: torch.Tensor, received: torch.Tensor) -> str | None:
    """Say so when ``received`` is the transpose of ``expected`` (2-D, not symmetric)."""
    if (
        expected.ndim != 2
        or received.ndim != 2
        or close(expected, expected.T.reshape(expected.shape))
    ):
        return None
    if received.shape == expected.T.shape and close(received, expected.T):
        return (
            "your result is the transpose of the expected one (shape "
            f"{format_shape(received.shape)} instead of {format_shape(expected.shape)}): check "
            "the order of the factors and "
            "which of them is transposed"
        )
    return None


def diagnose(
    expected: torch.Tensor,
    received: torch.Tensor,
    mistakes: tuple[Mistake, ...] = (),
    factors: dict | None = None,
) -> str | None:
    """The words for what kind of mistake ``received`` is, or ``None`` when none is recognised.

    ``mistakes`` are the check's recorded wrong answers on this case;
    ``factors`` maps a constant factor to its likely cause, e.g. ``{2: "did
    you divide by eps instead of 2*eps?"}``.
    """
    for mistake in mistakes:
        value = as_float64(mistake.value)
        if value is not None and close(received, value) and not close(expected, value):
            return mistake.says
    flipped = transposed(expected, received)
    if flipped:
        return flipped
    factor = constant_factor(expected, received)
    if factor is not None:
        return describe_factor(factor, factors, expected.numel())
    if received.shape == expected.shape and bool((received == 0).all()):
        return "every element is zero: is the result connected to the inputs at all?"
    return None
