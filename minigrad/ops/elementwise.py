"""Element-wise maths: exp, log, sqrt, abs, clamp, maximum, minimum, where, dtype casts.

Each output element depends on the same element of the input, so each
backward is the output gradient times the local derivative, element by
element.
"""

from __future__ import annotations

import torch

from minigrad.gate import Gate
from minigrad.ops.broadcast import BroadcastingGate, shape_of, sum_to_shape


class Exp(Gate):
    """y = exp(x).   dy/dx = exp(x) = y."""

    def forward(self, x):
        self.out = torch.exp(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * self.out,)


class Log(Gate):
    """y = log(x).   dy/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return torch.log(x)

    def backward(self, grad_output):
        return (grad_output / self.x,)


class Sqrt(Gate):
    """y = sqrt(x).   dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    def forward(self, x):
        self.out = torch.sqrt(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output / (2 * self.out),)


class Abs(Gate):
    """y = |x|.   dy/dx = sign(x) (0 at x = 0, as torch)."""

    def forward(self, x):
        self.x = x
        return torch.abs(x)

    def backward(self, grad_output):
        return (grad_output * torch.sign(self.x),)


class Clamp(Gate):
    """y = min(max(x, low), high).   dy/dx = 1 where low <= x <= high, else 0."""

    def __init__(self, min=None, max=None):  # noqa: A002 - named as torch.clamp
        if min is None and max is None:
            raise ValueError("clamp: give at least one of min= and max=")
        self.low, self.high = min, max

    def forward(self, x):
        self.x = x
        return torch.clamp(x, self.low, self.high)

    def backward(self, grad_output):
        inside = torch.ones_like(self.x, dtype=torch.bool)
        if self.low is not None:
            inside &= self.x >= self.low
        if self.high is not None:
            inside &= self.x <= self.high
        return (torch.where(inside, grad_output, 0.0),)


class Maximum(BroadcastingGate, Gate):
    """y = max(a, b) element-wise.   The larger input gets the gradient; a tie splits it."""

    largest = True

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        self.a, self.b = a, b
        return torch.maximum(a, b) if self.largest else torch.minimum(a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        wins = (self.a > self.b) if self.largest else (self.a < self.b)
        share = wins.to(grad_output.dtype) + 0.5 * (self.a == self.b).to(grad_output.dtype)
        return (
            sum_to_shape(grad_output * share, self.a_shape) if need_a else None,
            sum_to_shape(grad_output * (1 - share), self.b_shape) if need_b else None,
        )


class Minimum(Maximum):
    """y = min(a, b) element-wise.   The smaller input gets the gradient; a tie splits it."""

    largest = False


class Where(BroadcastingGate, Gate):
    """y = a where condition else b.   dy/da = condition, dy/db = not condition."""

    def __init__(self, condition: torch.Tensor):
        self.condition = condition

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        return torch.where(self.condition, a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        zero = torch.zeros((), dtype=grad_output.dtype, device=grad_output.device)
        return (
            sum_to_shape(torch.where(self.condition, grad_output, zero), self.a_shape)
            if need_a
            else None,
            sum_to_shape(torch.where(self.condition, zero, grad_output), self.b_shape)
            if need_b
            else None,
        )


class To(Gate):
    """y = x on another device or dtype.   dy/dx = 1 (moved back)."""

    def __init__(self, device=None, dtype=None):
        self.device, self.dtype = device, dtype

    def forward(self, x):
        self.source_device, self.source_dtype = x.device, x.dtype
        return x.to(device=self.device, dtype=self.dtype)

    def backward(self, grad_output):
        return (grad_output.to(device=self.source_device, dtype=self.source_dtype),)


def exp(x):
    """e ** x."""
    return Exp()(x)


def log(x):
    """Natural logarithm."""
    return Log()(x)


def sqrt(x):
    """Square root."""
    return Sqrt()(x)


def abs(x):  # noqa: A001 - named as torch.abs
    """Absolute value."""
    return Abs()(x)


def clamp(x, min=None, max=None):  # noqa: A002
    """Limit x to [min, max]; the gradient is 0 where x was cut."""
    return Clamp(min, max)(x)


def maximum(a, b):
    """Element-wise larger of a and b."""
    return Maximum()(a, b)


def minimum(a, b):
    """Element-wise smaller of a and b."""
    return Minimum()(a, b)


def where(condition, a, b):
    """``a`` where ``condition`` holds, else ``b`` (condition is a boolean tensor)."""
    from minigrad.variable import Variable

    if isinstance(condition, Variable):
        condition = condition.value
    return Where(torch.as_tensor(condition, dtype=torch.bool))(a, b)


def to(x, device=None, dtype=None):
    """x moved to ``device`` and/or cast to ``dtype``, differentiably (also ``to(x, dtype)``)."""
    if isinstance(device, torch.dtype):
        device, dtype = None, device
    return To(device, dtype)(x)


def to_dtype(x, dtype):
    """x cast to ``dtype``."""
    return To(None, dtype)(x)
