"""Classification losses: cross_entropy and nll_loss, with torch's arguments.

Scores have the classes in dimension 1: (N, C), or (N, C, d1, ...) for one
class choice per position (e.g. per pixel), or (C,) for one sample. Inside,
every loss is computed on rows: the class dimension moved last and the rest
flattened, (M, C) with M = N * d1 * ..., against M targets. With

    z = log_softmax(scores),   w_c the class weights (1 by default),
    v_i = 0 where target_i == ignore_index else 1,   W = sum_i v_i w_{y_i}

    nll_loss:       L_i = -v_i w_{y_i} z_{i, y_i}
    cross_entropy:  L_i = (1 - eps) nll_i + (eps / C) * (-v_i sum_c w_c z_ic)

(eps = label_smoothing), and ``reduction`` "mean" gives sum_i L_i / W,
"sum" gives sum_i L_i, "none" gives each L_i. With class probabilities as
targets (same shape as the scores) cross_entropy is
L_i = -sum_c w_c t_ic z_ic with t smoothed to t (1 - eps) + eps / C, and
"mean" divides by M.

nll_loss is linear in its input, so with ``create_graph=True`` its backward
is recorded as one node whose backward is its ``jvp``. cross_entropy keeps a
fast ``backward`` (torch's fused kernels) beside ``reference_backward``, the
formula in its docstring written with operations Variables share: that one is
recorded. The ``jvp`` of a loss is each row's gradient dotted with the
tangent, reduced as the loss is.
"""

from __future__ import annotations

import torch

from minigrad.gate import Gate, apply_gate
from minigrad.ops.arguments import check_reduction, constant
from minigrad.ops.aten import aten_kernel
from minigrad.ops.class_rows import (
    check_weight,
    class_targets,
    classes_of,
    explain_targets,
    flat,
    per_row_scale,
    reduce_rows,
    rows_of,
    unrows,
)
from minigrad.ops.cross_entropy_backward import CrossEntropyBackward
from minigrad.ops.soft_cross_entropy import SoftCrossEntropy
from minigrad.variable import Variable

_REDUCTION_ENUM = {"none": 0, "mean": 1, "sum": 2}  # torch's numbering in its loss kernels
# torch's own kernels for the nll part of the loss and for log_softmax's chain rule
_nll_forward = aten_kernel("nll_loss_forward")
_nll_backward = aten_kernel("nll_loss_backward")
_log_softmax_backward = torch._log_softmax_backward_data


def classes_first_pays(rows: torch.Tensor) -> bool:
    """Whether log_softmax and its backward should run on the scores laid out classes first.

    On the CPU, torch's log_softmax kernels (forward and backward) are slow
    when a row holds fewer than 16 classes, less than one vector of floats:
    they go along each row one element at a time. Laid out classes first, a
    (C, M) copy, the same kernels along dim 0 go across many rows at once.
    Measured with torch 2.13, forward and backward of the loss, classes
    first / rows first: 0.36x at 1024 x 10, 0.51x at 256 x 10, 0.81x at 128
    x 10, 0.64x at 1024 x 2, but 1.10x at 64 x 10 and 1.48x at 32 x 10 (the
    two copies cost more than they save). So: fewer than 16 classes and at
    least 1,024 scores. On a GPU the scores stay as they are.
    """
    count, classes = rows.shape
    return classes < 16 and count * classes >= 1024 and rows.is_cpu


class NLLLoss(Gate):
    """L_i = -v_i w_{y_i} x_{i, y_i} for log-probabilities x (see the module docstring).

    dL_i/dx_ic = -v_i w_{y_i} when c == y_i, else 0.
    """

    piecewise_linear = True  # linear in the log-probabilities

    def __init__(self, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        self.target, self.weight = target, weight
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, log_probs):
        self.shape = log_probs.shape
        enum = _REDUCTION_ENUM[self.reduction]
        out, self.total = _nll_forward(
            rows_of(log_probs), flat(self.target), self.weight, enum, self.ignore_index
        )
        return out.reshape(self.target.shape) if self.reduction == "none" else out

    def backward(self, grad_output):
        targets = self.target.reshape(-1, 1)
        valid = targets != self.ignore_index
        safe = targets.masked_fill(~valid, 0)  # any class, for rows that are ignored
        weights = valid.to(grad_output.dtype)
        if self.weight is not None:
            weights = weights * self.weight[safe]
        scale = per_row_scale(grad_output, self.reduction, self.total)
        # An ignored row gets exactly 0, even when every row is ignored and scale is 1/0.
        values = (-weights * scale).masked_fill_(~valid, 0)
        rows = grad_output.new_zeros(targets.shape[0], classes_of(self.shape))
        return (unrows(rows.scatter_(1, safe, values), self.shape),)

    def jvp(self, t):
        targets = self.target.reshape(-1, 1)
        valid = targets != self.ignore_index
        safe = targets.masked_fill(~valid, 0)
        weights = valid.to(t.dtype)
        if self.weight is not None:
            weights = weights * self.weight[safe]
        per_row = -(weights * rows_of(t).gather(1, safe)).reshape(-1)
        return reduce_rows(per_row, self.reduction, self.total, self.target.shape)

    def explain(self, tensors, error):
        return explain_targets("nll_loss", tensors[0], self.target, self.ignore_index, error)


class CrossEntropy(Gate):
    """Softmax cross-entropy against class indices (see the module docstring).

    dL_i/dx_i = softmax(x_i) * sum_c g_ic - g_i,  where g_i = -dL_i/dz_i:
    g_ic = (1 - eps) v_i w_{y_i} [c == y_i] + (eps / C) v_i w_c.
    Without weights, smoothing or ignored rows that is the well-known
    softmax(x_i) - onehot(y_i). :meth:`reference_backward` computes it so.
    ``backward`` runs torch's fused kernels for the two steps (the nll part,
    then log_softmax's chain rule), and a test proves it equal to the
    reference. With few classes on the CPU, forward and backward run
    log_softmax's kernels on the scores laid out classes first, where they
    are faster (see :func:`classes_first_pays`).
    """

    # Class weights and the total weight of the targets do not depend on the scores;
    # log_probs does, but only the values of it are read under create_graph (by the
    # recorded node's forward): its derivatives come from the logits (recorded_backward).
    constants = ("weight", "total", "log_probs")

    def __init__(
        self,
        target,
        weight=None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        self.target, self.weight = target, weight
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing
        # no weights and no smoothing: each row's G is one-hot (CrossEntropyBackward reads it)
        self.plain = weight is None and not label_smoothing and reduction != "none"

    def forward(self, logits):
        self.shape = logits.shape
        self.logits = logits  # for reference_backward
        rows = rows_of(logits)
        self.classes_first = classes_first_pays(rows)
        if self.classes_first:  # the same maths on a faster layout (see classes_first_pays)
            self.log_probs = torch.log_softmax(rows.t().contiguous(), 0).t()
        else:
            self.log_probs = torch.log_softmax(rows, 1)
        enum = _REDUCTION_ENUM[self.reduction]
        out, self.total = _nll_forward(
            self.log_probs, flat(self.target), self.weight, enum, self.ignore_index
        )
        eps = self.label_smoothing
        if eps:
            out = (1 - eps) * out + (eps / self.log_probs.shape[1]) * self._smooth_loss()
        return out.reshape(self.target.shape) if self.reduction == "none" else out

    def _smooth_loss(self):
        """-sum_c w_c z_ic per row (0 for an ignored row), reduced as the loss."""
        z = self.log_probs if self.weight is None else self.log_probs * self.weight
        smooth = -z.sum(1).masked_fill_(flat(self.target) == self.ignore_index, 0)
        if self.reduction == "none":
            return smooth
        return smooth.sum() / self.total if self.reduction == "mean" else smooth.sum()

    def backward(self, grad_output):
        eps, enum = self.label_smoothing, _REDUCTION_ENUM[self.reduction]
        nll_grad = grad_output.reshape(-1) if self.reduction == "none" else grad_output
        grad_z = _nll_backward(
            nll_grad * (1 - eps) if eps else nll_grad,
            self.log_probs, flat(self.target), self.weight, enum, self.ignore_index, self.total,
        )  # fmt: skip
        if eps:
            grad_z = grad_z - self._smoothing_grad(grad_output)
        log_probs, dtype = self.log_probs, self.log_probs.dtype
        if self.classes_first:  # (C, M) copies in, the rows' layout out, as forward
            grad = _log_softmax_backward(grad_z.t().contiguous(), log_probs.t(), 0, dtype)
            grad = grad.t().contiguous()
        else:
            grad = _log_softmax_backward(grad_z, log_probs, 1, dtype)
        return (unrows(grad, self.shape),)

    def every_row_counts(self) -> bool:
        """No row is ignored: then with no weights each row's G is exactly one-hot."""
        return bool((self.target != self.ignore_index).all())

    def _smoothing_grad(self, grad_output):
        """(eps / C) v_i w_c times each row's share of the output gradient."""
        classes = self.log_probs.shape[1]
        valid = (self.target.reshape(-1, 1) != self.ignore_index).to(grad_output.dtype)
        weights = valid if self.weight is None else valid * self.weight
        scale = per_row_scale(grad_output, self.reduction, self.total)
        return weights * scale * (self.label_smoothing / classes)

    def reference_backward(self, grad_output):
        """The readable form of ``backward``: the formula in the class docstring.

        Written on the logits (a Variable under create_graph), so it is recorded.
        """
        g, valid = self._targets(grad_output.dtype)
        softmax = rows_of(self.logits).softmax(1)
        scale = per_row_scale(grad_output, self.reduction, self.total)
        grad = (softmax * g.sum(1, keepdim=True) - g) * scale
        return (unrows(grad.where(valid, 0.0), self.shape),)

    def recorded_backward(self, grad_output):
        """backward as one node, CrossEntropyBackward, whose own backward is written out
        (what create_graph records: one node where the formula would make five)."""
        return (apply_gate(CrossEntropyBackward(self), grad_output, self.logits),)

    def jvp(self, t):
        g, _ = self._targets(t.dtype)
        slope = self.log_probs.exp() * g.sum(1, keepdim=True) - g  # each row's dL_i/dx_i
        per_row = (slope * rows_of(t)).sum(1)
        return reduce_rows(per_row, self.reduction, self.total, self.target.shape)

    def _targets(self, dtype) -> tuple:
        """g, the (M, C) weights of -z in each row's loss, and which rows count (M, 1):
        g_ic = (1 - eps) v_i w_{y_i} [c == y_i] + (eps / C) v_i w_c. Constants."""
        eps = self.label_smoothing
        targets = self.target.reshape(-1, 1)
        valid = targets != self.ignore_index
        safe = targets.masked_fill(~valid, 0)
        class_weight = valid.to(dtype)
        if self.weight is not None:
            class_weight = class_weight * self.weight[safe]
        rows = (targets.shape[0], classes_of(self.shape))
        g = torch.zeros(rows, dtype=dtype, device=targets.device)
        g.scatter_(1, safe, (1 - eps) * class_weight)
        if eps:
            smooth = valid.to(g.dtype) if self.weight is None else valid * self.weight
            g = g + (eps / g.shape[1]) * smooth
        return g, valid

    def explain(self, tensors, error):
        return explain_targets("cross_entropy", tensors[0], self.target, self.ignore_index, error)


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
):
    """Softmax cross-entropy of scores against class indices or class probabilities,
    as torch.nn.functional.cross_entropy (see the module docstring)."""
    check_reduction("cross_entropy", reduction, size_average, reduce)
    indices = target.__class__ is torch.Tensor and target.dtype is torch.int64  # the usual
    probabilities = (
        not indices
        and isinstance(target, (Variable, torch.Tensor))
        and target.dtype.is_floating_point
        and tuple(target.shape) == tuple(input.shape)
    )  # class probabilities: float targets shaped like the scores
    if probabilities:
        if weight is not None:
            check_weight("cross_entropy", input, weight)
            weight = constant("cross_entropy", "weight", weight)
        return SoftCrossEntropy(weight, reduction, label_smoothing)(input, target)
    target, weight = class_targets("cross_entropy", input, target, weight)
    return CrossEntropy(target, weight, ignore_index, reduction, label_smoothing)(input)


def nll_loss(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
):
    """Negative log-likelihood of log-probabilities against class indices,
    as torch.nn.functional.nll_loss (see the module docstring)."""
    check_reduction("nll_loss", reduction, size_average, reduce)
    target, weight = class_targets("nll_loss", input, target, weight)
    return NLLLoss(target, weight, ignore_index, reduction)(input)
