"""Activations and (log-)softmax.

Backward formulas reuse what forward computed: sigmoid and tanh express their
derivatives through their own output, so that is what they keep. Each
formula uses operators and tensor methods only (``y.exp()``, not
``torch.exp(y)``), so that ``create_graph=True`` can record it on Variables;
relu and leaky relu are linear piece by piece, so theirs is recorded as one
node whose own backward is the ``jvp`` beside it.
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import ArgumentError, message
from minigrad.gate import Gate
from minigrad.ops.arguments import dim_index, refuse_inplace
from minigrad.ops.aten import aten_kernel
from minigrad.ops.casts import to


class ReLU(Gate):
    """y = max(x, 0).   dy/dx = 0 where y <= 0, else 1.

    At x = 0 the derivative is taken as 0; at NaN (where y is NaN, and
    "NaN <= 0" is false) the gradient passes through. Both are torch's choices.

    The readable backward is :meth:`reference_backward`; ``backward`` runs
    torch's fused kernel for exactly that formula, which reads y and the
    gradient once and builds no boolean mask (a mask and a multiply are
    several times slower on the CPU). A test proves the two equal.
    """

    piecewise_linear = True

    def forward(self, x):
        self.out = torch.relu(x)
        return self.out

    def backward(self, grad_output):
        return (_threshold_backward(grad_output, self.out, 0),)

    def jvp(self, t):
        return _threshold_backward(t, self.out, 0)  # the same 0/1 mask, applied forward

    def reference_backward(self, grad_output):
        return (torch.where(self.out <= 0, 0.0, grad_output),)


_threshold_backward = aten_kernel("threshold_backward")


class LeakyReLU(Gate):
    """y = x if x > 0 else slope * x.   dy/dx = 1 if x > 0 else slope."""

    piecewise_linear = True

    def __init__(self, negative_slope: float = 0.01):
        self.slope = negative_slope

    def forward(self, x):
        self.x = x
        return torch.where(x > 0, x, x * self.slope)

    def backward(self, grad_output):
        return (torch.where(self.x > 0, grad_output, grad_output * self.slope),)

    def jvp(self, t):
        return torch.where(self.x > 0, t, t * self.slope)


class GELU(Gate):
    """y = x * Phi(x), Phi the standard normal CDF.   dy/dx = Phi(x) + x * phi(x).

    ``approximate="tanh"`` uses Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2.

    Both directions run torch's fused kernel for exactly these formulas;
    :meth:`reference_forward` and :meth:`reference_backward` are the formulas
    written out, and a test proves each pair equal.
    """

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ArgumentError(
                message(
                    "gelu",
                    'approximate="none" or "tanh"',
                    repr(approximate),
                    '"none" is the exact erf form, "tanh" the faster approximation',
                )
            )
        self.approximate = approximate

    def forward(self, x):
        self.x = x
        return _gelu(x, approximate=self.approximate)

    def backward(self, grad_output):
        return (_gelu_backward(grad_output, self.x, approximate=self.approximate),)

    def reference_forward(self, x):
        """The formula of the docstring; ``forward`` runs torch's one kernel for it."""
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1 + torch.tanh(inner))
        return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))

    def reference_backward(self, grad_output):
        """dy/dx of the docstring; ``backward`` runs torch's one kernel for it.

        Written out, it takes six kernels and as many temporaries the size of
        x (the fused one reads x and the gradient once and writes one tensor).
        Written with tensor methods, so that it also runs on Variables
        (``create_graph``).
        """
        return (grad_output * self._slope(),)

    def jvp(self, t):
        return t * self._slope()

    def _slope(self):
        """dy/dx, Phi(x) + x phi(x) (or the tanh form's)."""
        x = self.x
        if self.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            t = (k * (x + 0.044715 * x**3)).tanh()
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
        cdf = 0.5 * (1 + (x / math.sqrt(2)).erf())
        pdf = (-0.5 * x * x).exp() / math.sqrt(2 * math.pi)
        return cdf + x * pdf


_gelu = torch.nn.functional.gelu
_gelu_backward = aten_kernel("gelu_backward")


class Sigmoid(Gate):
    """y = 1 / (1 + exp(-x)).   dy/dx = y (1 - y)."""

    def forward(self, x):
        self.out = torch.sigmoid(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * self.out * (1 - self.out),)

    def jvp(self, t):
        return t * self.out * (1 - self.out)


class Tanh(Gate):
    """y = tanh(x).   dy/dx = 1 - y**2.

    ``backward`` runs torch's fused kernel for G * (1 - y**2) (one pass,
    instead of three kernels and two temporaries); :meth:`reference_backward`
    is that formula, and a test proves the two equal.
    """

    def forward(self, x):
        self.out = torch.tanh(x)
        return self.out

    def backward(self, grad_output):
        return (_tanh_backward(grad_output, self.out),)

    def reference_backward(self, grad_output):
        return (grad_output * (1 - self.out * self.out),)

    def jvp(self, t):
        return t * (1 - self.out * self.out)


_tanh_backward = aten_kernel("tanh_backward")


class Softmax(Gate):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``dim``.

    dL/dx_i = y_i (g_i - sum_j g_j y_j), with g = dL/dy.

    ``backward`` runs torch's fused kernel for that formula (one pass over
    y and g instead of four kernels); :meth:`reference_backward` is the
    formula, and a test proves the two equal.
    """

    def __init__(self, dim: int):
        self.dim = dim

    def forward(self, x):
        self.out = torch.softmax(x, self.dim)
        return self.out

    def backward(self, grad_output):
        return (_softmax_backward(grad_output, self.out, self.dim, self.out.dtype),)

    def reference_backward(self, grad_output):
        y = self.out
        return (y * (grad_output - (grad_output * y).sum(self.dim, keepdim=True)),)

    def jvp(self, t):  # the Jacobian diag(y) - y y^T is symmetric: the same formula
        y = self.out
        return y * (t - (t * y).sum(self.dim, keepdim=True))


_softmax_backward = torch._softmax_backward_data


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
        return (grad_output - self.out.exp() * grad_output.sum(self.dim, keepdim=True),)

    def jvp(self, t):  # dy_i = t_i - sum_j softmax_j t_j
        return t - (self.out.exp() * t).sum(self.dim, keepdim=True)


def relu(input, inplace: bool = False):
    """max(x, 0)."""
    if inplace:
        refuse_inplace("relu", inplace)
    return ReLU()(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x if x > 0 else negative_slope * x."""
    if inplace:
        refuse_inplace("leaky_relu", inplace)
    return LeakyReLU(negative_slope)(input)


def gelu(input, approximate: str = "none"):
    """Gaussian error linear unit."""
    return GELU(approximate)(input)


def sigmoid(input):
    """1 / (1 + exp(-x))."""
    return Sigmoid()(input)


def tanh(input):
    """Hyperbolic tangent."""
    return Tanh()(input)


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) normalised to sum to 1 along ``dim``, as torch.nn.functional.softmax.

    ``dtype`` casts the input first (e.g. float32 scores, float64 softmax).
    """
    return Softmax(_softmax_dim("softmax", input, dim))(_cast(input, dtype))


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """log(softmax(x)), computed stably, as torch.nn.functional.log_softmax."""
    return LogSoftmax(_softmax_dim("log_softmax", input, dim))(_cast(input, dtype))


def _softmax_dim(op: str, input, dim) -> int:
    if dim is None:  # torch guesses a dim (deprecated); minigrad asks
        raise ArgumentError(
            message(
                op,
                "dim= (the dimension that sums to 1)",
                "no dim",
                f"e.g. {op}(x, dim=-1) for each row of (N, C) scores",
            )
        )
    return dim_index(op, dim, input.ndim)


def _cast(input, dtype):
    return input if dtype is None else to(input, dtype=dtype)
