"""Which of torch's OpInfo entries each minigrad op answers to.

torch ships a database of sample inputs for its own ops (``op_db`` in
``torch.testing._internal.common_methods_invocations``). Every op that
minigrad names after torch is listed here once, by its OpInfo name and
variant, with the minigrad callable that takes the same arguments as the
OpInfo's ``op``. ``tests/test_opinfo.py`` runs every sample through both.

Adding an op means adding one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import minigrad as mg


@dataclass(frozen=True)
class OpRow:
    """One OpInfo entry and the minigrad callable that must behave like its ``op``.

    ``random`` marks ops whose output is random (dropout): they are compared
    with torch applied to the same mask, recovered from minigrad's output.
    """

    family: str
    name: str
    variant: str
    fn: Callable
    random: bool = False

    @property
    def id(self) -> str:
        return self.name + (f".{self.variant}" if self.variant else "")


V = mg.Variable

ROWS = [
    # arithmetic
    OpRow("arithmetic", "add", "", mg.add),
    OpRow("arithmetic", "sub", "", mg.sub),
    OpRow("arithmetic", "mul", "", mg.mul),
    OpRow("arithmetic", "div", "no_rounding_mode", mg.div),
    OpRow("arithmetic", "div", "trunc_rounding", mg.div),
    OpRow("arithmetic", "div", "floor_rounding", mg.div),
    OpRow("arithmetic", "neg", "", mg.neg),
    OpRow("arithmetic", "pow", "", mg.pow),
    OpRow("arithmetic", "__radd__", "", V.__radd__),
    OpRow("arithmetic", "__rsub__", "", V.__rsub__),
    OpRow("arithmetic", "__rmul__", "", V.__rmul__),
    OpRow("arithmetic", "__rdiv__", "", V.__rtruediv__),
    OpRow("arithmetic", "__rpow__", "", V.__rpow__),
    # reductions
    OpRow("reductions", "sum", "", mg.sum),
    OpRow("reductions", "mean", "", mg.mean),
    OpRow("reductions", "var", "", mg.var),
    OpRow("reductions", "var", "unbiased", mg.var),
    OpRow("reductions", "max", "reduction_no_dim", mg.max),
    OpRow("reductions", "max", "reduction_with_dim", mg.max),
    OpRow("reductions", "max", "binary", mg.max),
    OpRow("reductions", "min", "reduction_no_dim", mg.min),
    OpRow("reductions", "min", "reduction_with_dim", mg.min),
    OpRow("reductions", "min", "binary", mg.min),
    OpRow("reductions", "logsumexp", "", mg.logsumexp),
    # element-wise
    OpRow("elementwise", "exp", "", mg.exp),
    OpRow("elementwise", "log", "", mg.log),
    OpRow("elementwise", "sqrt", "", mg.sqrt),
    OpRow("elementwise", "abs", "", mg.abs),
    OpRow("elementwise", "clamp", "", mg.clamp),
    OpRow("elementwise", "maximum", "", mg.maximum),
    OpRow("elementwise", "minimum", "", mg.minimum),
    OpRow("elementwise", "where", "", lambda x, condition, other: mg.where(condition, x, other)),
    OpRow("elementwise", "to", "", V.to),
    OpRow("elementwise", "float", "", V.float),
    OpRow("elementwise", "double", "", V.double),
    # activations
    OpRow("activations", "nn.functional.relu", "", mg.relu),
    OpRow("activations", "nn.functional.leaky_relu", "", mg.leaky_relu),
    OpRow("activations", "nn.functional.gelu", "", mg.gelu),
    OpRow("activations", "sigmoid", "", mg.sigmoid),
    OpRow("activations", "tanh", "", mg.tanh),
    OpRow("activations", "softmax", "", mg.softmax),
    OpRow("activations", "softmax", "with_dtype", mg.softmax),
    OpRow("activations", "log_softmax", "", mg.log_softmax),
    OpRow("activations", "log_softmax", "with_dtype", mg.log_softmax),
    # shape
    OpRow("shape", "reshape", "", mg.reshape),
    OpRow("shape", "view", "", V.view),
    OpRow("shape", "flatten", "", mg.flatten),
    OpRow("shape", "transpose", "", mg.transpose),
    OpRow("shape", "permute", "", mg.permute),
    OpRow("shape", "squeeze", "", mg.squeeze),
    OpRow("shape", "squeeze", "multiple", mg.squeeze),
    OpRow("shape", "unsqueeze", "", mg.unsqueeze),
    OpRow("shape", "expand", "", V.expand),
    OpRow("shape", "__getitem__", "", V.__getitem__),
    OpRow("shape", "cat", "", mg.cat),
    OpRow("shape", "stack", "", mg.stack),
    OpRow("shape", "split", "", mg.split),
    OpRow("shape", "split", "list_args", mg.split),
    OpRow("shape", "chunk", "", mg.chunk),
    OpRow("shape", "T", "", lambda x: x.T),
    # matrix products
    OpRow("linalg", "matmul", "", mg.matmul),
    OpRow("linalg", "__rmatmul__", "", V.__rmatmul__),
    OpRow("linalg", "nn.functional.linear", "", mg.linear),
    # convolution and pooling
    OpRow("conv", "nn.functional.conv2d", "", mg.conv2d),
    OpRow("pooling", "nn.functional.max_pool2d", "", mg.max_pool2d),
    OpRow("pooling", "nn.functional.avg_pool2d", "", mg.avg_pool2d),
    # normalisation and regularisation
    OpRow("normalization", "nn.functional.batch_norm", "", mg.batch_norm),
    OpRow("normalization", "nn.functional.batch_norm", "without_cudnn", mg.batch_norm),
    OpRow("normalization", "nn.functional.layer_norm", "", mg.layer_norm),
    OpRow(
        "normalization", "nn.functional.embedding", "", lambda w, i, **k: mg.embedding(i, w, **k)
    ),
    OpRow("normalization", "nn.functional.dropout", "", mg.dropout, random=True),
    # losses
    OpRow("losses", "nn.functional.cross_entropy", "", mg.cross_entropy),
    OpRow("losses", "nn.functional.nll_loss", "", mg.nll_loss),
    OpRow("losses", "nn.functional.mse_loss", "", mg.mse_loss),
    OpRow(
        "losses",
        "nn.functional.binary_cross_entropy_with_logits",
        "",
        mg.binary_cross_entropy_with_logits,
    ),
    # masking, gather and attention
    OpRow("masking", "masked_fill", "", mg.masked_fill),
    OpRow("masking", "tril", "", mg.tril),
    OpRow("masking", "triu", "", mg.triu),
    OpRow("gather", "gather", "", mg.gather),
    OpRow("gather", "index_select", "", mg.index_select),
    OpRow("attention", "bmm", "", mg.bmm),
    OpRow(
        "attention",
        "nn.functional.scaled_dot_product_attention",
        "",
        mg.scaled_dot_product_attention,
    ),
]
