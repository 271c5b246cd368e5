"""Arithmetic: + - * / ** and unary minus, with broadcasting.

Each binary gate remembers its inputs' shapes, because broadcasting may have
stretched them: their gradients are summed back to those shapes
(see ``broadcast.py``). Inputs can be Variables, tensors or Python numbers;
a number gets no gradient.

Each backward is written with operators and tensor methods only, which
Variables have too, so that ``create_graph=True`` can record it; ``jvp``
beside it is the same derivative pushed forward (see ``ops/tangents.py``).
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import ArgumentError, message
from minigrad.gate import Gate
from minigrad.ops.broadcast import BroadcastingGate, shape_of, sum_to_shape
from minigrad.ops.tangents import total
from minigrad.variable import Variable, tensor_of


class Add(BroadcastingGate, Gate):
    """y = a + alpha * b (alpha = 1 unless given, as torch.add).   dy/da = 1,  dy/db = alpha."""

    alpha = 1
    piecewise_linear = True  # linear, in fact

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        if self.alpha == 1:
            return a + b
        return torch.add(a, b, alpha=self.alpha) if shape_of(a) is not None else a + self.alpha * b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        grad_b = grad_output if self.alpha == 1 else grad_output * self.alpha
        return (
            sum_to_shape(grad_output, self.a_shape) if need_a else None,
            sum_to_shape(grad_b, self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        return total(ta, tb if tb is None or self.alpha == 1 else tb * self.alpha)


class Sub(BroadcastingGate, Gate):
    """y = a - alpha * b (alpha = 1 unless given, as torch.sub).   dy/da = 1,  dy/db = -alpha."""

    alpha = 1
    piecewise_linear = True

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        if self.alpha == 1:
            return a - b
        return torch.sub(a, b, alpha=self.alpha) if shape_of(a) is not None else a - self.alpha * b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        grad_b = -grad_output if self.alpha == 1 else grad_output * -self.alpha
        return (
            sum_to_shape(grad_output, self.a_shape) if need_a else None,
            sum_to_shape(grad_b, self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        return total(ta, None if tb is None else tb * -self.alpha)


class Mul(BroadcastingGate, Gate):
    """y = a * b.   dy/da = b,  dy/db = a."""

    def forward(self, a, b):
        need_a, need_b = self.needs_input_grad
        # Keep only what the needed gradients use.
        self.a = a if need_b else None
        self.b = b if need_a else None
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        return a * b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        return (
            sum_to_shape(grad_output * self.b, self.a_shape) if need_a else None,
            sum_to_shape(grad_output * self.a, self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        return total(None if ta is None else ta * self.b, None if tb is None else self.a * tb)


class Div(BroadcastingGate, Gate):
    """y = a / b.   dy/da = 1/b,  dy/db = -a/b**2 = -y/b.

    With ``rounding_mode`` "trunc" or "floor" the quotient is rounded to a
    whole number: a step function, whose gradient is 0 (as torch).
    """

    rounding_mode = None

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        if self.rounding_mode is not None:
            return torch.div(_tensor_like(a, b), b, rounding_mode=self.rounding_mode)
        self.b = b
        out = a / b
        self.out = out if self.needs_input_grad[1] else None
        return out

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        if self.rounding_mode is not None:  # a constant: zeros, whatever grad_output is
            g = grad_output
            return (
                torch.zeros(self.a_shape, dtype=g.dtype, device=g.device) if need_a else None,
                torch.zeros(self.b_shape, dtype=g.dtype, device=g.device) if need_b else None,
            )
        grad_a = grad_output / self.b
        return (
            sum_to_shape(grad_a, self.a_shape) if need_a else None,
            sum_to_shape(-grad_a * self.out, self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        if self.rounding_mode is not None:
            return None  # the quotient does not move
        return total(
            None if ta is None else ta / self.b, None if tb is None else -tb * self.out / self.b
        )


def _tensor_like(a, b):
    """A number ``a`` as a tensor on b's device (torch.div needs its first input a tensor)."""
    if isinstance(a, torch.Tensor):
        return a
    return torch.tensor(a, dtype=torch.result_type(a, b), device=b.device)


class Neg(Gate):
    """y = -x.   dy/dx = -1."""

    def forward(self, x):
        return -x

    piecewise_linear = True

    def backward(self, grad_output):
        return (-grad_output,)

    def jvp(self, t):
        return -t


class Pow(BroadcastingGate, Gate):
    """y = a ** b.   dy/da = b * a**(b-1),  dy/db = y * log(a).

    ``a`` or ``b`` may be a plain number (``x ** 2``, ``2 ** x``). At the
    corners minigrad takes torch's values: dy/da = 0 where b = 0 (even at
    a = 0, where a**(b-1) is infinite), and dy/db = 0 where a = 0 and b >= 0
    (where y * log(a) would be 0 * -inf).
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        out = a**b if isinstance(a, torch.Tensor) else torch.pow(a, b)
        self.out = out if self.needs_input_grad[1] else None
        return out

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        return (
            sum_to_shape(grad_output * self._slope_a(), self.a_shape) if need_a else None,
            sum_to_shape(grad_output * self._slope_b(), self.b_shape) if need_b else None,
        )

    def jvp(self, ta, tb):
        return total(
            None if ta is None else ta * self._slope_a(),
            None if tb is None else tb * self._slope_b(),
        )

    def _slope_a(self):
        """dy/da = b a**(b-1), and 0 where b = 0."""
        a, b = self.a, self.b
        if isinstance(b, (torch.Tensor, Variable)):
            return (b * a ** (b - 1)).where(tensor_of(b) != 0, 0.0)
        return b * a ** (b - 1) if b != 0 else torch.zeros(a.shape, dtype=a.dtype, device=a.device)

    def _slope_b(self):
        """dy/db = y log(a), and 0 where a = 0 and b >= 0."""
        a, b, out = self.a, self.b, self.out
        if isinstance(a, (torch.Tensor, Variable)):
            corner = (tensor_of(a) == 0) & (tensor_of(b) >= 0)
            return (out * a.log()).where(~corner, 0.0)
        if a == 0:
            return (out * -math.inf).where(~(tensor_of(b) >= 0), 0.0)
        return out * (math.log(a) if a > 0 else math.nan)


def add(input, other, *, alpha=1):
    """input + alpha * other with broadcasting, as torch.add."""
    gate = Add()
    if alpha != 1:
        gate.alpha = alpha
    return gate(input, other)


def sub(input, other, *, alpha=1):
    """input - alpha * other with broadcasting, as torch.sub."""
    gate = Sub()
    if alpha != 1:
        gate.alpha = alpha
    return gate(input, other)


def mul(input, other):
    """input * other (element-wise) with broadcasting."""
    return Mul()(input, other)


ROUNDING_MODES = (None, "trunc", "floor")


def div(input, other, *, rounding_mode=None):
    """input / other (element-wise) with broadcasting, as torch.div.

    ``rounding_mode="trunc"`` rounds the quotient towards zero, ``"floor"`` down.
    """
    gate = Div()
    if rounding_mode is not None:
        if rounding_mode not in ROUNDING_MODES:
            raise ArgumentError(
                message(
                    "div",
                    'rounding_mode None, "trunc" or "floor"',
                    repr(rounding_mode),
                    '"trunc" rounds towards zero, "floor" down; None keeps the exact quotient',
                )
            )
        gate.rounding_mode = rounding_mode
    return gate(input, other)


def neg(input):
    """-x."""
    return Neg()(input)


def pow(input, exponent):  # noqa: A001 - named as torch.pow
    """input ** exponent; either may be a number."""
    return Pow()(input, exponent)
