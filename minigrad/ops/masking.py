"""Masking: masked_fill, and the triangles tril and triu.

Attention needs them: a causal language model may not look ahead, so every
score of a later position is replaced before the softmax (masked_fill with
-inf), and the mask itself is a triangle of the (T, T) score matrix (tril).
A replaced value does not depend on the input any more, so its gradient is
0; every other value passes its gradient through unchanged.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import boolean_mask
from minigrad.ops.broadcast import BroadcastingGate, sum_to_shape
from minigrad.ops.tangents import total
from minigrad.variable import Variable


class MaskedFill(BroadcastingGate, Gate):
    """y = value where mask else x (mask and x broadcast together, as torch).

    dL/dx = G where not mask, 0 where mask (summed back to x's shape);
    dL/dvalue = the sum of G where mask, when value is a 0-dim Variable.
    """

    def __init__(self, mask: torch.Tensor):
        self.mask = mask

    def forward(self, x, value):
        self.x_shape = x.shape
        out = torch.masked_fill(x, self.mask, value)
        self.out_shape = out.shape
        return out

    def backward(self, grad_output):
        need_x = self.needs_input_grad[0]
        need_value = len(self.needs_input_grad) > 1 and self.needs_input_grad[1]
        grad_x = grad_value = None
        if need_x:
            grad_x = sum_to_shape(grad_output.masked_fill(self.mask, 0.0), self.x_shape)
        if need_value:
            grad_value = grad_output.masked_fill(~self.mask, 0.0).sum()
        return grad_x, grad_value

    def jvp(self, tx, tvalue=None):
        """x's tangent where the mask is False, the value's where it is True."""
        moved = None if tx is None else tx.masked_fill(self.mask, 0.0).expand(self.out_shape)
        if tvalue is not None:
            filled = torch.zeros(self.out_shape, dtype=tvalue.dtype, device=tvalue.device)
            moved = total(moved, filled.masked_fill(self.mask, 1.0) * tvalue)
        return moved


class Tril(Gate):
    """y = x with every element above diagonal ``diagonal`` set to 0 (of the last two dims).

    dL/dx = tril(G): the kept elements pass their gradient, the zeroed ones get none.
    ``upper=True`` is triu: the elements *below* the diagonal are zeroed.
    """

    def __init__(self, diagonal: int = 0, upper: bool = False):
        self.diagonal, self.upper = diagonal, upper

    @property
    def name(self) -> str:
        return "Triu" if self.upper else "Tril"

    def forward(self, x):
        return x.triu(self.diagonal) if self.upper else x.tril(self.diagonal)

    def backward(self, grad_output):
        keep = grad_output.triu if self.upper else grad_output.tril
        return (keep(self.diagonal),)

    def jvp(self, t):  # linear: the same triangle of the tangent
        return t.triu(self.diagonal) if self.upper else t.tril(self.diagonal)


def masked_fill(input, mask, value):
    """``value`` where ``mask`` is True, else ``input``, as torch.masked_fill.

    ``mask`` is a boolean tensor that broadcasts with ``input``; ``value`` a
    number, or a 0-dim tensor or Variable (which then gets a gradient).
    """
    mask = boolean_mask(
        "masked_fill", "mask", mask, "scores.masked_fill(causal == 0, float('-inf'))"
    )
    if isinstance(value, (Variable, torch.Tensor)) and value.ndim != 0:
        raise ArgumentError(
            message(
                "masked_fill",
                "a number or a 0-dim tensor as the value",
                f"a value of shape {format_shape(value.shape)}",
                "use where(mask, values, input) to fill from a tensor of values",
            )
        )
    return MaskedFill(mask)(input, value)


def _triangle(op: str, input, diagonal, upper: bool):
    if input.ndim < 2:
        raise ArgumentError(
            message(
                op,
                "an input with at least 2 dimensions (a matrix, or a batch of them)",
                f"shape {format_shape(input.shape)}",
                "the triangle is taken over the last two dimensions",
            )
        )
    if not isinstance(diagonal, int) or isinstance(diagonal, bool):
        raise ArgumentError(
            message(op, "diagonal to be an int", repr(diagonal), "0 is the main diagonal")
        )
    return Tril(diagonal, upper)(input)


def tril(input, diagonal: int = 0):
    """The lower triangle of the last two dims (on and below ``diagonal``), as torch.tril."""
    return _triangle("tril", input, diagonal, upper=False)


def triu(input, diagonal: int = 0):
    """The upper triangle of the last two dims (on and above ``diagonal``), as torch.triu."""
    return _triangle("triu", input, diagonal, upper=True)
