"""Shape ops: reshape, view, flatten, transpose, permute, squeeze, unsqueeze, expand.

None of these changes a value; they only move values around. So each
backward moves the gradient back the same way: reshape it back, transpose it
back, put each slice back where it came from. Each is linear, so its ``jvp``
moves the tangent the way forward moved the values, and with
``create_graph=True`` its backward is recorded as one node (``piecewise_linear``).
"""

from __future__ import annotations

import torch

from minigrad.errors import (
    ArgumentError,
    ShapeError,
    UnsupportedArgumentError,
    format_shape,
    message,
)
from minigrad.gate import Gate
from minigrad.ops.arguments import dim_index
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.sizes import expanded, permuted, reshaped, viewed


class Reshape(Gate):
    """y = x with a new shape (same elements, same order).   dx = dy reshaped back.

    ``view=True`` (for :func:`view`) refuses, as torch does, an input whose
    memory layout cannot be read in the new shape without a copy.
    """

    piecewise_linear = True

    def __init__(self, shape, view: bool = False):
        self.shape, self.view = tuple(shape), view

    def forward(self, x):
        self.in_shape = x.shape
        return viewed(x, self.shape) if self.view else reshaped(x, self.shape)

    def backward(self, grad_output):
        return (reshaped(grad_output, self.in_shape),)

    def jvp(self, t):
        return reshaped(t, self.shape)

    def explain(self, tensors, error):
        x = tensors[0]
        op = "view" if self.view else "reshape"
        if self.view and "view size is not compatible" in str(error):
            return ShapeError(
                message(
                    op,
                    "an input whose memory layout can be viewed in the new shape",
                    f"a non-contiguous input of shape {format_shape(x.shape)}",
                    "use reshape(), which copies when it has to",
                )
            )
        return ShapeError(
            f"{op}: cannot view {x.numel()} elements of shape {format_shape(x.shape)} as "
            f"shape {format_shape(self.shape)}: expected a shape holding {x.numel()} elements, "
            f"got one holding {_holds(self.shape)}\n"
            "help: the new shape must hold the same number of elements; use -1 for one "
            "dimension to have it computed"
        )


def _holds(shape) -> str:
    """How many elements a requested shape holds ("any number" with a -1 in it)."""
    count = 1
    for size in shape:
        count *= size
    return "a multiple of " + str(-count) if count < 0 else str(count)


class Transpose(Gate):
    """y = x with dimensions ``dim0`` and ``dim1`` swapped.   dx = dy swapped back."""

    piecewise_linear = True

    def __init__(self, dim0: int, dim1: int):
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def backward(self, grad_output):
        return (grad_output.transpose(self.dim0, self.dim1),)

    def jvp(self, t):
        return t.transpose(self.dim0, self.dim1)


class Permute(Gate):
    """y = x with its dimensions reordered.   dx = dy with the inverse order."""

    piecewise_linear = True

    def __init__(self, dims):
        self.dims = tuple(dims)

    def forward(self, x):
        return permuted(x, self.dims)

    def jvp(self, t):
        return permuted(t, self.dims)

    def backward(self, grad_output):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return (permuted(grad_output, inverse),)


class Squeeze(Gate):
    """y = x without size-1 dimensions (all, or only those in ``dim``).   dx = dy reshaped back."""

    piecewise_linear = True

    def __init__(self, dim=None):
        self.dim = dim

    def forward(self, x):
        self.in_shape = x.shape
        return x.squeeze() if self.dim is None else x.squeeze(self.dim)

    def backward(self, grad_output):
        return (reshaped(grad_output, self.in_shape),)

    def jvp(self, t):
        return t.squeeze() if self.dim is None else t.squeeze(self.dim)


class Unsqueeze(Gate):
    """y = x with a new size-1 dimension at ``dim``.   dx = dy reshaped back."""

    piecewise_linear = True

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.in_shape = x.shape
        return x.unsqueeze(self.dim)

    def backward(self, grad_output):
        return (reshaped(grad_output, self.in_shape),)

    def jvp(self, t):
        return t.unsqueeze(self.dim)


class Expand(Gate):
    """y = x broadcast to ``sizes``.   dx = dy summed over the stretched dimensions."""

    piecewise_linear = True

    def __init__(self, sizes):
        self.sizes = tuple(sizes)

    def forward(self, x):
        self.in_shape = x.shape
        return expanded(x, self.sizes)

    def backward(self, grad_output):
        return (sum_to_shape(grad_output, self.in_shape),)

    def jvp(self, t):
        return expanded(t, self.sizes)

    def explain(self, tensors, error):
        return ShapeError(
            message(
                "expand",
                "sizes that stretch only the size-1 dimensions of "
                + format_shape(tensors[0].shape),
                f"sizes {format_shape(self.sizes)}",
                "new dimensions go in front; -1 keeps a dimension's size",
            )
        )


def reshape(input, *shape):
    """Same elements, new shape; one dimension may be -1."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    return Reshape(shape)(input)


def view(input, *shape):
    """As reshape, but (as torch's view) only for an input that needs no copy."""
    if len(shape) == 1 and isinstance(shape[0], torch.dtype):
        raise UnsupportedArgumentError(
            "view", "dtype", shape[0], "reinterpreting bits has no gradient; use x.to(dtype)"
        )
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = shape[0]
    return Reshape(shape, view=True)(input)


def flatten(input, start_dim: int = 0, end_dim: int = -1):
    """Merge dimensions start_dim..end_dim into one (a 0-dim tensor becomes shape (1,))."""
    dims = list(input.shape)
    start = dim_index("flatten", start_dim, len(dims))
    end = dim_index("flatten", end_dim, len(dims))
    if start > end:
        raise ArgumentError(
            message(
                "flatten",
                "start_dim at or before end_dim",
                f"start_dim={start_dim}, end_dim={end_dim}",
                "flatten(x, 1) merges every dimension after the first",
            )
        )
    size = 1
    for d in dims[start : end + 1]:
        size *= d
    return Reshape(dims[:start] + [size] + dims[end + 1 :])(input)


def transpose(input, dim0: int, dim1: int):
    """Swap two dimensions."""
    ndim = input.ndim
    return Transpose(dim_index("transpose", dim0, ndim), dim_index("transpose", dim1, ndim))(input)


def permute(input, *dims):
    """Reorder the dimensions: ``dims`` lists each dimension once."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list, torch.Size)):
        dims = dims[0]
    ndim = input.ndim
    order = tuple(dim_index("permute", d, ndim) for d in dims) if ndim else tuple(dims)
    if sorted(order) != list(range(ndim)):
        raise ShapeError(
            message(
                "permute",
                f"each of the {ndim} dims exactly once",
                f"dims {tuple(dims)}",
                f"e.g. permute({', '.join(str(d) for d in reversed(range(ndim)))}) reverses them",
            )
        )
    return Permute(order)(input)


def movedim(input, source, destination):
    """Move the dimension(s) ``source`` to the place(s) ``destination``, as torch.movedim.

    The other dimensions keep their order. A permute, so its gradient is too.
    """
    ndim = input.ndim
    sources = [source] if isinstance(source, int) else list(source)
    places = [destination] if isinstance(destination, int) else list(destination)
    if len(sources) != len(places):
        raise ArgumentError(
            message(
                "movedim",
                "as many destinations as sources",
                f"source={source!r}, destination={destination!r}",
                "give one destination for each dimension that moves",
            )
        )
    sources = [dim_index("movedim", d, ndim) for d in sources]
    places = [dim_index("movedim", d, ndim) for d in places]
    order = [None] * ndim
    for d, place in zip(sources, places):
        order[place] = d
    rest = iter(d for d in range(ndim) if d not in sources)
    return Permute(tuple(d if d is not None else next(rest) for d in order))(input)


def squeeze(input, dim=None):
    """Drop size-1 dimensions: all of them, or only ``dim`` (an int or a tuple)."""
    ndim = input.ndim
    if isinstance(dim, int):
        dim = dim_index("squeeze", dim, ndim)
    elif dim is not None:  # a sequence; an empty one squeezes nothing, as torch
        dim = tuple(dim_index("squeeze", d, ndim) for d in dim)
    return Squeeze(dim)(input)


def unsqueeze(input, dim: int):
    """Insert a size-1 dimension at ``dim`` (-1 appends one at the end)."""
    return Unsqueeze(dim_index("unsqueeze", dim, input.ndim + 1))(input)


def expand(input, *sizes):
    """Broadcast to ``sizes`` without copying (-1 keeps a dimension)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = sizes[0]
    return Expand(sizes)(input)
