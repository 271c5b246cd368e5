"""Checks shared by the ops' arguments: dims, pairs of sizes, reductions, refusals.

A dim counts from the front (0, 1, ...) or, when negative, from the back
(-1 is the last), so a tensor with ``ndim`` dimensions accepts
``-ndim <= dim < ndim``. Anything else is an error: a dim never wraps around
(on a (3, 4) tensor ``sum(2)`` must not quietly become ``sum(0)``). As in
torch, a 0-dim tensor accepts 0 and -1, as if it had one dimension.

Each check has a fast path for the common call, since ops run it every step.
"""

from __future__ import annotations

import torch

from minigrad.errors import (
    ArgumentError,
    DTypeError,
    OutOfRangeError,
    UnsupportedArgumentError,
    message,
)
from minigrad.variable import Variable


def dim_index(op: str, dim, ndim: int) -> int:
    """``dim`` as an index in ``range(ndim)`` (0 for a 0-dim tensor); OutOfRangeError if outside."""
    if dim.__class__ is int and 0 <= dim < ndim:  # the common case, first
        return dim
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise ArgumentError(
            message(op, "dim to be an int", f"{type(dim).__name__} {dim!r}", "pass e.g. dim=0")
        )
    size = ndim if ndim else 1
    if -size <= dim < size:
        return dim % size
    raise OutOfRangeError(
        message(
            op,
            f"a dim in [{-size}, {size - 1}] for a tensor with {ndim} dimensions",
            f"dim={dim}",
            "dims count from 0; negative dims count from the end (-1 is the last)",
        )
    )


def dim_tuple(op: str, dim, ndim: int) -> tuple:
    """``dim`` (None, an int, or a sequence) as a sorted tuple of distinct, checked dims.

    None, and an empty sequence as in torch, mean every dimension. On a 0-dim
    tensor the answer is ``()``: there is nothing to reduce over.
    """
    if dim is None:
        return tuple(range(ndim))
    if dim.__class__ is int:
        if not ndim:
            dim_index(op, dim, ndim)
            return ()
        return (dim_index(op, dim, ndim),)
    if isinstance(dim, torch.Tensor) or not hasattr(dim, "__iter__"):
        dim_index(op, dim, ndim)  # raises: not an int
    dims = [dim_index(op, d, ndim) for d in dim]
    if len(set(dims)) != len(dims):
        raise ArgumentError(
            message(op, "each dim at most once", f"dim={tuple(dim)}", "list each dim once")
        )
    if not dims:
        return tuple(range(ndim))
    return tuple(sorted(dims)) if ndim else ()


def pair(op: str, name: str, value) -> tuple:
    """An int or a sequence of two ints, as a pair (kernel_size=3 means (3, 3))."""
    if value.__class__ is int:
        return (value, value)
    if isinstance(value, (tuple, list, torch.Size)):
        if len(value) == 1:
            return (value[0], value[0])
        if len(value) == 2:
            return tuple(value)
    raise ArgumentError(
        message(op, f"{name} to be an int or two ints", repr(value), f"pass e.g. {name}=2")
    )


REDUCTIONS = ("mean", "sum", "none")


def check_reduction(op: str, reduction, size_average=None, reduce=None) -> None:
    """A loss's ``reduction``: "mean", "sum" or "none"; torch's deprecated
    ``size_average=`` and ``reduce=`` (replaced by ``reduction=``) are refused."""
    if reduction == "mean" and size_average is None and reduce is None:
        return  # the common call
    for name, value in (("size_average", size_average), ("reduce", reduce)):
        if value is not None:
            raise UnsupportedArgumentError(
                op, name, value, 'torch deprecated it: use reduction="mean", "sum" or "none"'
            )
    if reduction not in REDUCTIONS:
        raise ArgumentError(
            message(
                op,
                'reduction to be "mean", "sum" or "none"',
                repr(reduction),
                '"mean" averages the losses, "sum" adds them, "none" keeps one per element',
            )
        )


def boolean_mask(op: str, name: str, mask, example: str) -> torch.Tensor:
    """A mask or a condition as a boolean tensor; a DTypeError for any other dtype.

    A float or integer "mask" is almost always the scores themselves passed
    where a comparison of them was meant, so it is refused, not read as
    "non-zero is True". ``example`` shows the comparison to write instead.
    """
    if isinstance(mask, Variable):
        mask = mask.value
    mask = torch.as_tensor(mask)
    if mask.dtype is not torch.bool:
        raise DTypeError(
            message(
                op,
                f"a boolean {name}",
                f"dtype {mask.dtype}",
                f"compare to make one, e.g. {example}",
            )
        )
    return mask


def constant(op: str, name: str, value):
    """A tensor argument that takes no gradient (a class weight, as in torch), as a tensor.

    A Variable that requires grad is refused rather than silently cut off.
    """
    if not isinstance(value, Variable):
        return value
    if value.requires_grad:
        raise ArgumentError(
            message(
                op,
                f"a {name} that needs no gradient (torch does not differentiate it either)",
                "a Variable with requires_grad=True",
                f"pass {name}.detach() (or a plain tensor)",
            )
        )
    return value.value


def refuse_inplace(op: str, inplace: bool) -> None:
    """minigrad never overwrites a Variable: its old value may be needed by backward."""
    if inplace:
        raise UnsupportedArgumentError(
            op,
            "inplace",
            inplace,
            f"write y = {op}(x) instead: minigrad never overwrites a value backward may need",
        )
