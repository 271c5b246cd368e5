"""Comparing the learner's answer with the expected one: what is wrong, where, and what kind.

:func:`mismatch` returns ``None`` when the answer is right, and otherwise a
:class:`Mismatch`: one sentence that names the value, the first wrong element,
the expected and the received number, and (from :mod:`.diagnoses`) the kind of
mistake. A wrong type or shape is reported before any value, because the
numbers of a wrongly shaped answer mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from minigrad.errors import format_shape
from minigrad.exercises.diagnoses import Mistake, as_float64, close, diagnose


@dataclass
class Mismatch:
    """Why an answer is wrong: ``detail`` (what and where) and ``diagnosis`` (what kind)."""

    detail: str
    diagnosis: str | None = None


def number(value: float) -> str:
    """A value as the learner reads it: 6 significant digits."""
    return f"{value:.6g}"


def mismatch(
    name: str,
    expected,
    received,
    atol: float = 1e-8,
    rtol: float = 1e-6,
    mistakes: tuple[Mistake, ...] = (),
    factors: dict | None = None,
) -> Mismatch | None:
    """``None`` if ``received`` equals ``expected`` within tolerance, else what is wrong.

    Both may be numbers, tensors or Variables; they are compared in float64.
    """
    want = as_float64(expected)
    got = as_float64(received)
    if got is None:
        kind = "a number" if want.ndim == 0 else f"a tensor of shape {format_shape(want.shape)}"
        return Mismatch(f"{name} should be {kind}, received {_kind(received)}")
    if got.shape != want.shape:
        if _squeezed(got.shape) == _squeezed(want.shape) and close(got.reshape(want.shape), want):
            return Mismatch(
                f"{name} has the right values but shape {format_shape(got.shape)} instead of "
                f"{format_shape(want.shape)}",
                "only the shape is wrong: check which dimensions of size 1 you keep, add or "
                "drop (a gradient has exactly the shape of the value it belongs to)",
            )
        return Mismatch(
            f"{name} should have shape {format_shape(want.shape)}, received shape "
            f"{format_shape(got.shape)}",
            diagnose(want, got, mistakes, factors)
            or "a gradient always has the shape of the value it belongs to",
        )
    bad = ~torch.isclose(got, want, rtol=rtol, atol=atol) | ~torch.isfinite(got)
    bad &= ~(torch.isnan(want) & torch.isnan(got))
    if not bool(bad.any()):
        return None
    flat = int(bad.reshape(-1).nonzero()[0])
    where = ""
    if want.ndim:
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), want.shape))
        where = f" at index {index} ({int(bad.sum())} of {bad.numel()} elements differ)"
    detail = (
        f"{name} is wrong{where}: expected {number(want.reshape(-1)[flat].item())}, "
        f"received {number(got.reshape(-1)[flat].item())}"
    )
    diagnosis = diagnose(want, got, mistakes, factors)
    if diagnosis is None and not bool(torch.isfinite(got).all()):
        diagnosis = (
            "your result is not finite (inf or nan) where the expected one is: something "
            "overflowed or divided by zero; look for a form that stays finite"
        )
    return Mismatch(detail, diagnosis)


def _squeezed(shape) -> list[int]:
    return [d for d in shape if d != 1]


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor" if value.is_complex() else "a tensor"
    if value is None:
        return "None (did the function end without `return`?)"
    return f"{type(value).__name__} {value!r:.60}"
