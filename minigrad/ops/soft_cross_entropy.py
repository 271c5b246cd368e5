"""Cross-entropy against class probabilities (soft targets): both inputs get a gradient.

Scores have the classes in dimension 1, as for ``cross_entropy`` (see
``ops/losses.py``); the targets have the scores' shape, each row a
distribution over the classes (e.g. from a teacher model, or mixed labels).
"""

from __future__ import annotations

import torch

from minigrad.gate import Gate
from minigrad.ops.class_rows import (
    batch_shape,
    classes_of,
    per_row_scale,
    reduce_rows,
    rows_of,
    unrows,
)
from minigrad.ops.tangents import total


class SoftCrossEntropy(Gate):
    """Cross-entropy against class probabilities t (same shape as the scores).

    L_i = -sum_c w_c t'_ic z_ic, t' = t (1 - eps) + eps / C, z = log_softmax(x).
    dL_i/dx_i = softmax(x_i) sum_c w_c t'_ic - w t'_i,   dL_i/dt_ic = -(1 - eps) w_c z_ic.
    """

    constants = ("weight",)

    def __init__(self, weight=None, reduction: str = "mean", label_smoothing: float = 0.0):
        self.weight, self.reduction, self.label_smoothing = weight, reduction, label_smoothing

    def forward(self, logits, target):
        self.shape = logits.shape
        self.logits, self.target = logits, target
        self.log_probs = torch.log_softmax(rows_of(logits), 1)
        losses = -(self.log_probs * self._weighted()).sum(1)
        self.rows = losses.shape[0]
        return reduce_rows(losses, self.reduction, self.rows, batch_shape(self.shape))

    def backward(self, grad_output):
        return self._gradients(grad_output, self.log_probs)

    def reference_backward(self, grad_output):
        """backward with log_softmax computed again from the logits (create_graph records it)."""
        return self._gradients(grad_output, rows_of(self.logits).log_softmax(1))

    def jvp(self, tx, tt):
        z, weighted = self.log_probs, self._weighted()
        moved = None
        if tx is not None:
            rows = rows_of(tx)
            dz = rows - (z.exp() * rows).sum(1, keepdim=True)  # log_softmax's jvp
            moved = -(dz * weighted).sum(1)
        if tt is not None:
            w = 1 if self.weight is None else self.weight
            moved = total(moved, -(z * rows_of(tt) * w).sum(1) * (1 - self.label_smoothing))
        return reduce_rows(moved, self.reduction, self.rows, batch_shape(self.shape))

    def _weighted(self):
        """w_c t'_ic: the targets smoothed, t' = t (1 - eps) + eps / C, then weighted."""
        eps, classes = self.label_smoothing, classes_of(self.shape)
        target = rows_of(self.target)
        smoothed = target * (1 - eps) + eps / classes if eps else target
        return smoothed if self.weight is None else smoothed * self.weight

    def _gradients(self, grad_output, log_probs) -> tuple:
        need_x, need_t = self.needs_input_grad
        scale = per_row_scale(grad_output, self.reduction, self.rows)
        grad_x = grad_t = None
        if need_x:
            weighted = self._weighted()
            grad_x = (log_probs.exp() * weighted.sum(1, keepdim=True) - weighted) * scale
            grad_x = unrows(grad_x, self.shape)
        if need_t:
            z = log_probs if self.weight is None else log_probs * self.weight
            grad_t = unrows(-(1 - self.label_smoothing) * z * scale, self.shape)
        return grad_x, grad_t
