"""LayerNorm: normalise each sample over its features, then scale and shift.

    y = weight * (x - mean) / sqrt(var + eps) + bias

with the mean and the (biased) variance taken over the last
``len(normalized_shape)`` dimensions of each sample. Unlike batch norm it
needs no batch statistics, so it behaves the same in training and in
evaluation, for a batch of one as for a batch of a thousand: the normaliser
of transformers.
"""

from __future__ import annotations

import torch

from minigrad.nn.checks import check_count, check_flag, check_positive
from minigrad.nn.init import InitFunc, constant_init, new_variable
from minigrad.nn.module import Module
from minigrad.ops import layer_norm


class LayerNorm(Module):
    """Layer normalisation over the last dims ``normalized_shape``, as torch.nn.LayerNorm.

    ``weight`` starts at ones and ``bias`` at zeros (``elementwise_affine=False``
    leaves both out, ``bias=False`` only the bias).
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        weights: InitFunc = constant_init(1.0),  # noqa: B008 (a pure closure: safe to share)
        biases: InitFunc = constant_init(0.0),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
    ):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        hint = "the size of the features normalised, e.g. LayerNorm(64)"
        self.normalized_shape = tuple(
            check_count("LayerNorm", "normalized_shape", n, 1, hint) for n in normalized_shape
        )
        self.eps = check_positive("LayerNorm", "eps", eps, "a small number that keeps 1/sqrt safe")
        check_flag("LayerNorm", "elementwise_affine", elementwise_affine, "True learns a scale")
        check_flag("LayerNorm", "bias", bias, "bias=False leaves out the shift")
        common = {"dtype": dtype, "device": device}
        if elementwise_affine:
            self.weight = new_variable("weight", self.normalized_shape, weights, **common)
        else:
            self.register_parameter("weight", None)
        if elementwise_affine and bias:
            self.bias = new_variable("bias", self.normalized_shape, biases, **common)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"
