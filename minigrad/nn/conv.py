"""Conv2d: a 2-D convolution layer on NCHW images."""

from __future__ import annotations

import torch

from minigrad.errors import HyperParameterError
from minigrad.nn.checks import check_count, check_flag, check_pair
from minigrad.nn.init import InitFunc, constant_init, he_init, new_variable
from minigrad.nn.module import Module
from minigrad.ops import conv2d


class Conv2d(Module):
    """y = conv2d(x, W) + b, W of shape (out_channels, in_channels/groups, kh, kw) as torch.

    ``groups`` splits the channels into that many independent convolutions,
    so it must divide both channel counts. Initialisers as in ``Linear``: He
    normal weights (fan_in = in_channels/groups * kh * kw) and zero biases.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        weights: InitFunc = he_init(),  # noqa: B008 (a pure closure: safe to share)
        biases: InitFunc | None = constant_init(0.0),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        hint = "it is a number of channels, e.g. Conv2d(3, 16, kernel_size=3)"
        in_channels = check_count("Conv2d", "in_channels", in_channels, 1, hint)
        out_channels = check_count("Conv2d", "out_channels", out_channels, 1, hint)
        groups = check_count("Conv2d", "groups", groups, 1, "groups=1 is an ordinary convolution")
        check_flag("Conv2d", "bias", bias, "bias=False leaves out the bias")
        if in_channels % groups or out_channels % groups:
            raise HyperParameterError(
                f"Conv2d: groups={groups} must divide both in_channels={in_channels} and "
                f"out_channels={out_channels}\n"
                "help: each group convolves in_channels/groups channels into "
                "out_channels/groups; pick a common divisor"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        window = "an int or a pair (height, width), e.g. 3 or (3, 5)"
        self.kernel_size = check_pair("Conv2d", "kernel_size", kernel_size, 1, window)
        self.stride = check_pair("Conv2d", "stride", stride, 1, window)
        self.padding = check_pair("Conv2d", "padding", padding, 0, window)
        self.dilation = check_pair("Conv2d", "dilation", dilation, 1, window)
        self.groups = groups
        common = {"generator": generator, "dtype": dtype, "device": device}
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = new_variable("weight", shape, weights, **common)
        if bias and biases is not None:
            self.bias = new_variable("bias", (out_channels,), biases, **common)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")
