"""Taking a tensor apart and putting tensors together: indexing, cat, stack, split, chunk.

Like the shape ops, none of these changes a value. Each backward puts the
gradient of every piece back where that piece came from. All are linear: a
``jvp`` cuts or joins the tangents as forward cut or joined the values, and
with ``create_graph=True`` a backward is recorded as one node.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentError, OutOfRangeError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import dim_index
from minigrad.ops.sizes import zeros_like_shape
from minigrad.variable import Variable


class Index(Gate):
    """y = x[key] (slices, integers, None, ..., index tensors).

    dx = zeros shaped like x, with dy added back at the positions it was read
    from; a position read twice (``x[[0, 0]]``) gets both gradients.

    :meth:`reference_backward` writes that out (for an index tensor: the
    flat position of every element read, then ``index_add_``). For a key of
    index tensors only (an embedding table's ``C[X]``) ``backward`` runs
    torch's one kernel for the same sum, ``index_put_`` with accumulate; a
    test proves the two equal.
    """

    piecewise_linear = True

    def __init__(self, key):
        self.key = key

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.key]

    def jvp(self, t):
        return t[self.key]

    def explain(self, tensors, error):
        shape = format_shape(tensors[0].shape)
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        if isinstance(error, IndexError) and "mask" not in first_line:  # names the index
            return OutOfRangeError(
                message(
                    "indexing",
                    f"indices inside a Variable of shape {shape}",
                    first_line,
                    "index i along a dimension of size n needs -n <= i < n",
                )
            )
        return ShapeError(
            message(
                "indexing",
                f"a key that fits a Variable of shape {shape}",
                first_line,
                "a boolean mask must have the shape of the dimensions it selects",
            )
        )

    def backward(self, grad_output):
        if _is_tensors(self.key):  # x[i] or x[i, j]: torch's one kernel for the sum below
            grad = zeros_like_shape(grad_output, self.in_shape)
            key = self.key if isinstance(self.key, tuple) else (self.key,)
            return (grad.index_put_(key, grad_output, accumulate=True),)
        return self.reference_backward(grad_output)

    def reference_backward(self, grad_output):
        """dx: zeros, with dy added back where it was read (``backward`` may run one kernel)."""
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


def _is_tensors(key) -> bool:
    """True for a key of index tensors only, which ``index_put_`` takes as they are."""
    if isinstance(key, torch.Tensor):  # one index tensor, the usual case (C[X])
        return key.dtype in _INDEX_DTYPES
    return isinstance(key, tuple) and all(
        isinstance(p, torch.Tensor) and p.dtype in _INDEX_DTYPES for p in key
    )


_INDEX_DTYPES = (torch.int64, torch.int32, torch.bool)


def _is_basic(key) -> bool:
    """True for keys made only of ints, slices, None and Ellipsis (no repeats possible)."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class Cat(Gate):
    """y = the inputs joined along ``dim``.   Each dx_k = the slice of dy that came from x_k.

    As torch, a 1-D input with no elements is skipped whatever the other
    inputs' shapes (an old convention for "nothing to add"); its gradient is empty.
    """

    piecewise_linear = True

    def __init__(self, dim: int = 0):
        self.dim = dim

    def forward(self, *tensors):
        self.sizes = [None if _skipped(t) else t.shape[self.dim] for t in tensors]
        self.shapes = [t.shape for t in tensors]
        return torch.cat(tensors, self.dim)

    def jvp(self, *tangents):
        return torch.cat(_zeros_for_none(tangents, self.shapes), self.dim)

    def backward(self, grad_output):
        kept = [size for size in self.sizes if size is not None]
        pieces = iter(torch.split(grad_output, kept, self.dim))
        grads = [grad_output.new_zeros(0) if size is None else next(pieces) for size in self.sizes]
        return tuple(g if need else None for g, need in zip(grads, self.needs_input_grad))

    def explain(self, tensors, error):
        shapes = " and ".join(format_shape(t.shape) for t in tensors)
        return ShapeError(
            message(
                "cat",
                f"shapes that are equal except along dim {self.dim}",
                shapes,
                f"all dimensions except dim {self.dim} must be equal",
            )
        )


def _skipped(t: torch.Tensor) -> bool:
    return t.ndim == 1 and t.shape[0] == 0


class Stack(Gate):
    """y = the inputs stacked along a new dimension ``dim``.   dx_k = dy[..., k, ...]."""

    piecewise_linear = True

    def __init__(self, dim: int = 0):
        self.dim = dim

    def forward(self, *tensors):
        self.shapes = [t.shape for t in tensors]
        return torch.stack(tensors, self.dim)

    def jvp(self, *tangents):
        return torch.stack(_zeros_for_none(tangents, self.shapes), self.dim)

    def backward(self, grad_output):
        pieces = torch.unbind(grad_output, self.dim)
        return tuple(p if need else None for p, need in zip(pieces, self.needs_input_grad))

    def explain(self, tensors, error):
        shapes = " and ".join(format_shape(t.shape) for t in tensors)
        return ShapeError(
            message(
                "stack",
                "tensors of one shape",
                shapes,
                "stacked tensors must all have the same shape",
            )
        )


class Split(Gate):
    """(y_1, ..., y_k) = x cut along ``dim`` into pieces of the given sizes.

    dx = the pieces' gradients joined back (an unused piece contributes zeros).
    """

    piecewise_linear = True

    def __init__(self, sizes, dim: int = 0):
        self.sizes, self.dim = list(sizes), dim

    def forward(self, x):
        return torch.split(x, self.sizes, self.dim)

    def jvp(self, t):
        return torch.split(t, self.sizes, self.dim)

    def backward(self, grad_output):
        if isinstance(grad_output, torch.Tensor):  # a single piece comes back alone
            grad_output = (grad_output,)
        return (torch.cat(grad_output, self.dim),)


def _zeros_for_none(tangents, shapes) -> list:
    """The tangents, with zeros (of the input's shape) for each input that does not move."""
    like = next(t for t in tangents if t is not None)
    return [
        t if t is not None else torch.zeros(shape, dtype=like.dtype, device=like.device)
        for t, shape in zip(tangents, shapes)
    ]


def index(input, key):
    """x[key]: basic and advanced indexing."""
    if isinstance(key, Variable):
        key = key.value
    elif isinstance(key, tuple):
        key = tuple(k.value if isinstance(k, Variable) else k for k in key)
    return Index(key)(input)


def cat(tensors, dim: int = 0):
    """Join a sequence of Variables along an existing dimension."""
    shaped = [t for t in tensors if t.ndim != 1 or t.shape[0] != 0] or list(tensors)[:1]
    if not shaped:
        raise ArgumentError(
            message("cat", "at least one tensor", "an empty sequence", "cat([a, b], dim=0)")
        )
    return Cat(dim_index("cat", dim, shaped[0].ndim))(*tensors)


def stack(tensors, dim: int = 0):
    """Stack a sequence of same-shaped Variables along a new dimension."""
    if not len(tensors):
        raise ArgumentError(
            message("stack", "at least one tensor", "an empty sequence", "stack([a, b], dim=0)")
        )
    return Stack(dim_index("stack", dim, tensors[0].ndim + 1))(*tensors)


def split(tensor, split_size_or_sections, dim: int = 0):
    """Cut x into pieces of ``split_size`` (the last may be smaller) or of the listed sizes."""
    dim = dim_index("split", dim, tensor.ndim)
    length = tensor.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step < 0 or (step == 0 and length):
            raise ArgumentError(
                message(
                    "split",
                    f"a split_size of at least 1 for a dim of size {length}",
                    f"split_size={step}",
                    "give the size of each piece, or a list of sizes",
                )
            )
        sizes = [min(step, length - start) for start in range(0, length, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise ShapeError(
                message(
                    "split",
                    f"sizes that add up to {length}, the size of dim {dim}",
                    f"sizes {sizes} (adding up to {sum(sizes)})",
                    f"the sizes must add up to {length}",
                )
            )
    return Split(sizes, dim)(tensor)


def chunk(input, chunks: int, dim: int = 0):
    """Cut x into ``chunks`` pieces along ``dim`` (as torch.chunk: equal, the last smaller,
    fewer pieces when the size does not allow that many)."""
    if not isinstance(chunks, int) or chunks < 1:
        raise ArgumentError(
            message("chunk", "chunks to be a whole number >= 1", repr(chunks), "e.g. chunk(x, 2)")
        )
    dim = dim_index("chunk", dim, input.ndim)
    length = input.shape[dim]
    if length == 0:  # torch gives `chunks` empty pieces
        return Split([0] * chunks, dim)(input)
    return split(input, -(-length // chunks), dim)
