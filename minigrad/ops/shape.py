"""Shape ops: reshape, transpose, permute, squeeze, expand, indexing, cat, stack, split.

None of these changes a value; they only move values around. So each
backward moves the gradient back the same way: reshape it back, transpose it
back, put each slice back where it came from.
"""

from __future__ import annotations

import torch

from minigrad.errors import ShapeError, format_shape
from minigrad.gate import Gate
from minigrad.ops.broadcast import sum_to_shape


class Reshape(Gate):
    """y = x with a new shape (same elements, same order).   dx = dy reshaped back."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, grad_output):
        return (grad_output.reshape(self.in_shape),)

    def explain(self, tensors, error):
        x = tensors[0]
        return ShapeError(
            f"reshape: cannot view {x.numel()} elements of shape {format_shape(x.shape)} as "
            f"shape {format_shape(self.shape)}\n"
            "help: the new shape must hold the same number of elements; use -1 for one "
            "dimension to have it computed"
        )


class Transpose(Gate):
    """y = x with dimensions ``dim0`` and ``dim1`` swapped.   dx = dy swapped back."""

    def __init__(self, dim0: int, dim1: int):
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def backward(self, grad_output):
        return (grad_output.transpose(self.dim0, self.dim1),)


class Permute(Gate):
    """y = x with its dimensions reordered.   dx = dy with the inverse order."""

    def __init__(self, dims):
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(self.dims)

    def backward(self, grad_output):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d % len(self.dims)] = i
        return (grad_output.permute(inverse),)


class Squeeze(Gate):
    """y = x without size-1 dimensions (or only ``dim``).   dx = dy reshaped back."""

    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, x):
        self.in_shape = x.shape
        return x.squeeze() if self.dim is None else x.squeeze(self.dim)

    def backward(self, grad_output):
        return (grad_output.reshape(self.in_shape),)


class Unsqueeze(Gate):
    """y = x with a new size-1 dimension at ``dim``.   dx = dy reshaped back."""

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.in_shape = x.shape
        return x.unsqueeze(self.dim)

    def backward(self, grad_output):
        return (grad_output.reshape(self.in_shape),)


class Expand(Gate):
    """y = x broadcast to ``sizes``.   dx = dy summed over the stretched dimensions."""

    def __init__(self, sizes):
        self.sizes = tuple(sizes)

    def forward(self, x):
        self.in_shape = x.shape
        return x.expand(self.sizes)

    def backward(self, grad_output):
        return (sum_to_shape(grad_output, self.in_shape),)


class Index(Gate):
    """y = x[key] (slices, integers, None, ..., index tensors).

    dx = zeros shaped like x, with dy added back at the positions it was read
    from; a position read twice (``x[[0, 0]]``) gets both gradients.
    """

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.key]

    def explain(self, tensors, error):
        if isinstance(error, IndexError):  # already says which index is out of range
            return IndexError(
                f"indexing a Variable of shape {format_shape(tensors[0].shape)}: {error}"
            )
        return super().explain(tensors, error)

    def backward(self, grad_output):
        grad = torch.zeros(self.in_shape, dtype=grad_output.dtype, device=grad_output.device)
        if _is_basic(self.key):
            grad[self.key] = grad_output  # each position appears at most once
            return (grad,)
        # Advanced indexing may repeat positions: find which flat position each
        # output element came from, then add (not assign) the gradients there.
        positions = torch.arange(grad.numel(), device=grad.device).reshape(self.in_shape)
        positions = positions[self.key].reshape(-1)
        grad.view(-1).index_add_(0, positions, grad_output.reshape(-1))
        return (grad,)


def _is_basic(key) -> bool:
    """True for keys made only of ints, slices, None and Ellipsis (no repeats possible)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class Cat(Gate):
    """y = the inputs joined along ``dim``.   Each dx_k = the slice of dy that came from x_k."""

    def __init__(self, dim: int = 0):
        self.dim = dim

    def forward(self, *tensors):
        self.sizes = [t.shape[self.dim] for t in tensors]
        return torch.cat(tensors, self.dim)

    def backward(self, grad_output):
        pieces = torch.split(grad_output, self.sizes, self.dim)
        return tuple(p if need else None for p, need in zip(pieces, self.needs_input_grad))

    def explain(self, tensors, error):
        shapes = " and ".join(format_shape(t.shape) for t in tensors)
        return ShapeError(
            f"cat: shapes {shapes} cannot be joined along dim {self.dim}\n"
            f"help: all dimensions except dim {self.dim} must be equal"
        )


class Stack(Gate):
    """y = the inputs stacked along a new dimension ``dim``.   dx_k = dy[..., k, ...]."""

    def __init__(self, dim: int = 0):
        self.dim = dim

    def forward(self, *tensors):
        return torch.stack(tensors, self.dim)

    def backward(self, grad_output):
        pieces = torch.unbind(grad_output, self.dim)
        return tuple(p if need else None for p, need in zip(pieces, self.needs_input_grad))

    def explain(self, tensors, error):
        shapes = " and ".join(format_shape(t.shape) for t in tensors)
        return ShapeError(
            f"stack: shapes {shapes} differ\nhelp: stacked tensors must all have the same shape"
        )


class Split(Gate):
    """(y_1, ..., y_k) = x cut along ``dim`` into pieces of the given sizes.

    dx = the pieces' gradients joined back (an unused piece contributes zeros).
    """

    def __init__(self, sizes, dim: int = 0):
        self.sizes, self.dim = list(sizes), dim

    def forward(self, x):
        return torch.split(x, self.sizes, self.dim)

    def backward(self, grad_output):
        return (torch.cat(grad_output, self.dim),)


def reshape(x, *shape):
    """Same elements, new shape; one dimension may be -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    return Reshape(shape)(x)


view = reshape


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge dimensions start_dim..end_dim into one."""
    dims = list(x.shape)
    start, end = start_dim % max(len(dims), 1), end_dim % max(len(dims), 1)
    size = 1
    for d in dims[start : end + 1]:
        size *= d
    return Reshape(dims[:start] + [size] + dims[end + 1 :])(x)


def transpose(x, dim0: int, dim1: int):
    """Swap two dimensions."""
    return Transpose(dim0, dim1)(x)


def permute(x, *dims):
    """Reorder the dimensions."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = dims[0]
    return Permute(dims)(x)


def squeeze(x, dim=None):
    """Drop size-1 dimensions (or only ``dim``)."""
    return Squeeze(dim)(x)


def unsqueeze(x, dim: int):
    """Insert a size-1 dimension at ``dim``."""
    return Unsqueeze(dim)(x)


def expand(x, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dimension)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = sizes[0]
    return Expand(sizes)(x)


def index(x, key):
    """x[key]: basic and advanced indexing."""
    from minigrad.variable import Variable

    if isinstance(key, Variable):
        key = key.value
    elif isinstance(key, tuple):
        key = tuple(k.value if isinstance(k, Variable) else k for k in key)
    return Index(key)(x)


def cat(tensors, dim: int = 0):
    """Join a sequence of Variables along an existing dimension."""
    return Cat(dim)(*tensors)


def stack(tensors, dim: int = 0):
    """Stack a sequence of same-shaped Variables along a new dimension."""
    return Stack(dim)(*tensors)


def split(x, split_size_or_sections, dim: int = 0):
    """Cut x into pieces of ``split_size`` (the last may be smaller) or of the listed sizes."""
    length = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        sizes = [min(step, length - start) for start in range(0, length, step)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise ShapeError(
                f"split: sizes {sizes} add up to {sum(sizes)}, but dim {dim} "
                f"has size {length}\nhelp: the sizes must add up to {length}"
            )
    return Split(sizes, dim)(x)


def chunk(x, chunks: int, dim: int = 0):
    """Cut x into ``chunks`` pieces along ``dim`` (as torch.chunk: equal, the last smaller)."""
    length = x.shape[dim]
    step = -(-length // chunks)
    return split(x, step, dim)
