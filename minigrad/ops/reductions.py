"""Reductions: sum, mean, var, max, min, logsumexp, over all or some dimensions.

A reduction's backward spreads the output gradient back over the elements
that were reduced: every element of a sum gets the whole gradient, every
element of a mean 1/N of it, and only the winning element of a max gets any.

Dims are checked by ``arguments.dim_tuple`` before a gate runs, so an
out-of-range dim is an error (never wrapped around) and records nothing.
Each gate receives its dims already checked: a sorted tuple, or None for
every dimension.

Sum, mean and max are linear (max piece by piece: the winner does not move
when the inputs move a little), so with ``create_graph=True`` each backward
is recorded as one node whose own backward is the ``jvp`` beside it; var and
logsumexp write their backward with operations Variables share.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from minigrad.errors import ArgumentError, message
from minigrad.gate import Gate
from minigrad.ops.arguments import dim_index, dim_tuple
from minigrad.ops.casts import to
from minigrad.ops.elementwise import Maximum, Minimum
from minigrad.ops.sizes import expanded
from minigrad.variable import Variable, tensor_of


def _keep(grad: torch.Tensor, dims: tuple, keepdim: bool) -> torch.Tensor:
    """Give ``grad`` back the reduced dimensions (as size 1) so it broadcasts on the input."""
    if keepdim:
        return grad
    for d in dims:  # dims are sorted, so each unsqueeze lands where it was
        grad = grad.unsqueeze(d)
    return grad


def _count(shape, dims: tuple) -> int:
    count = 1
    for d in dims:
        count *= shape[d]
    return count


class Sum(Gate):
    """y = sum_i x_i over ``dims``.   dy/dx_i = 1 for every i."""

    piecewise_linear = True

    def __init__(self, dims=None, keepdim: bool = False):
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x):
        self.shape = x.shape
        if self.dims is None:
            self.dims = tuple(range(x.ndim))
            if not self.keepdim:  # the common call
                return x.sum()
        return x.sum(self.dims, keepdim=self.keepdim) if self.dims else x.sum()

    def backward(self, grad_output):
        return (expanded(_keep(grad_output, self.dims, self.keepdim), self.shape),)

    def jvp(self, t):
        return t.sum(self.dims, keepdim=self.keepdim) if self.dims else t.sum()


class Mean(Gate):
    """y = (1/N) sum_i x_i over ``dims`` (N elements).   dy/dx_i = 1/N."""

    piecewise_linear = True

    def __init__(self, dims=None, keepdim: bool = False):
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x):
        self.shape = x.shape
        if self.dims is None:
            self.dims = tuple(range(x.ndim))
        # N is the count of the *reduced* elements, not of the whole tensor.
        self.count = _count(x.shape, self.dims)
        return x.mean(self.dims, keepdim=self.keepdim) if self.dims else x.mean()

    def backward(self, grad_output):
        grad = _keep(grad_output / self.count, self.dims, self.keepdim)
        return (expanded(grad, self.shape),)

    def jvp(self, t):
        return t.mean(self.dims, keepdim=self.keepdim) if self.dims else t.mean()


class Var(Gate):
    """y = sum_i (x_i - mean)**2 / (N - correction).   dy/dx_i = 2 (x_i - mean) / (N - correction).

    ``correction=1`` (the default, as torch) is the unbiased sample variance.
    With N - correction <= 0 the variance is infinite or undefined: the
    gradient is then inf, or NaN where x_i equals the mean (as torch).
    """

    def __init__(self, dims=None, keepdim: bool = False, correction=1):
        self.dims, self.keepdim, self.correction = dims, keepdim, correction

    def forward(self, x):
        every = self.dims is None
        if every:
            self.dims = tuple(range(x.ndim))
        self.divisor = _count(x.shape, self.dims) - self.correction
        self.x = x
        dims = None if every else self.dims
        return torch.var(x, dims, correction=self.correction, keepdim=self.keepdim)

    def backward(self, grad_output):
        return (_keep(grad_output, self.dims, self.keepdim) * self._slope(),)

    def jvp(self, t):
        moved = t * self._slope()
        return moved.sum(self.dims, keepdim=self.keepdim) if self.dims else moved

    def _slope(self):
        """dy/dx_i = 2 (x_i - mean) / (N - correction); inf (NaN at the mean) if N <= correction."""
        x = self.x
        centred = x - (x.mean(self.dims, keepdim=True) if self.dims else x)
        if self.divisor > 0:
            return centred * (2.0 / self.divisor)
        infinite = torch.full(x.shape, float("inf"), dtype=x.dtype, device=x.device)
        return infinite.masked_fill_(tensor_of(centred) == 0, float("nan"))


class MaxMin(Gate):
    """y = max_i x_i (or min).   dy/dx_i = 1 for the winner, 0 elsewhere.

    Over all elements, ties share the gradient equally (as torch; a NaN wins
    over numbers); along a dimension ``axis`` the gradient goes to the index
    torch reports.
    """

    piecewise_linear = True

    def __init__(self, largest: bool, axis=None, keepdim: bool = False):
        self.largest, self.axis, self.keepdim = largest, axis, keepdim

    @property
    def name(self) -> str:
        return "Max" if self.largest else "Min"

    def forward(self, x):
        self.shape = x.shape
        if self.axis is None:
            out = x.max() if self.largest else x.min()
            self.out_is_nan = out.isnan()
            self.winners = (x == out) | (x.isnan() & self.out_is_nan)
            return out
        values, self.indices = (x.max if self.largest else x.min)(self.axis, self.keepdim)
        return values

    def backward(self, grad_output):
        if self.axis is None:
            mask = self.winners.to(grad_output.dtype)
            return (mask * (grad_output / mask.sum()),)
        if not self.shape:  # a 0-dim tensor is its own maximum
            return (grad_output,)
        index = self.indices if self.keepdim else self.indices.unsqueeze(self.axis)
        grad = grad_output if self.keepdim else grad_output.unsqueeze(self.axis)
        zeros = torch.zeros(self.shape, dtype=grad.dtype, device=grad.device)
        return (zeros.scatter(self.axis, index, grad),)

    def jvp(self, t):
        if self.axis is None:  # as torch's forward mode: a NaN maximum has a NaN tangent
            return t.sum() * math.nan if self.out_is_nan else self.backward_transpose(t)
        if not self.shape:
            return t
        index = self.indices if self.keepdim else self.indices.unsqueeze(self.axis)
        picked = t.gather(self.axis, index)
        return picked if self.keepdim else picked.squeeze(self.axis)

    def backward_transpose(self, t):
        """The transpose of backward: the winners' mean tangent, NaN winners too."""
        if self.axis is not None:
            return self.jvp(t)
        mask = self.winners.to(t.dtype)
        return (mask * t).sum() / mask.sum()


class LogSumExp(Gate):
    """y = log sum_i exp(x_i).   dy/dx_i = exp(x_i - y) = softmax(x)_i."""

    def __init__(self, dims, keepdim: bool = False):
        self.dims, self.keepdim = dims, keepdim

    def forward(self, x):
        self.x = x
        if not self.dims:  # a 0-dim input is its own logsumexp
            self.out = x
        else:
            kept = torch.logsumexp(x, self.dims, keepdim=True)
            self.out = kept if self.keepdim else kept.squeeze(self.dims)
        return self.out

    def backward(self, grad_output):
        return (_keep(grad_output, self.dims, self.keepdim) * self._softmax(),)

    def jvp(self, t):
        moved = t * self._softmax()
        return moved.sum(self.dims, keepdim=self.keepdim) if self.dims else moved

    def _softmax(self):
        return (self.x - _keep(self.out, self.dims, self.keepdim)).exp()


class ValuesIndices(NamedTuple):
    """What ``max(x, dim)`` returns, as torch: the values (a Variable) and their indices."""

    values: object
    indices: torch.Tensor


def sum(input, dim=None, keepdim: bool = False, *, dtype=None):  # noqa: A001 - as torch.sum
    """Sum over ``dim`` (an int, a tuple, or None for all), as torch.sum.

    ``dtype`` casts the input first (e.g. to sum float32 values in float64).
    """
    if dtype is not None:
        input = to(input, dtype=dtype)
    return Sum(None if dim is None else dim_tuple("sum", dim, input.ndim), keepdim)(input)


def mean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Mean over ``dim``, as torch.mean."""
    if dtype is not None:
        input = to(input, dtype=dtype)
    return Mean(None if dim is None else dim_tuple("mean", dim, input.ndim), keepdim)(input)


def var(input, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim``, as torch.var: divided by N - correction (unbiased by default).

    ``unbiased=True`` means correction=1 and ``unbiased=False`` correction=0;
    ``var(x, False)`` (a bool where the dim goes) is torch's short form of it.
    """
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise ArgumentError(
            message(
                "var",
                "one of unbiased= and correction=",
                f"unbiased={unbiased!r} and correction={correction!r}",
                "unbiased=True is correction=1; give only correction=",
            )
        )
    if unbiased is not None:
        correction = 1 if unbiased else 0
    dims = None if dim is None else dim_tuple("var", dim, input.ndim)
    return Var(dims, keepdim, 1 if correction is None else correction)(input)


def max(input, dim=None, keepdim: bool = False):  # noqa: A001 - named as torch.max
    """As torch.max: the largest element; with ``dim``, ``(values, indices)`` along it;
    with a tensor as second argument, the element-wise larger of the two (``maximum``)."""
    return _max_min(True, input, dim, keepdim)


def min(input, dim=None, keepdim: bool = False):  # noqa: A001 - named as torch.min
    """As torch.min: the smallest element, ``(values, indices)`` along ``dim``, or ``minimum``."""
    return _max_min(False, input, dim, keepdim)


def _max_min(largest: bool, input, dim, keepdim: bool):
    if isinstance(dim, (Variable, torch.Tensor)):  # max(a, b): never a dim, even 0-dim
        return (Maximum if largest else Minimum)()(input, dim)
    axis = None if dim is None else dim_index("max" if largest else "min", dim, input.ndim)
    gate = MaxMin(largest, axis, keepdim)
    values = gate(input)
    return values if dim is None else ValuesIndices(values, gate.indices)


def logsumexp(input, dim, keepdim: bool = False):
    """log(sum(exp(x))) over ``dim``, computed without overflow, as torch.logsumexp."""
    return LogSumExp(dim_tuple("logsumexp", dim, input.ndim), keepdim)(input)
