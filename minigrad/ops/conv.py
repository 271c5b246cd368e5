"""Convolution on (N, C, H, W) images, or one (C, H, W) image.

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

from minigrad.errors import ArgumentError, DTypeError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import pair


class Conv2d(Gate):
    """y[n, o] = b[o] + sum_{c, i, j} w[o, c, i, j] * x[n, c, s*h + d*i - p, s*w + d*j - p].

    dL/dx = conv_transpose2d(G, w),  dL/dw = correlation of x with G,
    dL/db = sum of G over batch and space. ``groups`` splits the channels
    into independent groups. ``extra`` pads one more row (column) at the
    bottom (right) than at the top (left): what padding="same" needs when
    the kernel's reach is even, so the padding cannot be split evenly.
    """

    def __init__(self, stride=1, padding=0, dilation=1, groups: int = 1, extra=(0, 0)):
        self.stride, self.padding = pair("conv2d", "stride", stride), padding
        self.dilation, self.groups = pair("conv2d", "dilation", dilation), groups
        self.extra = extra

    def forward(self, x, weight, bias=None):
        self.batched = x.ndim == 4
        if not self.batched:  # one image (C, H, W): a batch of one inside
            x = x.unsqueeze(0)
        if any(self.extra):
            x = F.pad(x, (0, self.extra[1], 0, self.extra[0]))
        self.x = x if self.needs_input_grad[1] else None
        self.weight = weight if self.needs_input_grad[0] else None
        self.x_shape, self.w_shape = x.shape, weight.shape
        out = F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)
        return out if self.batched else out.squeeze(0)

    def backward(self, grad_output):
        need = self.needs_input_grad
        if not self.batched:
            grad_output = grad_output.unsqueeze(0)
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
            if any(self.extra):  # drop the gradient of the extra padding
                height, width = grad_x.shape[-2] - self.extra[0], grad_x.shape[-1] - self.extra[1]
                grad_x = grad_x[..., :height, :width]
            if not self.batched:
                grad_x = grad_x.squeeze(0)
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

    def explain(self, tensors, error):
        x, weight = tensors[0], tensors[1]
        return ShapeError(
            message(
                "conv2d",
                "an input whose padded size fits the kernel "
                f"{format_shape(weight.shape[2:])} (dilation {self.dilation})",
                f"input {format_shape(x.shape)} with padding {self.padding}"
                f" (torch: {str(error).splitlines()[0]})",
                "pad the input (padding=1 for a 3x3 kernel keeps the size) or use a smaller kernel",
            )
        )


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1):
    """2-D convolution, as torch.nn.functional.conv2d.

    ``padding`` is a number, a pair, "valid" (none) or "same" (as much as
    keeps the output the size of the input; stride 1 only).
    """
    _check_conv_inputs(input, weight, groups)
    extra = (0, 0)
    if isinstance(padding, str):
        padding, extra = _string_padding(padding, weight, stride, dilation)
    else:
        padding = pair("conv2d", "padding", padding)
    gate = Conv2d(stride, padding, dilation, groups, extra)
    return gate(input, weight) if bias is None else gate(input, weight, bias)


def _string_padding(padding: str, weight, stride, dilation) -> tuple:
    """(padding, extra) for padding="valid" or "same", split as torch splits it."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ArgumentError(
            message(
                "conv2d",
                'padding to be a number, a pair, "valid" or "same"',
                repr(padding),
                '"same" keeps the image size (stride 1), "valid" adds no padding',
            )
        )
    if pair("conv2d", "stride", stride) != (1, 1):
        raise ArgumentError(
            message(
                "conv2d",
                'stride=1 with padding="same"',
                f"stride={stride!r}",
                "with a stride the output cannot keep the input's size; give padding as a number",
            )
        )
    reach = [d * (k - 1) for d, k in zip(pair("conv2d", "dilation", dilation), weight.shape[2:])]
    return tuple(r // 2 for r in reach), tuple(r % 2 for r in reach)


def _check_conv_inputs(x, weight, groups: int) -> None:
    if x.ndim not in (3, 4) or weight.ndim != 4:
        raise ShapeError(
            message(
                "conv2d",
                "an input (N, C, H, W) or (C, H, W) and a weight (out, C/groups, kH, kW)",
                f"{format_shape(x.shape)} and {format_shape(weight.shape)}",
                "add a channel dimension with x.unsqueeze(-3), e.g. (N, 28, 28) -> (N, 1, 28, 28)",
            )
        )
    if not x.dtype.is_floating_point or not weight.dtype.is_floating_point:
        raise DTypeError(
            message(
                "conv2d",
                "floating-point input and weight",
                f"input {x.dtype} and weight {weight.dtype}",
                "convert the images first, e.g. x.float() / 255 for uint8 pixels",
            )
        )
    channels = x.shape[-3]
    if channels != weight.shape[1] * groups:
        raise ShapeError(
            message(
                "conv2d",
                f"an input with {weight.shape[1] * groups} channels (the weight "
                f"{format_shape(weight.shape)} with groups={groups})",
                f"{channels} channels in input {format_shape(x.shape)}",
                "the layer's in_channels must equal the input's channel dimension",
            )
        )
