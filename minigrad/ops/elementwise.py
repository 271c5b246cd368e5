"""Element-wise maths: exp, log, sqrt, erf, abs, clamp, maximum, minimum, where.

Each output element depends on the same element of the input, so each
backward is the output gradient times the local derivative, element by
element. Where the derivative is not defined (a tie in maximum, a value
exactly on a clamp bound) minigrad makes torch's choice, so the gradients
can be checked against torch's.

A backward here multiplies grad_output by its local derivative with
operators and tensor methods only, which Variables share, so that
``create_graph=True`` can record it. The gates whose derivative is a 0/1
mask (abs, clamp, maximum, where) are piecewise linear: their Jacobian does
not change as the inputs move within a piece, so the recorded backward is one
node whose own backward is the ``jvp`` beside it.
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import ArgumentError, message
from minigrad.gate import Gate
from minigrad.ops.arguments import boolean_mask
from minigrad.ops.broadcast import BroadcastingGate, shape_of, sum_to_shape
from minigrad.ops.tangents import total


class Exp(Gate):
    """y = exp(x).   dy/dx = exp(x) = y."""

    def forward(self, x):
        self.out = torch.exp(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * self.out,)

    def jvp(self, t):
        return t * self.out


class Log(Gate):
    """y = log(x).   dy/dx = 1/x."""

    def forward(self, x):
        self.x = x
        return torch.log(x)

    def backward(self, grad_output):
        return (grad_output / self.x,)

    def jvp(self, t):
        return t / self.x


class Sqrt(Gate):
    """y = sqrt(x).   dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    def forward(self, x):
        self.out = torch.sqrt(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output / (2 * self.out),)

    def jvp(self, t):
        return t / (2 * self.out)


class Erf(Gate):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-s**2) ds.   dy/dx = 2/sqrt(pi) exp(-x**2)."""

    def forward(self, x):
        self.x = x
        return torch.erf(x)

    def backward(self, grad_output):
        return (grad_output * self._slope(),)

    def jvp(self, t):
        return t * self._slope()

    def _slope(self):
        return (-self.x * self.x).exp() * (2 / math.sqrt(math.pi))


class Abs(Gate):
    """y = |x|.   dy/dx = sign(x) (0 at x = 0, as torch)."""

    piecewise_linear = True

    def forward(self, x):
        self.x = x
        return torch.abs(x)

    def backward(self, grad_output):
        return (grad_output * torch.sign(self.x),)

    def jvp(self, t):
        return t * torch.sign(self.x)


class Clamp(BroadcastingGate, Gate):
    """y = min(max(x, low), high); either bound may be missing, a number or a tensor.

    dy/dx = 1 where low <= x <= high, else 0;
    dy/dlow = 1 where x < low (and low < high), dy/dhigh = 1 where x > high
    (or high < low, when high wins everywhere), as torch.
    """

    piecewise_linear = True

    def forward(self, x, low=None, high=None):
        self.x, self.low, self.high = x, low, high
        self.low_shape, self.high_shape = shape_of(low), shape_of(high)
        if isinstance(low, torch.Tensor) or isinstance(high, torch.Tensor):
            # torch.clamp takes two numbers or two tensors, not one of each.
            low, high = _as_tensor_like(low, x), _as_tensor_like(high, x)
        return torch.clamp(x, low, high)

    def backward(self, grad_output):
        need_x, need_low, need_high = self.needs_input_grad
        inside, below, above = self._pieces()
        grad_x = grad_low = grad_high = None
        if need_x:
            grad_x = torch.where(inside, grad_output, 0.0)
        if need_low:
            grad_low = sum_to_shape(torch.where(below, grad_output, 0.0), self.low_shape)
        if need_high:
            grad_high = sum_to_shape(torch.where(above, grad_output, 0.0), self.high_shape)
        return grad_x, grad_low, grad_high

    def jvp(self, tx, tlow, thigh):
        """The tangent of whichever of x, low, high the output is; at a tie, torch's
        forward-mode choice: high where high < low, else low where x < low, else high
        where x > high, else x."""
        x = self.x
        low, high = (None if b is None else torch.as_tensor(b, dtype=x.dtype, device=x.device)
                     for b in (self.low, self.high))  # fmt: skip
        like = next(t for t in (tx, tlow, thigh) if t is not None)
        tx, tlow, thigh = (torch.zeros((), dtype=like.dtype, device=like.device) if t is None else t
                           for t in (tx, tlow, thigh))  # fmt: skip
        moved = tx
        if high is not None:
            moved = torch.where(x > high, thigh, moved)
        if low is not None:
            moved = torch.where(x < low, tlow, moved)
        if low is not None and high is not None:
            moved = torch.where(high < low, thigh, moved)
        return moved

    def backward_transpose(self, tx, tlow, thigh):
        """The transpose of backward (which differs from jvp only at ties)."""
        inside, below, above = self._pieces()
        return total(
            None if tx is None else torch.where(inside, tx, 0.0),
            None if tlow is None else torch.where(below, tlow, 0.0),
            None if thigh is None else torch.where(above, thigh, 0.0),
        )

    def _pieces(self) -> tuple:
        """Where the output is x, where it is the low bound, where the high one (masks)."""
        x, low, high = self.x, self.low, self.high
        inside = x >= low if low is not None else torch.ones_like(x, dtype=torch.bool)
        if high is not None:
            inside = inside & (x <= high)
        below = above = None
        if low is not None:
            below = x < low if high is None else (x < low) & (low < high)
        if high is not None:
            above = x > high if low is None else (x > high) | (high < low)
        return inside, below, above


def _as_tensor_like(bound, x: torch.Tensor):
    if bound is None or isinstance(bound, torch.Tensor):
        return bound
    return torch.tensor(bound, dtype=x.dtype, device=x.device)


class Maximum(BroadcastingGate, Gate):
    """y = max(a, b) element-wise.   The larger input gets the gradient.

    At a tie each input gets half; where either is NaN (so y is NaN) both get
    all of it, as torch.
    """

    largest = True
    piecewise_linear = True

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        self.a, self.b = a, b
        return torch.maximum(a, b) if self.largest else torch.minimum(a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        a, b = self.a, self.b
        shared = torch.where(a == b, grad_output / 2, grad_output)
        a_loses, b_loses = (a < b, a > b) if self.largest else (a > b, a < b)
        return (
            sum_to_shape(shared.masked_fill(a_loses, 0), self.a_shape) if need_a else None,
            sum_to_shape(shared.masked_fill(b_loses, 0), self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        """The winner's tangent, the mean of both at a tie; b's where either is NaN
        (torch's forward-mode choice)."""
        a, b = self.a, self.b
        wins = a > b if self.largest else a < b
        share = torch.where(a == b, 0.5, wins.to(a.dtype))  # how much of y is a
        return total(
            None if ta is None else ta * share,
            None if tb is None else tb * (1 - share),
        )

    def backward_transpose(self, ta, tb):
        """The transpose of backward: as jvp, but both tangents add where either is NaN
        (backward gives each the whole gradient there, as torch's does)."""
        a, b = self.a, self.b
        a_loses, b_loses = (a < b, a > b) if self.largest else (a > b, a < b)
        halves = torch.where(a == b, 0.5, 1.0).to(a.dtype)
        return total(
            None if ta is None else (ta * halves).masked_fill(a_loses, 0),
            None if tb is None else (tb * halves).masked_fill(b_loses, 0),
        )


class Minimum(Maximum):
    """y = min(a, b) element-wise.   The smaller input gets the gradient (ties and NaN as max)."""

    largest = False


class Where(BroadcastingGate, Gate):
    """y = a where condition else b.   dy/da = condition, dy/db = not condition."""

    piecewise_linear = True

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

    def jvp(self, ta, tb):
        return total(
            None if ta is None else torch.where(self.condition, ta, 0.0),
            None if tb is None else torch.where(self.condition, 0.0, tb),
        )


def exp(input):
    """e ** x."""
    return Exp()(input)


def log(input):
    """Natural logarithm."""
    return Log()(input)


def sqrt(input):
    """Square root."""
    return Sqrt()(input)


def erf(input):
    """The error function, as torch.erf."""
    return Erf()(input)


def abs(input):  # noqa: A001 - named as torch.abs
    """Absolute value."""
    return Abs()(input)


def clamp(input, min=None, max=None):  # noqa: A002 - named as torch.clamp
    """Limit x to [min, max], as torch.clamp; the bounds may be numbers, tensors or Variables.

    The gradient is 0 where x was cut; a Variable bound gets the gradient there.
    """
    if min is None and max is None:
        raise ArgumentError(
            message("clamp", "at least one of min= and max=", "neither", "e.g. clamp(x, min=0)")
        )
    return Clamp()(input, min, max)


def maximum(input, other):
    """Element-wise larger of a and b."""
    return Maximum()(input, other)


def minimum(input, other):
    """Element-wise smaller of a and b."""
    return Minimum()(input, other)


def where(condition, input, other):
    """``input`` where ``condition`` holds, else ``other`` (condition is a boolean tensor)."""
    condition = boolean_mask("where", "condition", condition, "where(x > 0, x, 0.0)")
    return Where(condition)(input, other)
