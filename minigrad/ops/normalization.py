"""Normalisation: batch_norm and layer_norm.

Batch and layer norm share one backward. With x_hat = (x - mean) / sqrt(var + eps)
computed over N elements, y = w * x_hat + b and dL/dy = G:

    dL/dx_hat = G * w
    dL/dx = 1/sqrt(var + eps) * (dL/dx_hat - mean(dL/dx_hat) - x_hat * mean(dL/dx_hat * x_hat))
    dL/dw = sum(G * x_hat),   dL/db = sum(G)

The sums run over the normalised elements (the batch for batch norm, the
features for layer norm). Each x_i moves the mean and the variance too, which
is where the two subtracted sums come from.

The Jacobian of x -> x_hat is symmetric, so the same formula with a tangent
in place of dL/dx_hat is the forward-mode derivative (``jvp``). Forward keeps
the input x and the (small) statistics; backward rebuilds x_hat from them.
With ``create_graph=True``, ``reference_backward`` computes the statistics
again from x, on Variables, so that how they move with x is recorded too.
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import (
    ArgumentError,
    ShapeError,
    format_shape,
    message,
)
from minigrad.gate import Gate
from minigrad.ops.aten import aten_kernel
from minigrad.ops.tangents import total


def _normalized_backward(g_hat, x_hat, inv_std, dims, count):
    mean_g = g_hat.sum(dims, keepdim=True) / count
    mean_gx = (g_hat * x_hat).sum(dims, keepdim=True) / count
    return inv_std * (g_hat - mean_g - x_hat * mean_gx)


def _statistics(x, dims, eps):
    """mean and 1 / sqrt(var + eps) over ``dims`` (kept), with operations Variables share."""
    mean = x.mean(dims, keepdim=True)
    centred = x - mean
    var = (centred * centred).mean(dims, keepdim=True)
    return mean, (var + eps) ** -0.5


def _affine_grads(self, grad_output, x_hat, inv_std, lead):
    """(dL/dx, dL/dw, dL/db) of y = w * x_hat + b, summing dL/dw and dL/db over ``lead``."""
    need = self.needs_input_grad
    g_hat = grad_output if self.weight is None else grad_output * self._weight()
    grad_x = None
    if need[0]:
        if self.normalizes:
            grad_x = _normalized_backward(g_hat, x_hat, inv_std, self.dims, self.count)
        else:  # evaluation: the statistics are constants, y is affine in x
            grad_x = g_hat * inv_std
    grad_w = _sum_over(grad_output * x_hat, lead) if len(need) > 1 and need[1] else None
    grad_b = _sum_over(grad_output, lead) if len(need) > 2 and need[2] else None
    return (grad_x, grad_w, grad_b)[: len(need)]


def _affine_jvp(self, tx, tw, tb, x_hat, inv_std):
    """How y = w * x_hat + b moves: w * (J tx) + tw * x_hat + tb."""
    moved = None
    if tx is not None:
        if self.normalizes:
            moved = _normalized_backward(tx, x_hat, inv_std, self.dims, self.count)
        else:
            moved = tx * inv_std
        if self.weight is not None:
            moved = moved * self._weight()
    if tw is not None:
        moved = total(moved, self._param(tw) * x_hat)
    if tb is not None:
        moved = total(moved, self._param(tb))
    return moved


def _sum_over(t: torch.Tensor, dims: tuple) -> torch.Tensor:
    """t summed over ``dims``; unchanged when there are none (``t.sum(())`` would sum all)."""
    return t.sum(dims) if dims else t


class BatchNorm(Gate):
    """Normalise each channel over the batch (and space): see the module docstring.

    Training: uses the batch statistics and updates ``running_mean`` and
    ``running_var`` in place (running_var with the *unbiased* batch variance,
    as torch), once the output is computed: a refused input leaves them as
    they were. Evaluation: uses the running statistics, so y is an affine map.

    In training, on inputs of one dtype, both directions run torch's native
    batch-norm kernels for exactly these formulas (one pass each way instead
    of a dozen kernels); :meth:`reference_forward` and
    :meth:`reference_backward` are the formulas written out, and a test
    proves each pair equal. Either forward saves the same things: x, and per
    channel the mean and 1/sqrt(var + eps).
    """

    def __init__(
        self,
        running_mean=None,
        running_var=None,
        training: bool = True,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps

    constants = ("running_mean", "running_var")  # buffers, not functions of this input

    def saved_tensors(self):
        saved = super().saved_tensors()
        saved.pop("running_mean", None)
        saved.pop("running_var", None)
        return saved

    @property
    def normalizes(self) -> bool:
        """True in training: the statistics are the batch's own, so they move with x."""
        return self.training

    def forward(self, x, weight=None, bias=None):
        self.empty = x.ndim < 2  # torch passes a 1-D input with no elements through
        if self.empty:
            return x.clone()
        self.x, self.weight = x, weight
        self.dims = (0,) + tuple(range(2, x.ndim))
        self.param_shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
        self.count = x.numel() // x.shape[1]
        self.native = self.training and _one_dtype(x, weight, bias, self.running_mean)
        if not self.native:
            return self.reference_forward(x, weight, bias)
        out, self.mean, self.inv_std = _native_batch_norm(
            x, weight, bias, self.running_mean, self.running_var, True, self.momentum, self.eps
        )
        return out

    def reference_forward(self, x, weight=None, bias=None):
        shape = self.param_shape
        if self.training:
            count = x.numel() // x.shape[1]
            var, mean = torch.var_mean(x, self.dims, correction=0)
        else:
            mean, var = self.running_mean, self.running_var
        self.mean, self.inv_std = mean, torch.rsqrt(var + self.eps)
        x_hat = (x - mean.reshape(shape)) * self.inv_std.reshape(shape)
        out = x_hat if weight is None else x_hat * weight.reshape(shape)
        out = out if bias is None else out + bias.reshape(shape)
        if self.training and self.running_mean is not None:
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_var.mul_(1 - m).add_(var * (count / (count - 1)), alpha=m)
        return out

    def backward(self, grad_output):
        need = self.needs_input_grad
        if self.empty:
            return (grad_output, None, None)[: len(need)]
        if not self.native:
            return _affine_grads(self, grad_output, *self._x_hat_and_inv_std(), self.dims)
        mask = [need[0], len(need) > 1 and need[1], len(need) > 2 and need[2]]
        grads = _native_batch_norm_backward(
            grad_output, self.x, self.weight, self.running_mean, self.running_var,
            self.mean, self.inv_std, True, self.eps, mask,
        )  # fmt: skip
        return tuple(grads)[: len(need)]

    def reference_backward(self, grad_output):
        """The formula, with the batch statistics computed again from x.

        Written with operations Variables share, so that ``create_graph``
        records how the statistics move with x too.
        """
        if self.empty:
            return (grad_output, None, None)[: len(self.needs_input_grad)]
        mean, inv_std = self._statistics()
        x_hat = (self.x - mean) * inv_std
        return _affine_grads(self, grad_output, x_hat, inv_std, self.dims)

    def jvp(self, tx, tw=None, tb=None):
        if self.empty:
            return tx
        return _affine_jvp(self, tx, tw, tb, *self._x_hat_and_inv_std())

    def _x_hat_and_inv_std(self):
        """x_hat and 1/sqrt(var + eps) (per channel, shaped to broadcast), as forward saved."""
        inv_std = self.inv_std.reshape(self.param_shape)
        return (self.x - self.mean.reshape(self.param_shape)) * inv_std, inv_std

    def _statistics(self):
        if self.training:
            return _statistics(self.x, self.dims, self.eps)
        var = self.running_var.reshape(self.param_shape)  # evaluation: constants
        return self.running_mean.reshape(self.param_shape), (var + self.eps) ** -0.5

    def _weight(self):
        return self.weight.reshape(self.param_shape)

    def _param(self, t):
        return t.reshape(self.param_shape)


class LayerNorm(Gate):
    """Normalise each sample over its last ``len(normalized_shape)`` dimensions.

    Both directions run torch's native layer-norm kernels for exactly the
    formulas of the module docstring; :meth:`reference_forward` and
    :meth:`reference_backward` write them out, and a test proves each pair
    equal. Either forward saves x, and per sample the mean and 1/sqrt(var + eps).
    """

    normalizes = True

    def __init__(self, normalized_shape, eps: float = 1e-5):
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps

    def forward(self, x, weight=None, bias=None):
        k = len(self.normalized_shape)
        self.dims = tuple(range(x.ndim - k, x.ndim))
        self.count = math.prod(self.normalized_shape)
        self.x, self.weight, self.bias = x, weight, bias
        self.native = _one_dtype(x, weight, bias, None)
        if not self.native:
            return self.reference_forward(x, weight, bias)
        out, self.mean, self.inv_std = _native_layer_norm(
            x, self.normalized_shape, weight, bias, self.eps
        )
        return out

    def reference_forward(self, x, weight=None, bias=None):
        var, self.mean = torch.var_mean(x, self.dims, correction=0, keepdim=True)
        self.inv_std = torch.rsqrt(var + self.eps)
        x_hat = (x - self.mean) * self.inv_std
        out = x_hat if weight is None else x_hat * weight
        return out if bias is None else out + bias

    def backward(self, grad_output):
        need = self.needs_input_grad
        if not self.native:
            x_hat = (self.x - self.mean) * self.inv_std
            return _affine_grads(self, grad_output, x_hat, self.inv_std, self._lead())
        mask = [need[0], len(need) > 1 and need[1], len(need) > 2 and need[2]]
        grads = _native_layer_norm_backward(
            grad_output, self.x, self.normalized_shape, self.mean, self.inv_std,
            self.weight, self.bias, mask,
        )  # fmt: skip
        return tuple(grads)[: len(need)]

    def reference_backward(self, grad_output):
        """The formula, with mean and variance computed again from x (``create_graph``
        records how they move with x too)."""
        mean, inv_std = _statistics(self.x, self.dims, self.eps)
        x_hat = (self.x - mean) * inv_std
        return _affine_grads(self, grad_output, x_hat, inv_std, self._lead())

    def jvp(self, tx, tw=None, tb=None):
        x_hat = (self.x - self.mean) * self.inv_std
        return _affine_jvp(self, tx, tw, tb, x_hat, self.inv_std)

    def _lead(self) -> tuple:
        """The batch dimensions, in front of the normalised ones (none when layer_norm
        normalises the whole tensor): dL/dw and dL/db sum over them."""
        return tuple(range(self.x.ndim - len(self.dims)))

    def _weight(self):
        return self.weight

    def _param(self, t):
        return t


_native_batch_norm = torch.native_batch_norm
_native_batch_norm_backward = aten_kernel("native_batch_norm_backward")
_native_layer_norm = torch.native_layer_norm
_native_layer_norm_backward = aten_kernel("native_layer_norm_backward")


def _one_dtype(x, weight, bias, statistic) -> bool:
    """True when the native kernels take these as they are: every tensor of x's dtype."""
    dtype = x.dtype  # (written out, not all() over a generator: this runs every step)
    return (
        (weight is None or weight.dtype == dtype)
        and (bias is None or bias.dtype == dtype)
        and (statistic is None or statistic.dtype == dtype)
    )


def batch_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Batch normalisation, argument order as torch.nn.functional.batch_norm.

    Every shape is checked before the running statistics are touched.
    """
    if not training and (running_mean is None or running_var is None):
        raise ArgumentError(
            message(
                "batch_norm",
                "running_mean and running_var in evaluation mode (training=False)",
                "None",
                "pass training=True to use the batch statistics",
            )
        )
    _check_batch_norm(input, running_mean, running_var, weight, bias, training)
    gate = BatchNorm(running_mean, running_var, training, momentum, eps)
    inputs = [input] + (
        [weight, bias] if bias is not None else [weight] if weight is not None else []
    )
    return gate(*inputs)


def _check_batch_norm(x, running_mean, running_var, weight, bias, training) -> None:
    channels = x.shape[1] if x.ndim > 1 else 0  # as torch: a 1-D input has no channels
    if x.ndim < 2 and x.numel():
        raise ShapeError(
            message(
                "batch_norm",
                "an input (N, C) or (N, C, H, W)",
                format_shape(x.shape),
                "add a batch dimension, e.g. x.unsqueeze(0), or use layer_norm for one sample",
            )
        )
    named = (("running_mean", running_mean), ("running_var", running_var))
    named += (("weight", weight), ("bias", bias))
    for name, t in named:
        if t is not None and t.numel() != channels:
            raise ShapeError(
                message(
                    "batch_norm",
                    f"{name} with one value per channel: the input {format_shape(x.shape)} has "
                    f"{channels} channels (dimension 1)",
                    f"a {name} that holds {t.numel()} values",
                    "BatchNorm(num_features) must equal the input's channel count, here "
                    f"{channels}",
                )
            )
    if training and x.ndim > 1 and x.numel() // max(channels, 1) < 2:
        raise ShapeError(
            message(
                "batch_norm",
                "more than one value per channel in training mode",
                f"input {format_shape(x.shape)}",
                "use a batch of at least 2, or eval mode",
            )
        )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalisation, as torch.nn.functional.layer_norm."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k :]) != normalized_shape or k > input.ndim:
        raise ShapeError(
            message(
                "layer_norm",
                f"an input ending in normalized_shape {format_shape(normalized_shape)}",
                f"input {format_shape(input.shape)}",
                "normalized_shape must equal the input's last dimensions",
            )
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != normalized_shape:
            raise ShapeError(
                message(
                    "layer_norm",
                    f"{name} of shape {format_shape(normalized_shape)} (normalized_shape)",
                    format_shape(t.shape),
                    f"make the {name} with normalized_shape's shape",
                )
            )
    gate = LayerNorm(normalized_shape, eps)
    inputs = [input] + (
        [weight, bias] if bias is not None else [weight] if weight is not None else []
    )
    return gate(*inputs)
