"""Activations and (log-)softmax.

Backward formulas reuse what forward computed: sigmoid and tanh express their
derivatives through their own output, so that is what they keep.
"""

from __future__ import annotations

import math

import torch

from minigrad.gate import Gate


class ReLU(Gate):
    """y = max(x, 0).   dy/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        self.out = torch.relu(x)
        return self.out

    def backward(self, grad_output):
        # sign(y) is exactly the 0/1 derivative here, since y >= 0. Multiplying
        # into that fresh tensor in place keeps this to one allocation, like
        # torch's own kernel; `grad_output * (y > 0)` or torch.where would
        # build a boolean mask first, several times slower on the CPU.
        return (self.out.sign().mul_(grad_output),)


class LeakyReLU(Gate):
    """y = x if x > 0 else slope * x.   dy/dx = 1 if x > 0 else slope."""

    def __init__(self, negative_slope: float = 0.01):
        self.slope = negative_slope

    def forward(self, x):
        self.x = x
        return torch.where(x > 0, x, x * self.slope)

    def backward(self, grad_output):
        return (torch.where(self.x > 0, grad_output, grad_output * self.slope),)


class GELU(Gate):
    """y = x * Phi(x), Phi the standard normal CDF.   dy/dx = Phi(x) + x * phi(x).

    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2.
    """

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1 + torch.tanh(inner))
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def backward(self, grad_output):
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = torch.tanh(k * (x + 0.044715 * x**3))
            local = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        else:
            cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
            pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
            local = cdf + x * pdf
        return (grad_output * local,)


class Sigmoid(Gate):
    """y = 1 / (1 + exp(-x)).   dy/dx = y (1 - y)."""

    def forward(self, x):
        self.out = torch.sigmoid(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * self.out * (1 - self.out),)


class Tanh(Gate):
    """y = tanh(x).   dy/dx = 1 - y**2."""

    def forward(self, x):
        self.out = torch.tanh(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * (1 - self.out * self.out),)


class Softmax(Gate):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``dim``.

    dL/dx_i = y_i (g_i - sum_j g_j y_j), with g = dL/dy.
    """

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.out = torch.softmax(x, self.dim)
        return self.out

    def backward(self, grad_output):
        y = self.out
        return (y * (grad_output - (grad_output * y).sum(self.dim, keepdim=True)),)


class LogSoftmax(Gate):
    """y_i = x_i - log sum_j exp(x_j) along ``dim``.

    dL/dx_i = g_i - softmax(x)_i sum_j g_j. A fused gate, rather than
    log(softmax(x)), because softmax can round to 0 and log(0) = -inf.
    """

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.out = torch.log_softmax(x, self.dim)
        return self.out

    def backward(self, grad_output):
        return (grad_output - torch.exp(self.out) * grad_output.sum(self.dim, keepdim=True),)


def relu(x):
    """max(x, 0)."""
    return ReLU()(x)


def leaky_relu(x, negative_slope: float = 0.01):
    """x if x > 0 else negative_slope * x."""
    return LeakyReLU(negative_slope)(x)


def gelu(x, approximate: str = "none"):
    """Gaussian error linear unit."""
    return GELU(approximate)(x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


def softmax(x, dim: int):
    """exp(x) normalised to sum to 1 along ``dim``."""
    return Softmax(dim)(x)


def log_softmax(x, dim: int):
    """log(softmax(x)), computed stably."""
    return LogSoftmax(dim)(x)
