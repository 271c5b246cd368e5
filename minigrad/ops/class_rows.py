"""What cross_entropy and nll_loss share: scores as (M, C) rows, and the checks of targets.

Scores have the classes in dimension 1: (N, C), (N, C, d1, ...) or (C,).
Both losses work on rows: the class dimension moved last and the rest
flattened, (M, C) with M = N * d1 * ..., against M class indices; the
gradient is moved back to the scores' shape at the end.
"""

from __future__ import annotations

import torch

from minigrad.errors import (
    DeviceError,
    DTypeError,
    OutOfRangeError,
    ShapeError,
    format_shape,
    message,
)
from minigrad.ops.arguments import constant
from minigrad.variable import Variable


def flat(target: torch.Tensor) -> torch.Tensor:
    """The targets as one row each (already so for the usual (N,) targets)."""
    return target if target.ndim == 1 else target.reshape(-1)


def rows_of(scores: torch.Tensor) -> torch.Tensor:
    """(N, C, d1, ...) or (C,) scores as (M, C) rows, classes last."""
    if scores.ndim == 2:
        return scores
    if scores.ndim == 1:
        return scores.unsqueeze(0)
    return scores.movedim(1, -1).reshape(-1, scores.shape[1])


def unrows(rows: torch.Tensor, shape) -> torch.Tensor:
    """The inverse of :func:`rows_of`: (M, C) back to the scores' shape."""
    if len(shape) == 2:
        return rows
    if len(shape) == 1:
        return rows.squeeze(0)
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return rows.reshape(moved).movedim(-1, 1)


def per_row_scale(grad_output, reduction: str, total):
    """How much of the output gradient each row's loss gets, as an (M, 1) column or a number."""
    if reduction == "mean":
        return grad_output / total
    if reduction == "sum":
        return grad_output
    return grad_output.reshape(-1, 1)  # "none": one gradient per row


def reduce_rows(per_row, reduction: str, divisor, shape):
    """One value per row reduced as the loss is: its mean (over ``divisor``), sum, or each
    one in the shape of the targets (what a jvp rule does with each row's tangent)."""
    if reduction == "none":
        return per_row.reshape(shape)
    summed = per_row.sum()
    return summed / divisor if reduction == "mean" else summed


def classes_of(shape) -> int:
    return shape[0] if len(shape) == 1 else shape[1]


def batch_shape(shape) -> tuple:
    """The scores' shape without the class dimension: the shape of one loss per position."""
    return () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])


def explain_targets(op, scores, target, ignore_index, error):
    """Why torch refused the targets: another device, or a class index out of range."""
    if target.device != scores.device:
        return DeviceError(
            message(
                op,
                f"the targets on the scores' device ({scores.device})",
                f"targets on {target.device}",
                "move them first, e.g. target.to(scores.device), or build both on one device",
            )
        )
    classes = classes_of(scores.shape) if scores.ndim else "?"
    kept = target[target != ignore_index]
    found = f"values from {int(kept.min())} to {int(kept.max())}" if kept.numel() else "none"
    # (torch's own words, "Target 5 is out of bounds", name one value, not the range)
    return OutOfRangeError(
        message(
            op,
            f"every target a class index in [0, {classes})",
            found,
            f"the model has {classes} outputs; check the labels or the last layer's size "
            f"(targets equal to ignore_index={ignore_index} are skipped)",
        )
    )


def class_targets(op: str, scores, target, weight) -> tuple:
    """The targets and weight as plain tensors, checked for dtype and shape."""
    if target.__class__ is not torch.Tensor:
        target = target.value if isinstance(target, Variable) else torch.as_tensor(target)
    if target.dtype is not torch.int64:
        hint = "convert them with target.long()"
        if target.is_floating_point():
            hint += (
                "; for class probabilities use cross_entropy with targets shaped like the scores"
            )
        raise DTypeError(
            message(
                op, "integer class indices of dtype int64 (long)", f"dtype {target.dtype}", hint
            )
        )
    shape = scores.shape
    usual = len(shape) == 2 and target.ndim == 1 and target.shape[0] == shape[0]  # (N, C), (N,)
    if not usual and (not shape or tuple(target.shape) != batch_shape(shape)):
        raise ShapeError(
            message(
                op,
                "scores (N, C) with targets (N,), (N, C, d1, ...) with (N, d1, ...), or (C,) "
                "with a 0-dim target",
                f"scores {format_shape(shape)} and targets {format_shape(target.shape)}",
                "the classes are dimension 1 of the scores; the targets have the other dimensions",
            )
        )
    if weight is not None:
        check_weight(op, scores, weight)
        weight = constant(op, "weight", weight)
    return target, weight


def check_weight(op: str, scores, weight) -> None:
    classes = classes_of(scores.shape) if scores.ndim else 0
    if tuple(weight.shape) != (classes,):
        raise ShapeError(
            message(
                op,
                f"weight with one value per class, shape ({classes},)",
                format_shape(weight.shape),
                "give each class a weight, e.g. inverse class frequencies",
            )
        )
