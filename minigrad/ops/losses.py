"""Losses: cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits.

Each returns the mean over the batch by default (``reduction="mean"``), or
``"sum"``, or ``"none"`` for one loss per sample, as torch.

cross_entropy is one fused gate. Written as log_softmax then nll_loss it
would be two nodes and four kernels backward; fused, its gradient is the
well-known (softmax(z) - onehot(y)) / N, two small kernels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.errors import ShapeError, format_shape
from minigrad.gate import Gate
from minigrad.variable import Variable

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _scale(grad_output, reduction: str, count: int):
    """How much of the output gradient each sample's loss gets."""
    if reduction == "mean":
        return grad_output / count
    if reduction == "sum":
        return grad_output
    return grad_output.unsqueeze(1)  # "none": one gradient per sample


def _check_targets(op: str, logits: torch.Tensor, target: torch.Tensor) -> None:
    if target.is_floating_point():
        raise TypeError(
            f"{op}: targets must be integer class indices, got dtype {target.dtype}\n"
            "help: convert them with target.long(); for probabilities use "
            "binary_cross_entropy_with_logits"
        )
    if logits.ndim != 2 or target.shape != logits.shape[:1]:
        raise ShapeError(
            f"{op}: expected scores of shape (N, C) and targets of shape (N,), got "
            f"{format_shape(logits.shape)} and {format_shape(target.shape)}\n"
            "help: flatten extra dimensions first, e.g. scores.reshape(-1, C) and "
            "target.reshape(-1)"
        )


class CrossEntropy(Gate):
    """L_n = -log softmax(z_n)[y_n] = logsumexp(z_n) - z_n[y_n].

    dL_n/dz_n = softmax(z_n) - onehot(y_n).
    """

    def __init__(self, target: torch.Tensor, reduction: str = "mean"):
        _check_reduction(reduction)
        self.target, self.reduction = target, reduction

    def forward(self, logits):
        _check_targets("cross_entropy", logits, self.target)
        self.log_probs = torch.log_softmax(logits, 1)
        return F.nll_loss(self.log_probs, self.target, reduction=self.reduction)

    def backward(self, grad_output):
        grad = self.log_probs.exp()  # softmax(z)
        count = grad.shape[0]  # (len() of a tensor is a slow Python method)
        minus_one = _minus_one(grad).expand(count, 1)
        grad.scatter_add_(1, self.target.unsqueeze(1), minus_one)  # - onehot(y)
        if self.reduction == "none":
            return (grad.mul_(grad_output.unsqueeze(1)),)
        grad.mul_(grad_output)
        return (grad.div_(count) if self.reduction == "mean" else grad,)

    def explain(self, tensors, error):
        return _explain_targets("cross_entropy", tensors[0], self.target, error)


class NLLLoss(Gate):
    """L_n = -x_n[y_n] for log-probabilities x.   dL_n/dx_n = -onehot(y_n)."""

    def __init__(self, target: torch.Tensor, reduction: str = "mean"):
        _check_reduction(reduction)
        self.target, self.reduction = target, reduction

    def forward(self, log_probs):
        _check_targets("nll_loss", log_probs, self.target)
        self.shape = log_probs.shape
        return F.nll_loss(log_probs, self.target, reduction=self.reduction)

    def backward(self, grad_output):
        grad = grad_output.new_zeros(self.shape)
        scale = _scale(grad_output, self.reduction, self.shape[0])
        minus = -scale.expand(self.shape[0], 1) if scale.ndim < 2 else -scale
        return (grad.scatter_(1, self.target.unsqueeze(1), minus),)

    def explain(self, tensors, error):
        return _explain_targets("nll_loss", tensors[0], self.target, error)


class MSELoss(Gate):
    """L = mean((a - b)**2).   dL/da = 2 (a - b) / N,  dL/db = -2 (a - b) / N."""

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, a, b):
        if a.shape != b.shape:
            raise ShapeError(
                f"mse_loss: prediction {format_shape(a.shape)} and target "
                f"{format_shape(b.shape)} differ in shape\n"
                "help: reshape one to match, e.g. pred.reshape(-1) for (N, 1) predictions"
            )
        self.diff = a - b
        return _reduce(self.diff * self.diff, self.reduction)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        scale = grad_output / self.diff.numel() if self.reduction == "mean" else grad_output
        grad = 2 * self.diff * scale
        return (grad if need_a else None, -grad if need_b else None)


class BCEWithLogits(Gate):
    """L = -[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))], written stably as
    max(z, 0) - z*y + log(1 + exp(-|z|)).

    dL/dz = sigmoid(z) - y,   dL/dy = -z.
    """

    def __init__(self, reduction: str = "mean"):
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, logits, target):
        if logits.shape != target.shape:
            raise ShapeError(
                f"binary_cross_entropy_with_logits: logits {format_shape(logits.shape)} and "
                f"targets {format_shape(target.shape)} differ in shape\n"
                "help: one target probability per logit; reshape to match"
            )
        self.logits, self.target = logits, target
        losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return _reduce(losses, self.reduction)

    def backward(self, grad_output):
        need_z, need_y = self.needs_input_grad
        scale = grad_output / self.logits.numel() if self.reduction == "mean" else grad_output
        grad_z = (torch.sigmoid(self.logits) - self.target) * scale if need_z else None
        grad_y = -self.logits * scale if need_y else None
        return grad_z, grad_y


_MINUS_ONES: dict = {}


def _minus_one(like: torch.Tensor) -> torch.Tensor:
    """A cached -1 of ``like``'s dtype and device (a fresh one would cost a kernel each step)."""
    key = (like.dtype, like.device)
    if key not in _MINUS_ONES:
        _MINUS_ONES[key] = torch.full((1, 1), -1.0, dtype=like.dtype, device=like.device)
    return _MINUS_ONES[key]


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _explain_targets(op, scores, target, error):
    classes = scores.shape[1] if scores.ndim == 2 else "?"
    return ShapeError(
        f"{op}: every target must be a class index in [0, {classes}), got values from "
        f"{int(target.min())} to {int(target.max())}\n"
        f"help: the model has {classes} outputs; check the labels or the last layer's size"
    )


def _targets(target) -> torch.Tensor:
    if isinstance(target, torch.Tensor):
        return target
    return target.value if isinstance(target, Variable) else torch.as_tensor(target)


def cross_entropy(logits, target, reduction: str = "mean"):
    """Softmax cross-entropy of (N, C) scores against (N,) integer classes."""
    return CrossEntropy(_targets(target), reduction)(logits)


def nll_loss(log_probs, target, reduction: str = "mean"):
    """Negative log-likelihood of (N, C) log-probabilities against (N,) integer classes."""
    return NLLLoss(_targets(target), reduction)(log_probs)


def mse_loss(prediction, target, reduction: str = "mean"):
    """Mean squared error."""
    return MSELoss(reduction)(prediction, target)


def binary_cross_entropy_with_logits(logits, target, reduction: str = "mean"):
    """Binary cross-entropy on raw scores (a sigmoid is applied inside, stably)."""
    return BCEWithLogits(reduction)(logits, target)
