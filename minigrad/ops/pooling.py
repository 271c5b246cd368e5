"""Pooling on (N, C, H, W) images, or one (C, H, W) image: max and average over windows.

Both slide a ``kernel_size`` window by ``stride`` over the image (padded by
``padding``); ``ceil_mode`` keeps a last, partial window where the stride does
not fit the image exactly, instead of dropping those rows and columns.

Average pooling is linear and max pooling linear piece by piece (the winner
of a window stays the winner when the inputs move a little), so with
``create_graph=True`` each backward is recorded as one node whose own
backward is the ``jvp``: the window's tangent averaged, or the winner's taken.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.errors import ArgumentError, ShapeError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.arguments import pair


class _Pool(Gate):
    """What max and average pooling share: the window, and unbatched (C, H, W) input."""

    op = "pool"
    piecewise_linear = True

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        self.kernel_size = pair(self.op, "kernel_size", kernel_size)
        # stride=None (or an empty tuple, as torch allows) means "as the kernel"
        default = stride is None or stride == ()
        self.stride = self.kernel_size if default else pair(self.op, "stride", stride)
        self.padding = pair(self.op, "padding", padding)
        self.ceil_mode = ceil_mode

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        """One (C, H, W) image as a batch of one; remembers which it was."""
        self.batched = x.ndim == 4
        return x if self.batched else x.unsqueeze(0)

    def _unbatch(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.batched else t.squeeze(0)

    def _batch_grad(self, grad_output: torch.Tensor) -> torch.Tensor:
        return grad_output if self.batched else grad_output.unsqueeze(0)

    def explain(self, tensors, error):
        return ShapeError(
            message(
                self.op,
                "an input (N, C, H, W) or (C, H, W) at least as large as the window, and "
                "padding at most half the kernel",
                f"input {format_shape(tensors[0].shape)}, kernel_size={self.kernel_size}, "
                f"padding={self.padding} (torch: {str(error).splitlines()[0]})",
                "use a smaller kernel or less padding, or pool an earlier, larger layer",
            )
        )


class MaxPool2d(_Pool):
    """y = the largest value in each window.   dL/dx = G routed to each window's winner.

    Overlapping windows may pick the same winner: its gradients add up.
    ``dilation`` spreads the window's taps apart.
    """

    op = "max_pool2d"

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation = pair(self.op, "dilation", dilation)

    def forward(self, x):
        x = self._batch(x)
        self.x_shape = x.shape
        options = (self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)
        if x.device.type != "cpu":
            out, self.indices = F.max_pool2d(x, *options, return_indices=True)
        else:
            # On the CPU torch's channels-last kernel gives the same values and
            # indices several times faster than its NCHW one; the copies in and
            # out cost far less than that difference. (Written so that the copy
            # of x is freed before the results are copied back: peak memory.)
            out, indices = F.max_pool2d(
                x.contiguous(memory_format=torch.channels_last), *options, return_indices=True
            )
            self.indices = indices.contiguous()
            del indices
            out = out.contiguous()
        return self._unbatch(out)

    def backward(self, grad_output):
        grad_output = self._batch_grad(grad_output)
        n, c, h, w = self.x_shape
        grad = grad_output.new_zeros(n, c, h * w)
        grad.scatter_add_(2, self.indices.flatten(2), grad_output.flatten(2))
        return (self._unbatch(grad.view(n, c, h, w)),)

    def jvp(self, t):
        t = t if self.batched else t.unsqueeze(0)
        picked = t.flatten(2).gather(2, self.indices.flatten(2))
        return self._unbatch(picked.view(self.indices.shape))


class AvgPool2d(_Pool):
    """y = the sum of each window divided by D.

    D is the window's k*k elements, padding counted as zeros (torch's default);
    only the real inputs in it with ``count_include_pad=False``; or
    ``divisor_override``. A ``ceil_mode`` window hanging past the padded edge
    counts only what it covers.

    dL/dx = each window's G / D spread over the inputs it covers: the
    transposed sum-pooling of G / D.
    """

    op = "avg_pool2d"

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        x = self._batch(x)
        self.x_shape = x.shape
        out = F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip
        return self._unbatch(out)

    def backward(self, grad_output):
        grad_output = self._batch_grad(grad_output)
        n, c, h, w = self.x_shape
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        oh, ow = grad_output.shape[-2:]
        scaled = (grad_output / self._divisors(grad_output)).reshape(n * c, 1, oh, ow)
        # Spread each window's share over the k*k positions it covers, in the
        # coordinates of the padded input; then keep the part over the real input.
        ones = grad_output.new_ones(1, 1, kh, kw)
        spread = F.conv_transpose2d(scaled, ones, stride=self.stride)
        missing_h, missing_w = h + 2 * ph - spread.shape[-2], w + 2 * pw - spread.shape[-1]
        spread = F.pad(spread, (0, max(missing_w, 0), 0, max(missing_h, 0)))
        return (self._unbatch(spread[..., ph : ph + h, pw : pw + w].reshape(n, c, h, w)),)

    def jvp(self, t):
        t = t if self.batched else t.unsqueeze(0)
        out = F.avg_pool2d(
            t, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip
        return self._unbatch(out)

    def _divisors(self, like: torch.Tensor):
        """D for each window: a number when all windows share it, else a (oh, ow) map."""
        if self.divisor_override:
            return self.divisor_override
        if self.count_include_pad and not self.ceil_mode:
            return self.kernel_size[0] * self.kernel_size[1]  # every window is whole
        ones = like.new_ones((1, 1) + tuple(self.x_shape[2:]))
        window = (self.kernel_size, self.stride, self.padding, self.ceil_mode)
        real = F.avg_pool2d(ones, *window, divisor_override=1)  # real inputs per window
        if not self.count_include_pad:
            return real
        # real / D_window is what the default average of ones gives: solve for D_window.
        return real / F.avg_pool2d(ones, *window, count_include_pad=True)


def max_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max pooling, as torch.nn.functional.max_pool2d.

    With ``return_indices`` it returns ``(values, indices)``: each winner's
    position in its flattened (H * W) plane, as torch.
    """
    gate = MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode)
    out = gate(input)
    if not return_indices:
        return out
    return out, gate._unbatch(gate.indices)


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
):
    """Average pooling, as torch.nn.functional.avg_pool2d."""
    bad_divisor = not isinstance(divisor_override, int) or divisor_override == 0
    if divisor_override is not None and bad_divisor:
        raise ArgumentError(
            message(
                "avg_pool2d",
                "divisor_override to be None or a non-zero whole number",
                repr(divisor_override),
                "leave it None to divide by the window's size",
            )
        )
    return AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)(
        input
    )
