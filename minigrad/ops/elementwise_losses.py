"""Losses computed element by element: mse_loss and binary_cross_entropy_with_logits.

Each compares a prediction with a target of the same shape, one loss per
element, then reduces: ``reduction="mean"`` (the default), ``"sum"``, or
``"none"`` for the losses themselves, as torch. An optional ``weight``
multiplies each element's loss (broadcast to the input's shape).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.errors import DTypeError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import check_reduction, constant


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
        self.diff = a - b
        self.weight = weight
        squared = self.diff * self.diff
        self.squared = squared if self.needs_input_grad[2:3] == (True,) else None
        if weight is None:
            self.divisor = self.diff.numel()
            return _reduce(squared, self.reduction)
        self.divisor = weight.sum()
        return _reduce(squared * weight, self.reduction, self.divisor)

    def backward(self, grad_output):
        need = self.needs_input_grad
        scale = _scale(grad_output, self.reduction, self.divisor)
        grad = 2 * self.diff * scale
        if self.weight is not None:
            grad = grad * self.weight
        grad_w = None
        if len(need) > 2 and need[2]:
            grad_w = self.squared * scale
            if self.reduction == "mean":  # the weights are in the divisor too
                grad_w = grad_w - (self.squared * self.weight).sum() * scale / self.divisor
        return (grad if need[0] else None, -grad if need[1] else None, grad_w)[: len(need)]


class BCEWithLogits(Gate):
    """L = w [p y softplus(-z) + (1 - y) softplus(z)]: the binary cross-entropy
    -w [p y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))] written stably
    (log sigmoid(z) = -softplus(-z)); p = pos_weight (1 by default) weighs
    the positive targets, w = weight (1 by default) each element.

    dL/dz = w [sigmoid(z) (1 - y + p y) - p y]   (w (sigmoid(z) - y) for p = 1),
    dL/dy = w [p softplus(-z) - softplus(z)]     (-w z for p = 1).

    As in torch, ``weight`` and ``pos_weight`` are constants: no gradient.
    """

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
        z, y, w, p = self.logits, self.target, self.weight, self.pos_weight
        scale = _scale(grad_output, self.reduction, z.numel())
        if w is not None:
            scale = w * scale
        grad_z = grad_y = None
        if need_z:
            sig = torch.sigmoid(z)
            grad_z = (sig - y if p is None else sig * (1 - y + p * y) - p * y) * scale
        if need_y:
            grad_y = (-z if p is None else p * F.softplus(-z) - F.softplus(z)) * scale
        return grad_z, grad_y


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
