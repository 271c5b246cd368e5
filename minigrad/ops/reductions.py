"""Reductions: sum, mean, var, max, min, logsumexp, over all or some dimensions.

A reduction's backward spreads the output gradient back over the elements
that were reduced: every element of a sum gets the whole gradient, every
element of a mean 1/N of it, and only the winning element of a max gets any.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from minigrad.gate import Gate


def _dims(dim, ndim: int) -> tuple:
    """``dim`` as a tuple of non-negative dimensions (all of them for ``None``)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        return (dim % ndim if ndim else 0,)
    return tuple([d % ndim if ndim else 0 for d in dim])


def _keep(grad: torch.Tensor, dims: tuple, keepdim: bool) -> torch.Tensor:
    """Give ``grad`` back the reduced dimensions (as size 1) so it broadcasts on the input."""
    if keepdim:
        return grad
    for d in sorted(dims):
        grad = grad.unsqueeze(d)
    return grad


class Sum(Gate):
    """y = sum_i x_i over ``dim``.   dy/dx_i = 1 for every i."""

    def __init__(self, dim=None, keepdim: bool = False):
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        self.shape = x.shape
        self.dims = _dims(self.dim, x.ndim)
        return x.sum(self.dims, keepdim=self.keepdim) if self.dim is not None else x.sum()

    def backward(self, grad_output):
        return (_keep(grad_output, self.dims, self.keepdim).expand(self.shape),)


class Mean(Gate):
    """y = (1/N) sum_i x_i over ``dim`` (N elements).   dy/dx_i = 1/N."""

    def __init__(self, dim=None, keepdim: bool = False):
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        self.shape = x.shape
        self.dims = _dims(self.dim, x.ndim)
        # N is the count of the *reduced* elements, not of the whole tensor.
        self.count = 1
        for d in self.dims:
            self.count *= x.shape[d]
        return x.mean(self.dims, keepdim=self.keepdim) if self.dim is not None else x.mean()

    def backward(self, grad_output):
        grad = _keep(grad_output / self.count, self.dims, self.keepdim)
        return (grad.expand(self.shape),)


class Var(Gate):
    """y = sum_i (x_i - mean)**2 / (N - correction).   dy/dx_i = 2 (x_i - mean) / (N - correction).

    ``correction=1`` (the default, as torch) is the unbiased sample variance.
    """

    def __init__(self, dim=None, keepdim: bool = False, correction: int = 1):
        self.dim, self.keepdim, self.correction = dim, keepdim, correction

    def forward(self, x):
        self.dims = _dims(self.dim, x.ndim)
        count = 1
        for d in self.dims:
            count *= x.shape[d]
        self.divisor = count - self.correction
        self.centred = x - x.mean(self.dims, keepdim=True)
        return torch.var(x, self.dims, correction=self.correction, keepdim=self.keepdim)

    def backward(self, grad_output):
        grad = _keep(grad_output, self.dims, self.keepdim)
        return (grad * self.centred * (2.0 / self.divisor),)


class MaxMin(Gate):
    """y = max_i x_i (or min).   dy/dx_i = 1 for the winner, 0 elsewhere.

    Over all elements, ties share the gradient equally (as torch); along a
    dimension the gradient goes to the index torch reports.
    """

    def __init__(self, largest: bool, dim=None, keepdim: bool = False):
        self.largest, self.dim, self.keepdim = largest, dim, keepdim

    @property
    def name(self) -> str:
        return "Max" if self.largest else "Min"

    def forward(self, x):
        self.shape = x.shape
        if self.dim is None:
            out = x.max() if self.largest else x.min()
            self.winners = x == out
            return out
        values, self.indices = (x.max if self.largest else x.min)(self.dim, keepdim=self.keepdim)
        return values

    def backward(self, grad_output):
        if self.dim is None:
            mask = self.winners.to(grad_output.dtype)
            return (mask * (grad_output / mask.sum()),)
        dim = self.dim % len(self.shape)
        index = self.indices if self.keepdim else self.indices.unsqueeze(dim)
        grad = grad_output if self.keepdim else grad_output.unsqueeze(dim)
        zeros = torch.zeros(self.shape, dtype=grad.dtype, device=grad.device)
        return (zeros.scatter(dim, index, grad),)


class LogSumExp(Gate):
    """y = log sum_i exp(x_i).   dy/dx_i = exp(x_i - y) = softmax(x)_i."""

    def __init__(self, dim, keepdim: bool = False):
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        self.x = x
        self.dims = _dims(self.dim, x.ndim)
        self.out = torch.logsumexp(x, self.dims, keepdim=True)
        return self.out if self.keepdim else self.out.squeeze(self.dims)

    def backward(self, grad_output):
        grad = _keep(grad_output, self.dims, self.keepdim)
        return (grad * torch.exp(self.x - self.out),)


class ValuesIndices(NamedTuple):
    """What ``max(x, dim)`` returns, as torch: the values (a Variable) and their indices."""

    values: object
    indices: torch.Tensor


def sum(x, dim=None, keepdim: bool = False):  # noqa: A001 - named as torch.sum
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return Sum(dim, keepdim)(x)


def mean(x, dim=None, keepdim: bool = False):
    """Mean over ``dim``."""
    return Mean(dim, keepdim)(x)


def var(x, dim=None, keepdim: bool = False, correction: int = 1):
    """Variance over ``dim`` (unbiased by default, as torch)."""
    return Var(dim, keepdim, correction)(x)


def max(x, dim=None, keepdim: bool = False):  # noqa: A001 - named as torch.max
    """The largest element; with ``dim``, ``(values, indices)`` along it, as torch."""
    gate = MaxMin(True, dim, keepdim)
    values = gate(x)
    return values if dim is None else ValuesIndices(values, gate.indices)


def min(x, dim=None, keepdim: bool = False):  # noqa: A001 - named as torch.min
    """The smallest element; with ``dim``, ``(values, indices)`` along it, as torch."""
    gate = MaxMin(False, dim, keepdim)
    values = gate(x)
    return values if dim is None else ValuesIndices(values, gate.indices)


def logsumexp(x, dim, keepdim: bool = False):
    """log(sum(exp(x))) over ``dim``, computed without overflow."""
    return LogSumExp(dim, keepdim)(x)
