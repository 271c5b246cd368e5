"""Convolution and pooling on NCHW images.

A convolution is a sum of products between a window of the input and the
kernel, slid over the image. Its gradient with respect to the input is a
transposed convolution of the output gradient with the same kernel (each
output position sends its gradient back over the window it read); with
respect to the kernel, a correlation of the input with the output gradient
(``torch.nn.grad.conv2d_weight``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.errors import ShapeError, format_shape
from minigrad.gate import Gate


def _pair(v) -> tuple:
    return (v, v) if isinstance(v, int) else tuple(v)


class Conv2d(Gate):
    """y[n, o] = b[o] + sum_{c, i, j} w[o, c, i, j] * x[n, c, s*h + d*i - p, s*w + d*j - p].

    dL/dx = conv_transpose2d(G, w),  dL/dw = correlation of x with G,
    dL/db = sum of G over batch and space. ``groups`` splits the channels
    into independent groups.
    """

    def __init__(self, stride=1, padding=0, dilation=1, groups: int = 1):
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.dilation, self.groups = _pair(dilation), groups

    def forward(self, x, weight, bias=None):
        if x.ndim != 4:
            raise ShapeError(
                f"conv2d: expected an input of shape (N, C, H, W), got {format_shape(x.shape)}\n"
                "help: add a batch dimension with x.unsqueeze(0), or a channel one with "
                "x.unsqueeze(1)"
            )
        if x.shape[1] != weight.shape[1] * self.groups:
            raise ShapeError(
                f"conv2d: the input has {x.shape[1]} channels but the weight "
                f"{format_shape(weight.shape)} with groups={self.groups} expects "
                f"{weight.shape[1] * self.groups}\n"
                "help: the layer's in_channels must equal the input's dimension 1"
            )
        self.x = x if self.needs_input_grad[1] else None
        self.weight = weight if self.needs_input_grad[0] else None
        self.x_shape, self.w_shape = x.shape, weight.shape
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, grad_output):
        need = self.needs_input_grad
        options = (self.stride, self.padding, self.dilation, self.groups)
        grad_x = grad_w = grad_b = None
        if need[0]:
            # The transposed convolution maps each output position back onto
            # the input window it came from; output_padding restores the rows
            # and columns a strided forward pass skipped.
            grad_x = F.conv_transpose2d(
                grad_output, self.weight, None, self.stride, self.padding,
                self._output_padding(grad_output), self.groups, self.dilation,
            )  # fmt: skip
        if need[1]:
            grad_w = torch.nn.grad.conv2d_weight(self.x, self.w_shape, grad_output, *options)
        if len(need) > 2 and need[2]:
            # Space first, then the batch: about twice as fast as .sum((0, 2, 3)) on NCHW.
            grad_b = grad_output.sum((2, 3)).sum(0)
        return (grad_x, grad_w, grad_b) if len(need) > 2 else (grad_x, grad_w)

    def _output_padding(self, grad_output) -> list:
        sizes = zip(self.x_shape[2:], grad_output.shape[2:], self.w_shape[2:])
        return [
            size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
            for (size, out, k), s, p, d in zip(sizes, self.stride, self.padding, self.dilation)
        ]


class MaxPool2d(Gate):
    """y = the largest value in each window.   dL/dx = G routed to each window's winner.

    Overlapping windows may pick the same winner: its gradients add up.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1):
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding, self.dilation = _pair(padding), _pair(dilation)

    def forward(self, x):
        self.x_shape = x.shape
        options = (self.kernel_size, self.stride, self.padding, self.dilation)
        if x.device.type != "cpu" or x.ndim != 4:
            out, self.indices = F.max_pool2d(x, *options, return_indices=True)
            return out
        # On the CPU torch's channels-last kernel gives the same values and
        # indices several times faster than its NCHW one; the copies in and
        # out cost far less than that difference. (Written so that the copy of
        # x is freed before the results are copied back: peak memory.)
        out, indices = F.max_pool2d(
            x.contiguous(memory_format=torch.channels_last), *options, return_indices=True
        )
        self.indices = indices.contiguous()
        del indices
        return out.contiguous()

    def backward(self, grad_output):
        n, c, h, w = self.x_shape
        grad = grad_output.new_zeros((n, c, h * w))
        grad.scatter_add_(2, self.indices.flatten(2), grad_output.flatten(2))
        return (grad.view(self.x_shape),)


class AvgPool2d(Gate):
    """y = the mean of each window (padding counts as zeros, as torch's default).

    dL/dx = each window's G spread evenly over its k*k inputs: a transposed
    convolution of G with a kernel of 1/(k*k).
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding = _pair(padding)

    def forward(self, x):
        self.x_shape = x.shape
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def backward(self, grad_output):
        n, c, h, w = self.x_shape
        kh, kw = self.kernel_size
        oh, ow = grad_output.shape[-2:]
        kernel = grad_output.new_full((1, 1, kh, kw), 1.0 / (kh * kw))
        extra = [
            size - ((o - 1) * s - 2 * p + k)
            for size, o, s, p, k in zip((h, w), (oh, ow), self.stride, self.padding, (kh, kw))
        ]
        grad = F.conv_transpose2d(
            grad_output.reshape(n * c, 1, oh, ow),
            kernel,
            stride=self.stride,
            padding=self.padding,
            output_padding=extra,
        )
        return (grad.reshape(self.x_shape),)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution, as torch.nn.functional.conv2d."""
    gate = Conv2d(stride, padding, dilation, groups)
    return gate(x, weight) if bias is None else gate(x, weight, bias)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1):
    """Max pooling, as torch.nn.functional.max_pool2d."""
    return MaxPool2d(kernel_size, stride, padding, dilation)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling, as torch.nn.functional.avg_pool2d."""
    return AvgPool2d(kernel_size, stride, padding)(x)
