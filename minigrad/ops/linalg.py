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

import torch

from minigrad.errors import DTypeError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.tangents import total


class MatMul(Gate):
    """Y = A @ B, as torch.matmul (1-D, 2-D and batched inputs).

    dL/dA = G @ B^T,  dL/dB = A^T @ G (summed over broadcast batch dimensions).
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        return torch.matmul(a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        a, b, g = self.a, self.b, grad_output
        if a.ndim == 2 and b.ndim == 2:  # two matrices, the usual case: nothing to sum back
            return (g.mm(b.t()) if need_a else None, a.t().mm(g) if need_b else None)
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
        need_x, need_w = self.needs_input_grad[0], self.needs_input_grad[1]
        need_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
        g = grad_output
        grad_x = g @ self.weight if need_x else None
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        grad_w = grad_b = None
        if need_w:
            x2 = self.x.reshape(-1, self.x.shape[-1]) if self.x.ndim != 2 else self.x
            grad_w = g2.t() @ x2
        if need_b:
            grad_b = g2.sum(0)
        return (grad_x, grad_w, grad_b) if len(self.needs_input_grad) > 2 else (grad_x, grad_w)

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
