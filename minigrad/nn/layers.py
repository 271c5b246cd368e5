"""Layers without learned parameters: dropout, pooling, flatten and the activations.

Each one wraps an op from ``minigrad.ops``, so that it can sit in a
``Sequential`` and show up in a model's summary table.
"""

from __future__ import annotations

from minigrad import ops
from minigrad.nn.checks import check_flag
from minigrad.nn.module import Module
from minigrad.ops.dropout import check_dropout_p


def dropout(x, ratio: float, training: bool, normalize: bool = True):
    """Zero a fraction ``ratio`` of the values while training; the identity otherwise.

    With ``normalize`` the kept values are scaled by 1 / (1 - ratio), so the
    expected output equals the input and evaluation needs no rescaling.
    """
    return ops.dropout(x, ratio, training, normalize=normalize)


class Dropout(Module):
    """``dropout(x, p, self.training, normalize)`` as a module."""

    def __init__(self, p: float = 0.5, normalize: bool = True):
        super().__init__()
        self.p = check_dropout_p(p)
        self.normalize = check_flag("Dropout", "normalize", normalize, "True scales by 1/(1-p)")

    def forward(self, x):
        return dropout(x, self.p, self.training, self.normalize)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaxPool2d(Module):
    """The largest value of each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.padding, self.dilation = padding, dilation

    def forward(self, x):
        return ops.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(Module):
    """The mean of each ``kernel_size`` window (stride defaults to the kernel size)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return ops.flatten(x, self.start_dim, self.end_dim)


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return ops.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return ops.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF (``approximate="tanh"`` for the fast form)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return ops.gelu(x, self.approximate)


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, x):
        return ops.sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return ops.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (the last one by default: the classes of (N, C))."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return ops.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return ops.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
