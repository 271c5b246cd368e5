"""Moving a Variable to another dtype, device or memory layout: ``to`` and its short forms.

The values do not change (up to rounding to the new dtype), so the gradient
comes back unchanged, moved back to the input's device and dtype.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentError, DeviceError, message
from minigrad.gate import Gate
from minigrad.variable import Variable


class To(Gate):
    """y = x on another device or dtype (or in another memory layout).   dy/dx = 1 (moved back)."""

    def __init__(self, device=None, dtype=None, non_blocking=False, memory_format=None):
        self.device, self.dtype = device, dtype
        self.non_blocking = non_blocking
        self.memory_format = memory_format or torch.preserve_format

    piecewise_linear = True

    def forward(self, x):
        self.source_device, self.source_dtype = x.device, x.dtype
        return x.to(
            self.device,
            self.dtype,
            self.non_blocking,
            copy=True,
            memory_format=self.memory_format,
        )

    def backward(self, grad_output):
        return (grad_output.to(device=self.source_device, dtype=self.source_dtype),)

    def jvp(self, t):
        return t.to(self.device, self.dtype, copy=True, memory_format=self.memory_format)


def to(input, *args, **kwargs):
    """x on another device and/or dtype, differentiably, with torch's arguments::

        to(dtype, non_blocking=False, copy=False, memory_format=torch.preserve_format)
        to(device=None, dtype=None, non_blocking=False, copy=False, memory_format=...)
        to(other, non_blocking=False, copy=False)   # other's device and dtype

    As in torch, when nothing would change (and ``copy`` is False) the input
    itself comes back.
    """
    device, dtype, non_blocking, copy, memory_format = _to_arguments(args, kwargs)
    value = input.value if isinstance(input, Variable) else input
    same_device = device is None or _same_device(_device("to", device), value.device)
    same_layout = memory_format in (None, torch.preserve_format) or value.is_contiguous(
        memory_format=memory_format
    )
    if not copy and same_device and dtype in (None, value.dtype) and same_layout:
        return input
    return To(device, dtype, non_blocking, memory_format)(input)


_TO_OPTIONS = ("non_blocking", "copy")


def _to_arguments(args: tuple, kwargs: dict) -> tuple:
    """(device, dtype, non_blocking, copy, memory_format) from any of torch's forms of ``to``."""
    args, kwargs = list(args), dict(kwargs)
    device = dtype = None
    if args and isinstance(args[0], (Variable, torch.Tensor)):
        other = args.pop(0)
        device, dtype = other.device, other.dtype
    else:
        if args and not isinstance(args[0], torch.dtype):
            device = args.pop(0)
        if args and isinstance(args[0], torch.dtype):
            dtype = args.pop(0)
    device = kwargs.pop("device", device)
    dtype = kwargs.pop("dtype", dtype)
    options = {name: False for name in _TO_OPTIONS}
    for name, value in zip(_TO_OPTIONS, args):
        options[name] = value
    for name in _TO_OPTIONS:
        options[name] = kwargs.pop(name, options[name])
    memory_format = kwargs.pop("memory_format", None)
    if len(args) > len(_TO_OPTIONS) or kwargs:
        extra = list(kwargs) or args[len(_TO_OPTIONS) :]
        raise ArgumentError(
            message(
                "to",
                "a device, a dtype or a tensor, then non_blocking, copy, memory_format",
                f"also {extra!r}",
                "e.g. x.to('cuda'), x.to(torch.float64), x.to(other)",
            )
        )
    if dtype is not None and not isinstance(dtype, torch.dtype):
        raise ArgumentError(message("to", "a torch.dtype", repr(dtype), "e.g. x.to(torch.float64)"))
    return device, dtype, options["non_blocking"], options["copy"], memory_format


def _device(op: str, device) -> torch.device:
    """``device`` as a torch.device that this machine has; a DeviceError otherwise."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ArgumentError(
            message(op, "a device such as 'cpu', 'cuda' or 'cuda:1'", repr(device), str(error))
        ) from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            message(
                op,
                "a device this machine has",
                f"{str(device)!r}, but torch.cuda.is_available() is False",
                "pick the device once, e.g. device = 'cuda' if torch.cuda.is_available() "
                "else 'cpu', and move everything with .to(device)",
            )
        )
    return target


def _same_device(target: torch.device, current: torch.device) -> bool:
    return target.type == current.type and target.index in (None, current.index)


def to_dtype(input, dtype):
    """x cast to ``dtype``."""
    return to(input, dtype=dtype)
