"""Losses computed element by element: mse_loss and binary_cross_entropy_with_logits.

Each compares a prediction with a target of the same shape, one loss per
element, then reduces: ``reduction="mean"`` (the default), ``"sum"``, or
``"none"`` for the losses themselves, as torch. An optional ``weight``
multiplies each element's loss (broadcast to the input's shape).

The backward formulas use operators and tensor methods only, on the saved
inputs, so ``create_graph=True`` records them; each ``jvp`` is the
gradient of each element's loss times the tangents, reduced as the loss is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.errors import DTypeError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import check_reduction, constant
from minigrad.ops.tangents import total


def _reduce(losses: torch.Tensor, reduction: str, divisor=None) -> torch.Tensor:
    if reduction == "mean":
        return losses.mean() if divisor is None else losses.sum() / divisor
    if reduction == "sum":
        return losses.sum()
    return losses


def _scale(grad_output, reduction: str, divisor):
    """Each element's share of the output gradient."""
    return grad_output / divisor if reduction == "mean" else grad_output


class MSELoss(Gate):
    """L = mean(w (a - b)**2).   dL/da = 2 w (a - b) / D,  dL/db = -dL/da,  dL/dw = (a - b)**2 / D.

    D is the number of elements, or sum(w) when a weight is given (as torch).
    """

    def __init__(self, reduction: str = "mean"):
        self.reduction = reduction

    def forward(self, a, b, weight=None):
        self.a, self.b, self.weight = a, b, weight
        diff = a - b
        squared = diff * diff
        if weight is None:
            return _reduce(squared, self.reduction)
        return _reduce(squared * weight, self.reduction, weight.sum())

    def backward(self, grad_output):
        need = self.needs_input_grad
        diff, divisor = self.a - self.b, self._divisor()
        scale = _scale(grad_output, self.reduction, divisor)
        grad = 2 * diff * scale
        if self.weight is not None:
            grad = grad * self.weight
        grad_w = None
        if len(need) > 2 and need[2]:
            squared = diff * diff
            grad_w = squared * scale
            if self.reduction == "mean":  # the weights are in the divisor too
                grad_w = grad_w - (squared * self.weight).sum() * scale / divisor
        return (grad if need[0] else None, -grad if need[1] else None, grad_w)[: len(need)]

    def jvp(self, ta, tb, tw=None):
        diff, w = self.a - self.b, self.weight
        moved_diff = total(ta, None if tb is None else -tb)
        each = None if moved_diff is None else 2 * diff * moved_diff
        if w is not None:
            each = total(
                None if each is None else each * w, None if tw is None else diff * diff * tw
            )
        if self.reduction != "mean" or w is None or tw is None:
            return _reduce(each, self.reduction, None if w is None else self._divisor())
        loss = (diff * diff * w).sum() / self._divisor()  # d(S / W) = (dS - loss dW) / W
        return ((each.sum() - loss * tw.sum()) / self._divisor()).reshape(())

    def _divisor(self):
        """D: the number of elements, or sum(w) with a weight (as torch)."""
        return self.a.numel() if self.weight is None else self.weight.sum()


class BCEWithLogits(Gate):
    """L = w [p y softplus(-z) + (1 - y) softplus(z)]: the binary cross-entropy
    -w [p y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] written stably
    (log sigmoid(z) = -softplus(-z)); p = pos_weight (1 by default) weighs
    the positive targets, w = weight (1 by default) each element.

    dL/dz = w [sigmoid(z) (1 - y + p y) - p y]   (w (sigmoid(z) - y) for p = 1),
    dL/dy = w [p softplus(-z) - softplus(z)]     (-w z for p = 1).

    As in torch, ``weight`` and ``pos_weight`` are constants: no gradient.
    """

    constants = ("weight", "pos_weight")

    def __init__(self, weight=None, pos_weight=None, reduction: str = "mean"):
        self.weight, self.pos_weight, self.reduction = weight, pos_weight, reduction

    def forward(self, logits, target):
        self.logits, self.target = logits, target
        losses = F.binary_cross_entropy_with_logits(
            logits, target, self.weight, reduction="none", pos_weight=self.pos_weight
        )
        return _reduce(losses, self.reduction)

    def backward(self, grad_output):
        need_z, need_y = self.needs_input_grad
        scale = _scale(grad_output, self.reduction, self.logits.numel())
        if self.weight is not None:
            scale = self.weight * scale
        return (
            self._slope_z() * scale if need_z else None,
            self._slope_y() * scale if need_y else None,
        )

    def jvp(self, tz, ty):
        each = total(
            None if tz is None else self._slope_z() * tz,
            None if ty is None else self._slope_y() * ty,
        )
        if self.weight is not None:
            each = each * self.weight
        return _reduce(each, self.reduction)

    def _slope_z(self):
        """dL/dz per element, without w: sigmoid(z) (1 - y + p y) - p y."""
        z, y, p = self.logits, self.target, self.pos_weight
        sig = z.sigmoid()
        return sig - y if p is None else sig * (1 - y + p * y) - p * y

    def _slope_y(self):
        """dL/dy per element, without w: p softplus(-z) - softplus(z), which is -z for p = 1."""
        z, p = self.logits, self.pos_weight
        return -z if p is None else p * _softplus(-z) - _softplus(z)


def _softplus(z):
    """log(1 + e^z), written so that it never overflows: max(z, 0) + log(1 + e^-|z|)."""
    return z.relu() + (1 + (-z.abs()).exp()).log()


def _check_same_shape(op: str, input, target, names=("prediction", "target")) -> None:
    if tuple(input.shape) != tuple(target.shape):
        raise ShapeError(
            message(
                op,
                f"the {names[1]} shaped like the {names[0]}, {format_shape(input.shape)}",
                format_shape(target.shape),
                "reshape one to match, e.g. pred.reshape(-1) for (N, 1) predictions against (N,) "
                "targets (broadcasting them would compare every pair)",
            )
        )


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error, as torch.nn.functional.mse_loss.

    Unlike torch, prediction and target of different shapes are refused, not
    broadcast: (N, 1) against (N,) would compare every pair, which torch only warns about.
    """
    check_reduction("mse_loss", reduction, size_average, reduce)
    _check_same_shape("mse_loss", input, target)
    if weight is None:
        return MSELoss(reduction)(input, target)
    _check_same_shape("mse_loss", input, weight, ("prediction", "weight"))
    return MSELoss(reduction)(input, target, weight)


def binary_cross_entropy_with_logits(
    input,
    target,
    weight=None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight=None,
):
    """Binary cross-entropy on raw scores (a sigmoid is applied inside, stably),
    as torch.nn.functional.binary_cross_entropy_with_logits."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(op, reduction, size_average, reduce)
    if not target.dtype.is_floating_point:
        raise DTypeError(
            message(
                op,
                "floating-point targets (probabilities in [0, 1])",
                f"dtype {target.dtype}",
                "convert them with target.float() (or .double(), as the scores)",
            )
        )
    _check_same_shape(op, input, target, ("logits", "targets"))
    for name, extra in (("weight", weight), ("pos_weight", pos_weight)):
        if extra is not None:
            _check_broadcasts(op, name, extra, input)
    weight, pos_weight = constant(op, "weight", weight), constant(op, "pos_weight", pos_weight)
    return BCEWithLogits(weight, pos_weight, reduction)(input, target)


def _check_broadcasts(op: str, name: str, extra, input) -> None:
    try:
        torch.broadcast_shapes(extra.shape, input.shape)
    except RuntimeError:
        raise ShapeError(
            message(
                op,
                f"a {name} that broadcasts to the logits' {format_shape(input.shape)}",
                format_shape(extra.shape),
                "pos_weight has one value per class (the last dimension); weight one "
                "per element, or fewer that broadcast",
            )
        ) from None
