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
from minigrad.gate import Gate, apply_gate
from minigrad.ops.arguments import pair
from minigrad.ops.pieces import cat
from minigrad.ops.tangents import total


class Conv2d(Gate):
    """y[n, o] = b[o] + sum_{c, i, j} w[o, c, i, j] * x[n, c, s*h + d*i - p, s*w + d*j - p].

    dL/dx = conv_transpose2d(G, w),  dL/dw = correlation of x with G,
    dL/db = sum of G over batch and space. ``groups`` splits the channels
    into independent groups. ``extra`` pads one more row (column) at the
    bottom (right) than at the top (left): what padding="same" needs when
    the kernel's reach is even, so the padding cannot be split evenly.

    Both gradients are convolutions again, each a gate of its own
    (:class:`ConvInputGrad`, :class:`ConvWeightGrad`), so with
    ``create_graph=True`` they are recorded, and each of the three gates'
    backward is made of the other two: a closed family.
    """

    def __init__(self, stride=1, padding=0, dilation=1, groups: int = 1, extra=(0, 0)):
        self.stride, self.padding = pair("conv2d", "stride", stride), padding
        self.dilation, self.groups = pair("conv2d", "dilation", dilation), groups
        self.extra = extra

    @property
    def options(self) -> tuple:
        return (self.stride, self.padding, self.dilation, self.groups)

    def forward(self, x, weight, bias=None):
        self.batched = x.ndim == 4
        self.x = x if self.needs_input_grad[1] else None
        self.weight = weight if self.needs_input_grad[0] else None
        x = self._prepare(x)
        self.x_shape, self.w_shape = x.shape, weight.shape
        out = F.conv2d(x, weight, bias, *self.options)
        return out if self.batched else out.squeeze(0)

    def backward(self, grad_output):
        need = self.needs_input_grad
        g = grad_output if self.batched else grad_output.unsqueeze(0)
        grad_x = grad_w = grad_b = None
        if need[0]:
            padding = output_padding(self.x_shape, g.shape, self.w_shape, self.options)
            grad_x = self._unprepare(
                apply_gate(ConvInputGrad(self.options, padding), g, self.weight)
            )
        if need[1]:
            grad_w = apply_gate(
                ConvWeightGrad(self.options, self.w_shape), self._prepare(self.x), g
            )
        if len(need) > 2 and need[2]:
            # Space first, then the batch: about twice as fast as .sum((0, 2, 3)) on NCHW.
            grad_b = g.sum((2, 3)).sum(0)
        return (grad_x, grad_w, grad_b) if len(need) > 2 else (grad_x, grad_w)

    def jvp(self, tx, tw, tb=None):
        moved = total(
            None if tx is None else F.conv2d(self._prepare(tx), self.weight, None, *self.options),
            None if tw is None else F.conv2d(self._prepare(self.x), tw, None, *self.options),
        )
        if moved is not None and not self.batched:
            moved = moved.squeeze(0)
        return total(moved, None if tb is None else tb.reshape(-1, 1, 1))

    def _prepare(self, x):
        """One (C, H, W) image as a batch of one, padded by ``extra`` at the end."""
        if not self.batched:
            x = x.unsqueeze(0)
        return _pad_end(x, self.extra) if any(self.extra) else x

    def _unprepare(self, grad):
        """The inverse of _prepare for a gradient: the extra padding cut, the batch dropped."""
        if any(self.extra):
            height, width = grad.shape[-2] - self.extra[0], grad.shape[-1] - self.extra[1]
            grad = grad[..., :height, :width]
        return grad if self.batched else grad.squeeze(0)

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


class ConvInputGrad(Gate):
    """y = conv_transpose2d(g, w): dL/dx of a convolution, the transpose of x -> conv2d(x, w).

    Each output position sends its gradient back over the window it read.
    Bilinear in (g, w): with <G, y> = <conv2d(G, w), g>,
    dL/dg = conv2d(G, w) and dL/dw = ConvWeightGrad(G, g).
    ``output_padding`` restores the rows and columns a strided forward skipped.
    """

    def __init__(self, options: tuple, output_padding: list):
        self.options, self.output_padding = options, output_padding

    def forward(self, g, weight):
        self.g = g if self.needs_input_grad[1] else None
        self.weight = weight if self.needs_input_grad[0] else None
        self.w_shape = weight.shape
        stride, padding, dilation, groups = self.options
        return F.conv_transpose2d(
            g, weight, None, stride, padding, self.output_padding, groups, dilation
        )

    def backward(self, grad_output):
        need_g, need_w = self.needs_input_grad
        stride, padding, dilation, groups = self.options
        return (
            apply_gate(Conv2d(stride, padding, dilation, groups), grad_output, self.weight)
            if need_g
            else None,
            apply_gate(ConvWeightGrad(self.options, self.w_shape), grad_output, self.g)
            if need_w
            else None,
        )

    def jvp(self, tg, tw):
        stride, padding, dilation, groups = self.options

        def transposed(g, weight):
            return F.conv_transpose2d(
                g, weight, None, stride, padding, self.output_padding, groups, dilation
            )

        return total(
            None if tg is None else transposed(tg, self.weight),
            None if tw is None else transposed(self.g, tw),
        )


class ConvWeightGrad(Gate):
    """y = dL/dw of a convolution: the correlation of the input x with the output gradient g.

    Bilinear in (x, g): with <W, y> = <g, conv2d(x, W)>,
    dL/dx = ConvInputGrad(g, W) and dL/dg = conv2d(x, W).
    """

    def __init__(self, options: tuple, w_shape):
        self.options, self.w_shape = options, w_shape

    def forward(self, x, g):
        self.x = x if self.needs_input_grad[1] else None
        self.g = g if self.needs_input_grad[0] else None
        self.x_shape = x.shape
        return torch.nn.grad.conv2d_weight(x, self.w_shape, g, *self.options)

    def backward(self, grad_output):
        need_x, need_g = self.needs_input_grad
        stride, padding, dilation, groups = self.options
        grad_x = grad_g = None
        if need_x:
            padding_out = output_padding(self.x_shape, self.g.shape, self.w_shape, self.options)
            grad_x = apply_gate(ConvInputGrad(self.options, padding_out), self.g, grad_output)
        if need_g:
            grad_g = apply_gate(Conv2d(stride, padding, dilation, groups), self.x, grad_output)
        return grad_x, grad_g

    def jvp(self, tx, tg):
        def correlated(x, g):
            return torch.nn.grad.conv2d_weight(x, self.w_shape, g, *self.options)

        return total(
            None if tx is None else correlated(tx, self.g),
            None if tg is None else correlated(self.x, tg),
        )


def output_padding(x_shape, g_shape, w_shape, options) -> list:
    """The rows and columns of x that a strided convolution never read: conv_transpose2d
    must be told to give them back (as zeros) so that dL/dx has x's shape."""
    stride, padding, dilation, _ = options
    sizes = zip(x_shape[2:], g_shape[2:], w_shape[2:])
    return [
        size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)
        for (size, out, k), s, p, d in zip(sizes, stride, padding, dilation)
    ]


def _pad_end(x, extra):
    """x with ``extra`` = (rows, columns) of zeros added at the bottom and the right."""
    if isinstance(x, torch.Tensor):
        return F.pad(x, (0, extra[1], 0, extra[0]))
    for dim, size in ((2, extra[0]), (3, extra[1])):  # a Variable: joined with zeros
        if size:
            shape = list(x.shape)
            shape[dim] = size
            x = cat([x, torch.zeros(shape, dtype=x.dtype, device=x.device)], dim)
    return x


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
