"""Normalisation and regularisation: batch_norm, layer_norm, dropout, embedding.

Batch and layer norm share one backward. With x_hat = (x - mean) / sqrt(var + eps)
computed over N elements, y = w * x_hat + b and dL/dy = G:

    dL/dx_hat = G * w
    dL/dx = 1/sqrt(var + eps) * (dL/dx_hat - mean(dL/dx_hat) - x_hat * mean(dL/dx_hat * x_hat))
    dL/dw = sum(G * x_hat),   dL/db = sum(G)

The sums run over the normalised elements (the batch for batch norm, the
features for layer norm). Each x_i moves the mean and the variance too, which
is where the two subtracted sums come from.
"""

from __future__ import annotations

import math
import numbers

import torch

from minigrad.errors import HyperParameterError, ShapeError, format_shape
from minigrad.gate import Gate


def _normalized_backward(g_hat, x_hat, inv_std, dims, count):
    mean_g = g_hat.sum(dims, keepdim=True) / count
    mean_gx = (g_hat * x_hat).sum(dims, keepdim=True) / count
    return inv_std * (g_hat - mean_g - x_hat * mean_gx)


class BatchNorm(Gate):
    """Normalise each channel over the batch (and space): see the module docstring.

    Training: uses the batch statistics and updates ``running_mean`` and
    ``running_var`` in place (running_var with the *unbiased* batch variance,
    as torch). Evaluation: uses the running statistics, so y is an affine map.
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

    def saved_tensors(self):
        saved = super().saved_tensors()
        saved.pop("running_mean", None)
        saved.pop("running_var", None)
        return saved

    def forward(self, x, weight=None, bias=None):
        if x.ndim < 2:
            raise ShapeError(
                f"batch_norm: expected (N, C) or (N, C, H, W), got {format_shape(x.shape)}"
            )
        per_channel = {"running_mean": self.running_mean, "running_var": self.running_var}
        for name, values in {**per_channel, "weight": weight, "bias": bias}.items():
            # Checked before the running statistics change, so a refused input changes nothing.
            if values is not None and values.numel() != x.shape[1]:
                raise ShapeError(
                    f"batch_norm: the input {format_shape(x.shape)} has {x.shape[1]} channels "
                    f"(dimension 1), but {name} holds {values.numel()} values\n"
                    f"help: BatchNorm(num_features) must equal the input's channel count, here "
                    f"{x.shape[1]}"
                )
        self.dims = (0,) + tuple(range(2, x.ndim))
        shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
        self.param_shape = shape
        if self.training:
            count = x.numel() // x.shape[1]
            if count < 2:
                raise ShapeError(
                    f"batch_norm: training needs more than one value per channel, got input "
                    f"{format_shape(x.shape)}\nhelp: use a batch of at least 2, or eval mode"
                )
            var, mean = torch.var_mean(x, self.dims, correction=0, keepdim=True)
            if self.running_mean is not None:
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(mean.reshape(-1), alpha=m)
                unbiased = var.reshape(-1) * (count / (count - 1))
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
            self.count = count
        else:
            mean = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        self.inv_std = torch.rsqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        self.weight = weight
        out = self.x_hat if weight is None else self.x_hat * weight.reshape(shape)
        return out if bias is None else out + bias.reshape(shape)

    def backward(self, grad_output):
        need = self.needs_input_grad
        g_hat = (
            grad_output
            if self.weight is None
            else grad_output * self.weight.reshape(self.param_shape)
        )
        grad_x = None
        if need[0]:
            if self.training:
                grad_x = _normalized_backward(
                    g_hat, self.x_hat, self.inv_std, self.dims, self.count
                )
            else:
                grad_x = g_hat * self.inv_std
        grad_w = (grad_output * self.x_hat).sum(self.dims) if len(need) > 1 and need[1] else None
        grad_b = grad_output.sum(self.dims) if len(need) > 2 and need[2] else None
        return (grad_x, grad_w, grad_b)[: len(need)]


class LayerNorm(Gate):
    """Normalise each sample over its last ``len(normalized_shape)`` dimensions."""

    def __init__(self, normalized_shape, eps: float = 1e-5):
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps

    def forward(self, x, weight=None, bias=None):
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ShapeError(
                f"layer_norm: the input ends in {format_shape(x.shape[-k:])} but "
                f"normalized_shape is {format_shape(self.normalized_shape)}\n"
                "help: normalized_shape must equal the input's last dimensions"
            )
        self.dims = tuple(range(x.ndim - k, x.ndim))
        self.count = math.prod(self.normalized_shape)
        var, mean = torch.var_mean(x, self.dims, correction=0, keepdim=True)
        self.inv_std = torch.rsqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        self.weight = weight
        out = self.x_hat if weight is None else self.x_hat * weight
        return out if bias is None else out + bias

    def backward(self, grad_output):
        need = self.needs_input_grad
        g_hat = grad_output if self.weight is None else grad_output * self.weight
        lead = tuple(range(grad_output.ndim - len(self.dims)))
        grad_x = (
            _normalized_backward(g_hat, self.x_hat, self.inv_std, self.dims, self.count)
            if need[0]
            else None
        )
        grad_w = (grad_output * self.x_hat).sum(lead) if len(need) > 1 and need[1] else None
        grad_b = grad_output.sum(lead) if len(need) > 2 and need[2] else None
        return (grad_x, grad_w, grad_b)[: len(need)]


def check_dropout_p(p) -> float:
    """Dropout's ``p`` as a float: the fraction of values zeroed, in [0, 1) (1 would zero all).

    The one check of p: ``nn.Dropout`` calls it when it is built, the op when it runs.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
        raise HyperParameterError(
            f"dropout: p must be a number in [0, 1), got {p!r}\n"
            "help: p is the fraction of values set to zero while training, e.g. 0.5"
        )
    return float(p)


class Dropout(Gate):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element.   dL/dx = G * m / (1 - p).

    Scaling by 1/(1-p) keeps the expected value of y equal to x, so nothing
    changes at evaluation time, when dropout is the identity. ``normalize=False``
    (nimxla's option) leaves out the scaling.
    """

    def __init__(self, p: float = 0.5, normalize: bool = True):
        self.p, self.normalize = check_dropout_p(p), normalize

    def forward(self, x):
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p)
        self.mask = keep / (1.0 - self.p) if self.normalize else keep
        return x * self.mask

    def backward(self, grad_output):
        return (grad_output * self.mask,)


class Embedding(Gate):
    """y[...] = weight[indices[...]].   dL/dweight[r] = sum of G at every place row r was read."""

    def __init__(self, indices: torch.Tensor):
        self.indices = indices

    def forward(self, weight):
        self.weight_shape = weight.shape
        return weight[self.indices]

    def backward(self, grad_output):
        grad = grad_output.new_zeros(self.weight_shape)
        grad.index_add_(0, self.indices.reshape(-1), grad_output.reshape(-1, self.weight_shape[1]))
        return (grad,)


def batch_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Batch normalisation, argument order as torch.nn.functional.batch_norm."""
    if not training and (running_mean is None or running_var is None):
        raise ValueError(
            "batch_norm: evaluation mode needs running_mean and running_var\n"
            "help: pass training=True to use the batch statistics"
        )
    gate = BatchNorm(running_mean, running_var, training, momentum, eps)
    inputs = [x] + ([weight, bias] if bias is not None else [weight] if weight is not None else [])
    return gate(*inputs)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalisation, as torch.nn.functional.layer_norm."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    gate = LayerNorm(normalized_shape, eps)
    inputs = [x] + ([weight, bias] if bias is not None else [weight] if weight is not None else [])
    return gate(*inputs)


def dropout(x, p: float = 0.5, training: bool = True, normalize: bool = True):
    """Zero a fraction ``p`` of values while training; the identity otherwise."""
    p = check_dropout_p(p)
    if not training or p == 0.0:
        return x
    return Dropout(p, normalize)(x)


def embedding(indices, weight):
    """Rows of ``weight`` picked by integer ``indices``, as torch.nn.functional.embedding."""
    from minigrad.variable import Variable

    if isinstance(indices, Variable):
        indices = indices.value
    indices = torch.as_tensor(indices)
    if indices.is_floating_point():
        raise TypeError(
            f"embedding: indices must be integers, got {indices.dtype}\n"
            "help: convert them with .long()"
        )
    return Embedding(indices)(weight)
