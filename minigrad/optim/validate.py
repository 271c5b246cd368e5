"""Argument checks shared by the optimisers and the learning-rate schedulers.

A learner who types ``lr=-0.1`` or ``betas=(0.9, 1.5)`` should hear about it
when the optimiser is built, not after a hundred epochs of NaNs. Each check
names the owner (``SGD``, ``StepLR``), the argument, the rule it broke, the
value that came, and how to fix it.
"""

from __future__ import annotations

import math
import numbers

from minigrad.errors import HyperParameterError


def _fail(owner: str, name: str, rule: str, value, hint: str) -> HyperParameterError:
    return HyperParameterError(f"{owner}: {name} must be {rule}, got {value!r}\nhelp: {hint}")


def check_real(owner: str, name: str, value, hint: str) -> float:
    """``value`` as a float, if it is a finite real number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(owner, name, "a real number", value, hint)
    if not math.isfinite(value):
        raise _fail(owner, name, "a finite number", value, hint)
    return float(value)


def check_at_least(owner: str, name: str, value, minimum: float, hint: str) -> float:
    """``value`` as a float, if ``value >= minimum``."""
    number = check_real(owner, name, value, hint)
    if number < minimum:
        raise _fail(owner, name, f">= {minimum}", value, hint)
    return number


def check_positive(owner: str, name: str, value, hint: str) -> float:
    """``value`` as a float, if ``value > 0``."""
    number = check_real(owner, name, value, hint)
    if number <= 0:
        raise _fail(owner, name, "> 0", value, hint)
    return number


def check_unit_interval(owner: str, name: str, value, hint: str) -> float:
    """``value`` as a float, if ``0 <= value < 1`` (a decay rate such as Adam's betas)."""
    number = check_real(owner, name, value, hint)
    if not 0.0 <= number < 1.0:
        raise _fail(owner, name, "in [0, 1)", value, hint)
    return number


def check_count(owner: str, name: str, value, minimum: int, hint: str) -> int:
    """``value`` as an int, if it is a whole number ``>= minimum`` (epochs, step sizes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(owner, name, f"a whole number >= {minimum}", value, hint)
    if value < minimum:
        raise _fail(owner, name, f">= {minimum}", value, hint)
    return int(value)
