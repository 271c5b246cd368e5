"""Arithmetic: + - * / ** and unary minus, with broadcasting.

Each binary gate remembers its inputs' shapes, because broadcasting may have
stretched them: their gradients are summed back to those shapes
(see ``broadcast.py``). Inputs can be Variables, tensors or Python numbers;
a number gets no gradient.
"""

from __future__ import annotations

import torch

from minigrad.gate import Gate
from minigrad.ops.broadcast import BroadcastingGate, shape_of, sum_to_shape


class Add(BroadcastingGate, Gate):
    """y = a + b.   dy/da = 1,  dy/db = 1."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        return a + b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        return (
            sum_to_shape(grad_output, self.a_shape) if need_a else None,
            sum_to_shape(grad_output, self.b_shape) if need_b else None,
        )


class Sub(BroadcastingGate, Gate):
    """y = a - b.   dy/da = 1,  dy/db = -1."""

    def forward(self, a, b):
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        return a - b

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        return (
            sum_to_shape(grad_output, self.a_shape) if need_a else None,
            sum_to_shape(-grad_output, self.b_shape) if need_b else None,
        )


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


class Div(BroadcastingGate, Gate):
    """y = a / b.   dy/da = 1/b,  dy/db = -a/b**2 = -y/b."""

    def forward(self, a, b):
        self.b = b
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        out = a / b
        self.out = out if self.needs_input_grad[1] else None
        return out

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        grad_a = grad_output / self.b
        return (
            sum_to_shape(grad_a, self.a_shape) if need_a else None,
            sum_to_shape(-grad_a * self.out, self.b_shape) if need_b else None,
        )


class Neg(Gate):
    """y = -x.   dy/dx = -1."""

    def forward(self, x):
        return -x

    def backward(self, grad_output):
        return (-grad_output,)


class Pow(BroadcastingGate, Gate):
    """y = a ** b.   dy/da = b * a**(b-1),  dy/db = y * log(a).

    ``a`` or ``b`` may be a plain number (``x ** 2``, ``2 ** x``).
    """

    def forward(self, a, b):
        self.a, self.b = a, b
        self.a_shape, self.b_shape = shape_of(a), shape_of(b)
        out = a**b if isinstance(a, torch.Tensor) else torch.pow(a, b)
        self.out = out if self.needs_input_grad[1] else None
        return out

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        a, b = self.a, self.b
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to_shape(grad_output * b * a ** (b - 1), self.a_shape)
        if need_b:
            log_a = (
                torch.log(a)
                if isinstance(a, torch.Tensor)
                else torch.log(
                    torch.tensor(float(a), dtype=grad_output.dtype, device=grad_output.device)
                )
            )
            grad_b = sum_to_shape(grad_output * self.out * log_a, self.b_shape)
        return grad_a, grad_b


def add(a, b):
    """a + b with broadcasting."""
    return Add()(a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return Sub()(a, b)


def mul(a, b):
    """a * b (element-wise) with broadcasting."""
    return Mul()(a, b)


def div(a, b):
    """a / b (element-wise) with broadcasting."""
    return Div()(a, b)


def neg(x):
    """-x."""
    return Neg()(x)


def pow(a, b):  # noqa: A001 - named as torch.pow
    """a ** b; either may be a number."""
    return Pow()(a, b)
