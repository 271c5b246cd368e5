"""Linear: the fully connected layer, y = x @ W^T + b."""

from __future__ import annotations

import torch

from minigrad.nn.checks import check_count, check_flag
from minigrad.nn.init import InitFunc, constant_init, he_init, new_variable
from minigrad.nn.module import Module
from minigrad.ops import linear


class Linear(Module):
    """y = x @ W^T + b, with W of shape (out_features, in_features) as torch.

    ``weights`` and ``biases`` are initialisers (He normal and zeros by
    default, as nimxla); ``bias=False`` or ``biases=None`` leaves out the bias.
    ``generator`` (from ``init_random``) makes the initial values repeatable.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        weights: InitFunc = he_init(),  # noqa: B008 (a pure closure: safe to share)
        biases: InitFunc | None = constant_init(0.0),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        hint = "it is a number of features, e.g. Linear(64, 10)"
        in_features = check_count("Linear", "in_features", in_features, 1, hint)
        out_features = check_count("Linear", "out_features", out_features, 1, hint)
        check_flag("Linear", "bias", bias, "bias=False leaves out the bias")
        self.in_features, self.out_features = in_features, out_features
        common = {"generator": generator, "dtype": dtype, "device": device}
        self.weight = new_variable("weight", (out_features, in_features), weights, **common)
        if bias and biases is not None:
            self.bias = new_variable("bias", (out_features,), biases, **common)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
