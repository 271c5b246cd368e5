"""BatchNorm and Conv2dBatchNorm.

Batch normalisation rescales each channel to zero mean and unit variance over
the batch (and the image), then applies a learned scale and shift::

    y = weight * (x - mean) / sqrt(var + eps) + bias

While training it uses the batch's statistics and keeps running averages of
them, which evaluation uses instead (so one sample's output does not depend on
the rest of its batch):

    running_mean <- (1 - momentum) * running_mean + momentum * batch mean
    running_var  <- (1 - momentum) * running_var  + momentum * unbiased batch variance

The running averages are the module's ``outputs``: state that forward updates.
"""

from __future__ import annotations

import torch

from minigrad.nn.checks import check_between, check_count, check_positive
from minigrad.nn.conv import Conv2d
from minigrad.nn.init import InitFunc, constant_init, he_init, new_variable
from minigrad.nn.module import Module
from minigrad.ops import batch_norm


class BatchNorm(Module):
    """Batch normalisation over channel dimension 1, for (N, C) and (N, C, H, W) inputs.

    Same numbers as torch's ``BatchNorm1d`` / ``BatchNorm2d`` (torch's
    ``momentum`` convention: the weight of the *new* batch statistic).
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        weights: InitFunc = constant_init(1.0),  # noqa: B008 (a pure closure: safe to share)
        biases: InitFunc = constant_init(0.0),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        num_features = check_count(
            "BatchNorm", "num_features", num_features, 1, "the number of channels, e.g. 32"
        )
        momentum = check_between(
            "BatchNorm", "momentum", momentum, 0.0, 1.0, "the weight of each new batch, e.g. 0.1"
        )
        eps = check_positive("BatchNorm", "eps", eps, "a small number that keeps 1/sqrt safe")
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        common = {"generator": generator, "dtype": dtype, "device": device}
        self.weight = new_variable("weight", (num_features,), weights, **common)
        self.bias = new_variable("bias", (num_features,), biases, **common)
        state = {"dtype": dtype or torch.float32, "device": device}
        self.register_buffer("running_mean", torch.zeros(num_features, **state), output=True)
        self.register_buffer("running_var", torch.ones(num_features, **state), output=True)

    def forward(self, x):
        return batch_norm(
            x,
            self.running_mean.value,
            self.running_var.value,
            self.weight,
            self.bias,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class Conv2dBatchNorm(Module):
    """A Conv2d without bias followed by BatchNorm (the bias would be cancelled by the mean).

    Sub-modules ``conv`` and ``bn``: its variables are ``conv.weight``,
    ``bn.weight``, ``bn.bias``, ``bn.running_mean``, ``bn.running_var``.
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
        momentum: float = 0.1,
        eps: float = 1e-5,
        weights: InitFunc = he_init(),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        common = {"dtype": dtype, "device": device, "generator": generator}
        # Built first, so that a bad momentum or eps is refused before any weight is drawn.
        bn = BatchNorm(out_channels, momentum, eps, **common)
        self.conv = Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias=False,
            weights=weights,
            **common,
        )
        self.bn = bn

    def forward(self, x):
        return self.bn(self.conv(x))
