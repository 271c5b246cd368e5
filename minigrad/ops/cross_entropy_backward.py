"""cross_entropy's backward as one node, so that create_graph records it whole.

cross_entropy is a fused gate (log_softmax and the negative log-likelihood in
one), and its backward is fused too: row by row,

    grad_i = (softmax(x_i) * gsum_i - G_i) * scale_i(g)

with G the (constant) weights of each class in row i's loss, gsum_i = sum_c
G_ic, and scale_i the share of the output gradient g the row gets. Recorded
as the ops of that formula it would be five nodes; as one node its own
backward is written out here. With A the gradient arriving at grad (A_i
its row) and s_i = softmax(x_i):

    d/dg:   each row's <A_i, s_i gsum_i - G_i>, reduced as the loss is
            (grad is linear in g: this is cross_entropy's jvp along A);
    d/dx_i: scale_i gsum_i * s_i (A_i - <A_i, s_i>)   (softmax's Jacobian,
            which is symmetric, applied to A_i).

Both are written with operations Variables share, so a third derivative
records this node's backward in its turn. s is softmax(x) itself there (the
logits are a stand-in, and the softmax is recorded); on plain tensors it is
exp of the log-softmax the loss already holds, the same numbers in one cheap
kernel (softmax of a few classes per row is a slow one).
"""

from __future__ import annotations

from minigrad.gate import Gate
from minigrad.ops.class_rows import per_row_scale, reduce_rows, rows_of, unrows
from minigrad.ops.tangents import total
from minigrad.variable import Variable


class CrossEntropyBackward(Gate):
    """dL/dx of cross_entropy(x, target), from the output gradient g and the scores x."""

    def __init__(self, loss):
        self.loss = loss  # the CrossEntropy gate: targets, weights, reduction

    def forward(self, grad_output, logits):
        self.grad_output, self.logits = grad_output, logits
        return self.loss.backward(grad_output)[0]  # its fast path: the same numbers

    def backward(self, grad_input):
        need_g, need_x = self.needs_input_grad
        loss = self.loss
        softmax = self._softmax()
        arriving = rows_of(grad_input)
        if not need_g and loss.plain and loss.every_row_counts():  # the usual case: G one-hot
            arriving = arriving * per_row_scale(self.grad_output, loss.reduction, loss.total)
            moved = softmax * (arriving - (arriving * softmax).sum(1, keepdim=True))
            return None, unrows(moved, loss.shape)
        weights, valid = loss._targets(grad_input.dtype)
        gsum = weights.sum(1, keepdim=True)
        grad_g = grad_x = None
        if need_g:
            per_row = ((softmax * gsum - weights) * arriving).sum(1)
            grad_g = reduce_rows(per_row, loss.reduction, loss.total, loss.target.shape)
        if need_x:
            moved = softmax * (arriving - (arriving * softmax).sum(1, keepdim=True))
            scale = per_row_scale(self.grad_output, loss.reduction, loss.total)
            grad_x = unrows((moved * gsum * scale).where(valid, 0.0), loss.shape)
        return grad_g, grad_x

    def jvp(self, tg, tx):
        loss = self.loss
        like = tg if tg is not None else tx
        weights, valid = loss._targets(like.dtype)
        softmax = self._softmax()
        gsum = weights.sum(1, keepdim=True)
        moved_by_g = moved_by_x = None
        if tg is not None:
            scale = per_row_scale(tg, loss.reduction, loss.total)
            moved_by_g = ((softmax * gsum - weights) * scale).where(valid, 0.0)
        if tx is not None:
            rows = rows_of(tx)
            scale = per_row_scale(self.grad_output, loss.reduction, loss.total)
            moved = softmax * (rows - (rows * softmax).sum(1, keepdim=True))
            moved_by_x = (moved * gsum * scale).where(valid, 0.0)
        return unrows(total(moved_by_g, moved_by_x), loss.shape)

    def _softmax(self):
        """s = softmax(x), row by row: recorded from the logits when they are a stand-in
        (create_graph), else exp of the loss's log-softmax (see the module docstring)."""
        if isinstance(self.logits, Variable):
            return rows_of(self.logits).softmax(1)
        return self.loss.log_probs.exp()
