"""Matrix products: matmul (batched, broadcast) and the fused linear layer.

For Y = A @ B with dL/dY = G, the shapes decide the formulas:

    A: (n, k)   B: (k, m)   G: (n, m)
    dL/dA = G @ B^T   (n, m) @ (m, k) -> (n, k)
    dL/dB = A^T @ G   (k, n) @ (n, m) -> (k, m)

Batch dimensions are broadcast like any element-wise op, so their gradients
are summed back to each input's shape. The formulas use ``@``, ``.transpose``
and ``.reshape`` only, which Variables have too: with ``create_graph=True``
they are recorded as they run. A product is linear in each factor, so its
``jvp`` is dA @ B + A @ dB.
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import DTypeError, ShapeError, format_shape, message
from minigrad.gate import Gate, apply_gate
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.sizes import viewed
from minigrad.ops.tangents import total


class MatMul(Gate):
    """Y = A @ B, as torch.matmul (1-D, 2-D and batched inputs).

    dL/dA = G @ B^T,  dL/dB = A^T @ G (summed over broadcast batch dimensions).

    :meth:`reference_backward` is that formula for every shape, written with
    operations Variables share (``create_graph`` records it); ``backward``
    takes torch's ``mm`` straight for two matrices, the usual case, and
    ``bmm`` for two batches of matrices with the same batch dimensions
    (attention's scores and mixing), on the operands as forward folded them.
    """

    saved_inputs = ("a", "b")  # a batch of products keeps its inputs folded (see forward)

    def forward(self, a, b):
        if a.ndim > 2 and a.shape[:-2] == b.shape[:-2]:  # a batch of products
            # bmm wants one batch dimension. Folding copies an operand whose batch
            # dimensions cannot be read as one (the heads of (B, T, H, D) transposed
            # to (B, H, T, D)); backward reads both operands again, so the folded
            # ones are kept, in the inputs' shapes: the copy is made once, not twice.
            a3, b3 = _folded(a), _folded(b)
            self.a, self.b = viewed(a3, a.shape), viewed(b3, b.shape)
            return torch.bmm(a3, b3).view(*a.shape[:-1], b.shape[-1])
        self.a, self.b = a, b
        return torch.matmul(a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        a, b, g = self.a, self.b, grad_output
        if a.ndim == 2 and b.ndim == 2:  # two matrices, the usual case: nothing to sum back
            return (g.mm(b.t()) if need_a else None, a.t().mm(g) if need_b else None)
        if a.ndim > 2 and a.shape[:-2] == b.shape[:-2]:  # a batch of products: bmm
            a3, b3, g3 = _folded(a), _folded(b), _folded(g)  # (views: forward folded a, b)
            return (
                viewed(torch.bmm(g3, b3.transpose(1, 2)), a.shape) if need_a else None,
                viewed(torch.bmm(a3.transpose(1, 2), g3), b.shape) if need_b else None,
            )
        # torch.matmul copies an operand whose batch dimensions cannot be read as one
        # (attention's heads, (B, T, H, D) transposed to (B, H, T, D)); the formula reads
        # the gradient twice, so such a gradient is copied once here instead.
        return self.reference_backward(_batch_folded(grad_output))

    def reference_backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        a, b, g = self.a, self.b, grad_output
        # A vector is a matrix with one row (a) or one column (b); the
        # output lost that dimension, so the gradient gets it back.
        a2 = a.unsqueeze(0) if a.ndim == 1 else a
        b2 = b.unsqueeze(-1) if b.ndim == 1 else b
        if a.ndim == 1:
            g = g.unsqueeze(-2) if g.ndim >= 1 else g.unsqueeze(0)
        if b.ndim == 1:
            g = g.unsqueeze(-1)
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to_shape(g @ b2.transpose(-1, -2), a2.shape).reshape(a.shape)
        if need_b:
            grad_b = sum_to_shape(a2.transpose(-1, -2) @ g, b2.shape).reshape(b.shape)
        return grad_a, grad_b

    def jvp(self, ta, tb):
        return total(
            None if ta is None else torch.matmul(ta, self.b),
            None if tb is None else torch.matmul(self.a, tb),
        )

    def explain(self, tensors, error):
        a, b = tensors
        dtype_error = _integer_inputs("matmul", tensors)
        if dtype_error is not None:
            return dtype_error
        if a.ndim == 0 or b.ndim == 0:
            return ShapeError(
                message(
                    "matmul",
                    "inputs with at least one dimension each",
                    f"shapes {format_shape(a.shape)} and {format_shape(b.shape)}",
                    "use * to multiply by a scalar",
                )
            )
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            return ShapeError(
                f"matmul: shapes {format_shape(a.shape)} and {format_shape(b.shape)} do not line "
                f"up: the {inner_a} in the first must equal the {inner_b} in the second "
                f"(expected (n, {inner_a}) @ ({inner_a}, m), got {inner_a} and {inner_b})\n"
                "help: transpose one of them (x.T) or check the layer sizes"
            )
        return ShapeError(
            message(
                "matmul",
                "batch dimensions (all but the last two) that broadcast",
                f"shapes {format_shape(a.shape)} and {format_shape(b.shape)}",
                "all dimensions except the last two must be equal or 1",
            )
        )


class Linear(Gate):
    """y = x @ W^T + b, for x (..., in), W (out, in), b (out,).

    dL/dx = G @ W,   dL/dW = G^T @ x,   dL/db = sum of G over the batch.

    One fused gate instead of matmul, transpose and add: three fewer nodes
    on the tape and one matrix kernel (addmm) forward, which matters for
    small layers where per-op overhead dominates.
    """

    def forward(self, x, weight, bias=None):
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        self.x = x if need_w else None
        self.weight = weight if need_x else None
        return torch.nn.functional.linear(x, weight, bias)

    def backward(self, grad_output):
        grads = _linear_grads(self.needs_input_grad, grad_output, self.x, self.weight)
        return grads if len(self.needs_input_grad) > 2 else grads[:2]

    def recorded_backward(self, grad_output):
        """backward as one node, LinearBackward, whose own backward is known in closed
        form (what create_graph records: one node where the formula would make four)."""
        needs = self.needs_input_grad
        gate = LinearBackward(needs)
        sent = apply_gate(gate, grad_output, self.x, self.weight)
        sent = sent if isinstance(sent, tuple) else (sent,)
        grads = [None] * len(needs)
        for position, g in zip(gate.positions, sent):
            grads[position] = g
        return tuple(grads)

    def jvp(self, tx, tw, tb=None):
        linear = torch.nn.functional.linear
        return total(
            None if tx is None else linear(tx, self.weight),
            None if tw is None else linear(self.x, tw),
            tb,
        )

    def explain(self, tensors, error):
        x, weight = tensors[0], tensors[1]
        dtype_error = _integer_inputs("linear", tensors)
        if dtype_error is not None:
            return dtype_error
        if x.ndim and weight.ndim and x.shape[-1] != weight.shape[-1]:
            return ShapeError(
                message(
                    "linear",
                    f"an input with {weight.shape[-1]} features (the weight is "
                    f"{format_shape(weight.shape)})",
                    f"{x.shape[-1]} features in input {format_shape(x.shape)}",
                    "the layer's in_features must equal the input's last dimension",
                )
            )
        return ShapeError(
            message(
                "linear",
                "an input (..., in_features), a weight (out_features, in_features) and a bias "
                "(out_features,)",
                ", ".join(format_shape(t.shape) for t in tensors if t is not None),
                "check the bias: it has one value per output feature",
            )
        )


class LinearBackward(Gate):
    """(dL/dx, dL/dW, dL/db) = (G W, G^T x, sum of G over the batch): Linear's backward.

    It is linear in G and in (x, W), so its own backward is known: with A, B,
    c the gradients arriving at its three outputs,

        d/dG = A W^T + x B^T + c   (Linear's jvp, with A, B, c as tangents)
        d/dx = G B,   d/dW = G^T A.

    Only the gradients the Linear needs (``needs``) are outputs.
    """

    def __init__(self, needs: tuple):
        self.needs = tuple(needs) + (False,) * (3 - len(needs))

    def forward(self, g, x, weight):
        self.g, self.x, self.weight = g, x, weight
        grads = _linear_grads(self.needs, g, x, weight)
        self.positions = tuple(i for i, t in enumerate(grads) if t is not None)
        picked = tuple(grads[i] for i in self.positions)
        return picked[0] if len(picked) == 1 else picked

    def backward(self, grad_output):
        arriving = dict(
            zip(self.positions, grad_output if len(self.positions) > 1 else (grad_output,))
        )
        a, b, c = arriving.get(0), arriving.get(1), arriving.get(2)
        need_g, need_x, need_w = self.needs_input_grad
        g, x, weight = self.g, self.x, self.weight
        grad_g = grad_x = grad_w = None
        if need_g:  # A W^T + (x B^T + c): the second term is one linear, bias and all
            if b is not None:
                by_xw = _linear(x, b) if c is None else _linear(x, b, c)
            else:
                by_xw = None if c is None else c.expand(g.shape)
            grad_g = total(None if a is None else _linear(a, weight), by_xw)
        if need_x and b is not None:
            grad_x = g @ b
        if need_w and a is not None:
            grad_w = _rows(g).t() @ _rows(a)
        return grad_g, grad_x, grad_w

    def jvp(self, tg, tx, tw):
        need_x, need_w, need_b = self.needs
        moved_by_g = (
            (None,) * 3 if tg is None else _linear_grads(self.needs, tg, self.x, self.weight)
        )
        moved_by_xw = _linear_grads(
            (need_x and tw is not None, need_w and tx is not None, False), self.g, tx, tw
        )
        moved = [total(a, b) for a, b in zip(moved_by_g, moved_by_xw)]
        picked = tuple(moved[i] for i in self.positions)
        return picked[0] if len(picked) == 1 else picked


def _linear_grads(needs, g, x, weight) -> tuple:
    """(G W, G^T x, sum of G) of y = x W^T + b, each only where ``needs`` asks (else None)."""
    need_x, need_w = needs[0], needs[1]
    need_b = len(needs) > 2 and needs[2]
    if need_x:  # (mm straight for a batch of rows, the usual case: matmul is one call more)
        grad_x = g.mm(weight) if g.ndim == 2 else g @ weight
    else:
        grad_x = None
    g2 = _rows(g)
    grad_w = g2.t().mm(_rows(x)) if need_w else None
    grad_b = g2.sum(0) if need_b else None
    return grad_x, grad_w, grad_b


def _rows(t):
    """(..., k) as (n, k): the batch dimensions flattened."""
    return t.reshape(-1, t.shape[-1]) if t.ndim != 2 else t


def _linear(x, weight, *bias):
    """x W^T (+ b), on tensors or (recorded) on Variables."""
    return apply_gate(Linear(), x, weight, *bias)


def _folded(t: torch.Tensor) -> torch.Tensor:
    """(..., n, k) as (batch, n, k): the batch dimensions as one (a copy if they cannot be)."""
    return t.reshape(math.prod(t.shape[:-2]), t.shape[-2], t.shape[-1])


def _batch_folded(t: torch.Tensor) -> torch.Tensor:
    """``t``, or a contiguous copy when its batch dimensions (all but the last two) cannot
    be read as one dimension without a copy. The values are the same either way."""
    if t.ndim < 4:  # at most one batch dimension: nothing to fold
        return t
    sizes, strides = t.shape, t.stride()
    for i in range(t.ndim - 3):
        if sizes[i] > 1 and sizes[i + 1] > 1 and strides[i] != strides[i + 1] * sizes[i + 1]:
            return t.contiguous()
    return t


def _integer_inputs(op: str, tensors) -> DTypeError | None:
    """A DTypeError when an integer or boolean tensor meets a matrix product."""
    dtypes = [t.dtype for t in tensors if isinstance(t, torch.Tensor)]
    if all(d.is_floating_point or d.is_complex for d in dtypes):
        return None
    listed = " and ".join(str(d) for d in dtypes)
    return DTypeError(
        message(
            op,
            "floating-point inputs (this op computes in floating point)",
            listed,
            "convert the data first, e.g. x.float(), or x.float() / 255 for uint8 pixels",
        )
    )


def matmul(input, other):
    """Matrix product, as torch.matmul (with batch broadcasting)."""
    return MatMul()(input, other)


def linear(input, weight, bias=None):
    """x @ weight.T + bias, as torch.nn.functional.linear."""
    if bias is None:
        return Linear()(input, weight)
    return Linear()(input, weight, bias)
