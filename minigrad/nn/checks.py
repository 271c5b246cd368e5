"""Argument checks shared by the layers, initialisers, optimisers, schedulers and loaders.

A learner who types ``lr=-0.1``, ``Linear(0, 10)`` or ``betas=(0.9, 1.5)``
should hear about it when the object is built, not after a hundred epochs of
NaNs. Each rule lives here once, with one message: it names the owner
(``SGD``, ``Linear``), the argument, the rule it broke, the value that came,
and how to fix it. Every check raises :class:`HyperParameterError` and
returns the value in its plain Python type.
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


def check_between(
    owner: str, name: str, value, low: float, high: float, hint: str, open_low: bool = False
) -> float:
    """``value`` as a float, if ``low <= value <= high`` (``low < value`` with ``open_low``)."""
    number = check_real(owner, name, value, hint)
    if not (low < number if open_low else low <= number) or number > high:
        raise _fail(owner, name, f"in {'(' if open_low else '['}{low}, {high}]", value, hint)
    return number


def check_unit_interval(owner: str, name: str, value, hint: str) -> float:
    """``value`` as a float, if ``0 <= value < 1`` (a decay rate such as Adam's betas)."""
    number = check_real(owner, name, value, hint)
    if not 0.0 <= number < 1.0:
        raise _fail(owner, name, "in [0, 1)", value, hint)
    return number


def check_count(owner: str, name: str, value, minimum: int, hint: str) -> int:
    """``value`` as an int, if it is a whole number ``>= minimum`` (epochs, sizes, steps)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(owner, name, f"a whole number >= {minimum}", value, hint)
    if value < minimum:
        raise _fail(owner, name, f">= {minimum}", value, hint)
    return int(value)


def check_flag(owner: str, name: str, value, hint: str) -> bool:
    """``value``, if it is True or False (not 0, 1 or a string that looks like one)."""
    if not isinstance(value, bool):
        raise _fail(owner, name, "True or False", value, hint)
    return value


def check_pair(owner: str, name: str, value, minimum: int, hint: str) -> tuple[int, int]:
    """``(value, value)`` for a whole number, or ``value`` itself for a pair of them."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple(check_count(owner, name, v, minimum, hint) for v in value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = check_count(owner, name, value, minimum, hint)
        return number, number
    raise _fail(owner, name, f"a whole number >= {minimum} or a pair of them", value, hint)
