"""Picking values by index: gather and index_select.

Both read some elements of x (perhaps several times) and ignore the rest.
So the gradient of x is zeros, with each output's gradient *added* at the
place it was read from: an element read twice gets both gradients, one
never read gets 0. That is a scatter-add, the mirror image of the gather.
"""

from __future__ import annotations

import torch

from minigrad.errors import (
    DTypeError,
    OutOfRangeError,
    ShapeError,
    UnsupportedArgumentError,
    format_shape,
    message,
)
from minigrad.gate import Gate
from minigrad.ops.arguments import dim_index
from minigrad.ops.sizes import zeros_like_shape
from minigrad.variable import Variable

_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class Gather(Gate):
    """y[i][j] = x[index[i][j]][j] for dim 0, x[i][index[i][j]] for dim 1, and so on.

    dL/dx = zeros shaped like x, scatter-added with G at the positions ``index`` names.
    Linear in x: its tangent is gathered the same way.
    """

    piecewise_linear = True

    def __init__(self, dim: int, index: torch.Tensor):
        self.dim, self.index = dim, index

    def forward(self, x):
        self.in_shape = x.shape
        return torch.gather(x, self.dim, self.index)

    def backward(self, grad_output):
        zeros = zeros_like_shape(grad_output, self.in_shape)
        return (zeros.scatter_add(self.dim, self.index.long(), grad_output),)

    def jvp(self, t):
        return torch.gather(t, self.dim, self.index)

    def explain(self, tensors, error):
        return _explain_index("gather", tensors[0], self.dim, self.index, error)


class IndexSelect(Gate):
    """y = the slices x[..., index[k], ...] along ``dim``, in the order of ``index``.

    dL/dx = zeros shaped like x, with slice k of G added back at slice index[k].
    Linear in x: its tangent is selected the same way.
    """

    piecewise_linear = True

    def __init__(self, dim: int, index: torch.Tensor):
        self.dim, self.index = dim, index

    def forward(self, x):
        self.in_shape = x.shape
        return torch.index_select(x, self.dim, self.index)

    def backward(self, grad_output):
        zeros = zeros_like_shape(grad_output, self.in_shape)
        return (zeros.index_add(self.dim, self.index, grad_output),)

    def jvp(self, t):
        return torch.index_select(t, self.dim, self.index)

    def explain(self, tensors, error):
        return _explain_index("index_select", tensors[0], self.dim, self.index, error)


def _explain_index(op: str, x, dim: int, index, error):
    size = x.shape[dim] if x.ndim else 1
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        return OutOfRangeError(
            message(
                op,
                f"indices in [0, {size}) along dim {dim} of an input of shape "
                f"{format_shape(x.shape)}",
                f"indices from {int(index.min())} to {int(index.max())}",
                "an index counts the positions along dim, from 0",
            )
        )
    return ShapeError(
        message(
            op,
            f"an index that fits the input {format_shape(x.shape)}",
            f"an index of shape {format_shape(index.shape)}",
            "gather's index has as many dimensions as the input, each no larger than the "
            "input's except along dim",
        )
    )


def _as_index(op: str, index) -> torch.Tensor:
    index = index.value if isinstance(index, Variable) else torch.as_tensor(index)
    if index.dtype not in _INDEX_DTYPES:
        raise DTypeError(
            message(op, "integer indices", f"dtype {index.dtype}", "convert them with .long()")
        )
    return index


def gather(input, dim: int, index, *, sparse_grad: bool = False):
    """Values of ``input`` picked along ``dim`` by ``index``, as torch.gather."""
    if sparse_grad:
        raise UnsupportedArgumentError(
            "gather", "sparse_grad", sparse_grad, "minigrad's gradients are dense tensors"
        )
    index = _as_index("gather", index)
    return Gather(dim_index("gather", dim, input.ndim), index)(input)


def index_select(input, dim: int, index):
    """The slices of ``input`` along ``dim`` listed in the 1-D ``index``, as torch.index_select."""
    index = _as_index("index_select", index)
    if index.ndim > 1:
        raise ShapeError(
            message(
                "index_select",
                "a 1-D (or 0-dim) index",
                f"an index of shape {format_shape(index.shape)}",
                "flatten it, or use gather for an index per element",
            )
        )
    return IndexSelect(dim_index("index_select", dim, input.ndim), index)(input)
