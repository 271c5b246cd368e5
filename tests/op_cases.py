"""The table of op cases that drives the comparison with torch.autograd.

Each case is written once, as a function of a namespace ``ns`` and the inputs:
``ns`` is ``minigrad`` for the minigrad run and :data:`TORCH` (torch, then
torch.nn.functional) for the oracle run. Operators and tensor methods are
shared by Variables and tensors, so most cases need no namespace at all.

Adding an op to the tests means adding one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F  # noqa: N812


class _TorchNamespace:
    """torch's functions under minigrad's names (torch.nn.functional first, then torch)."""

    def __getattr__(self, name):
        for module in (F, torch):
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(name)


TORCH = _TorchNamespace()


@dataclass
class OpCase:
    """One op on inputs of fixed shapes.

    ``domain`` shapes the random inputs: "real" (normal), "positive" (0.5..1.5),
    "away" (|x| in 0.5..1.5, for denominators), "unit" (0..1, for probabilities);
    a list gives one domain per input. ``constants`` are extra,
    non-differentiable inputs built from a generator (class targets, masks).
    """

    name: str
    fn: Callable
    shapes: list
    domain: str = "real"
    constants: Callable | None = None
    gradcheck: bool = True
    kwargs: dict = field(default_factory=dict)


def _targets(n, classes):
    return lambda g: torch.randint(0, classes, (n,), generator=g)


def _mask(shape):
    return lambda g: torch.rand(shape, generator=g) > 0.5


def _indices(shape, rows):
    return lambda g: torch.randint(0, rows, shape, generator=g)


CASES = [
    # arithmetic, with broadcasting
    OpCase("add", lambda ns, a, b: a + b, [(3, 1), (4,)]),
    OpCase("add_scalar", lambda ns, a: 2.5 + a, [(2, 3)]),
    OpCase("sub", lambda ns, a, b: a - b, [(2, 3, 4), (3, 1)]),
    OpCase("rsub", lambda ns, a: 1.0 - a, [(5,)]),
    OpCase("mul", lambda ns, a, b: a * b, [(4, 1, 3), (2, 1)]),
    OpCase("mul_reused", lambda ns, a: a * a, [(3, 2)]),
    OpCase("div", lambda ns, a, b: a / b, [(3, 4), (4,)], domain="away"),
    OpCase("rdiv", lambda ns, a: 2.0 / a, [(3,)], domain="away"),
    OpCase("neg", lambda ns, a: -a, [(2, 2)]),
    OpCase("pow_scalar", lambda ns, a: a**3, [(3, 2)]),
    OpCase("pow_tensor", lambda ns, a, b: a**b, [(2, 3), (3,)], domain="positive"),
    OpCase("rpow", lambda ns, a: 2.0**a, [(4,)]),
    # reductions
    OpCase("sum_all", lambda ns, a: a.sum(), [(3, 4)]),
    OpCase("sum_dim", lambda ns, a: a.sum(1), [(2, 3, 4)]),
    OpCase("sum_dims_keep", lambda ns, a: a.sum((0, 2), keepdim=True), [(2, 3, 4)]),
    OpCase("mean_all", lambda ns, a: a.mean(), [(3, 4)]),
    OpCase("mean_dim", lambda ns, a: a.mean(-1), [(2, 5)]),
    OpCase("mean_dims_keep", lambda ns, a: a.mean((0, 1), keepdim=True), [(2, 3, 2)]),
    OpCase("var_all", lambda ns, a: a.var(), [(3, 4)]),
    OpCase("var_dim", lambda ns, a: a.var(0, keepdim=True), [(4, 3)]),
    OpCase("max_all", lambda ns, a: ns.max(a), [(3, 4)]),
    OpCase("max_dim", lambda ns, a: ns.max(a, 1).values, [(3, 4)]),
    OpCase("min_dim_keep", lambda ns, a: ns.min(a, 0, keepdim=True).values, [(3, 4)]),
    OpCase("min_all", lambda ns, a: ns.min(a), [(5,)]),
    OpCase("logsumexp", lambda ns, a: ns.logsumexp(a, 1), [(3, 4)]),
    # element-wise
    OpCase("exp", lambda ns, a: ns.exp(a), [(3, 2)]),
    OpCase("log", lambda ns, a: ns.log(a), [(3, 2)], domain="positive"),
    OpCase("sqrt", lambda ns, a: ns.sqrt(a), [(3, 2)], domain="positive"),
    OpCase("abs", lambda ns, a: ns.abs(a), [(3, 2)], domain="away"),
    OpCase("pow_fn", lambda ns, a: ns.pow(a, 2.0), [(4,)]),
    OpCase("clamp", lambda ns, a: ns.clamp(a, -0.5, 0.5), [(4, 3)]),
    OpCase("clamp_min", lambda ns, a: a.clamp(min=0.1), [(6,)]),
    OpCase("maximum", lambda ns, a, b: ns.maximum(a, b), [(3, 4), (4,)]),
    OpCase("minimum", lambda ns, a, b: ns.minimum(a, b), [(3, 1), (1, 4)]),
    OpCase("where", lambda ns, c, a, b: ns.where(c, a, b), [(3, 4), (4,)], constants=_mask((3, 4))),
    # activations
    OpCase("relu", lambda ns, a: ns.relu(a), [(4, 5)]),
    OpCase("leaky_relu", lambda ns, a: ns.leaky_relu(a, 0.1), [(4, 5)]),
    OpCase("gelu", lambda ns, a: ns.gelu(a), [(4, 5)]),
    OpCase("gelu_tanh", lambda ns, a: ns.gelu(a, approximate="tanh"), [(4, 5)]),
    OpCase("sigmoid", lambda ns, a: ns.sigmoid(a), [(4, 5)]),
    OpCase("tanh", lambda ns, a: ns.tanh(a), [(4, 5)]),
    OpCase("softmax", lambda ns, a: ns.softmax(a, 1), [(3, 4)]),
    OpCase("softmax_dim0", lambda ns, a: ns.softmax(a, 0), [(3, 4, 2)]),
    OpCase("log_softmax", lambda ns, a: ns.log_softmax(a, -1), [(3, 4)]),
    # shape
    OpCase("reshape", lambda ns, a: a.reshape(4, -1), [(2, 3, 2)]),
    OpCase("view", lambda ns, a: a.view(6), [(2, 3)]),
    OpCase("flatten", lambda ns, a: ns.flatten(a, 1), [(2, 3, 2)]),
    OpCase("transpose", lambda ns, a: a.transpose(0, 2), [(2, 3, 4)]),
    OpCase("permute", lambda ns, a: a.permute(2, 0, 1), [(2, 3, 4)]),
    OpCase("T", lambda ns, a: a.T, [(2, 3)]),
    OpCase("squeeze", lambda ns, a: a.squeeze(1), [(3, 1, 2)]),
    OpCase("squeeze_all", lambda ns, a: a.squeeze(), [(1, 3, 1)]),
    OpCase("unsqueeze", lambda ns, a: a.unsqueeze(-1), [(3, 2)]),
    OpCase("expand", lambda ns, a: a.expand(2, 3, 4), [(3, 1)]),
    OpCase("index_basic", lambda ns, a: a[1:, ::2], [(3, 5)]),
    OpCase("index_int", lambda ns, a: a[1], [(3, 5)]),
    OpCase("index_repeat", lambda ns, a: a[[0, 0, 2]], [(3, 4)]),
    OpCase("index_mixed", lambda ns, a: a[:, [1, 1, 3]], [(3, 4)]),
    OpCase("index_mask", lambda ns, m, a: a[m], [(3, 4)], constants=_mask((3, 4))),
    OpCase("cat", lambda ns, a, b: ns.cat([a, b], 1), [(2, 3), (2, 2)]),
    OpCase("stack", lambda ns, a, b: ns.stack([a, b], 1), [(2, 3), (2, 3)]),
    OpCase("split", lambda ns, a: ns.cat(list(ns.split(a, 2, 0))[::-1], 0), [(5, 2)]),
    OpCase("split_sizes", lambda ns, a: ns.split(a, [1, 3], 1)[1] * 2.0, [(2, 4)]),
    OpCase("chunk", lambda ns, a: ns.chunk(a, 3, 1)[0] - ns.chunk(a, 3, 1)[2], [(2, 6)]),
    # matrix products
    OpCase("matmul", lambda ns, a, b: a @ b, [(3, 4), (4, 2)]),
    OpCase("matmul_batched", lambda ns, a, b: ns.matmul(a, b), [(2, 1, 3, 4), (3, 4, 2)]),
    OpCase("matmul_vec_mat", lambda ns, a, b: a @ b, [(4,), (4, 3)]),
    OpCase("matmul_mat_vec", lambda ns, a, b: a @ b, [(3, 4), (4,)]),
    OpCase("matmul_dot", lambda ns, a, b: a @ b, [(4,), (4,)]),
    OpCase("linear", lambda ns, x, w, b: ns.linear(x, w, b), [(5, 4), (3, 4), (3,)]),
    OpCase("linear_nobias_3d", lambda ns, x, w: ns.linear(x, w), [(2, 5, 4), (3, 4)]),
    # convolution and pooling
    OpCase("conv2d", lambda ns, x, w, b: ns.conv2d(x, w, b), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    OpCase(
        "conv2d_stride_pad",
        lambda ns, x, w: ns.conv2d(x, w, None, 2, 1),
        [(2, 2, 7, 7), (3, 2, 3, 3)],
    ),
    OpCase(  # an even size with stride 2: the last row and column are never read by a window
        "conv2d_stride_skips_edge",
        lambda ns, x, w: ns.conv2d(x, w, None, 2, 0),
        [(2, 2, 8, 8), (3, 2, 3, 3)],
    ),
    OpCase(
        "conv2d_dilation",
        lambda ns, x, w: ns.conv2d(x, w, dilation=2),
        [(1, 2, 7, 7), (2, 2, 3, 3)],
    ),
    OpCase(
        "conv2d_groups",
        lambda ns, x, w, b: ns.conv2d(x, w, b, 1, 1, 1, 2),
        [(2, 4, 5, 5), (6, 2, 3, 3), (6,)],
    ),
    OpCase("max_pool2d", lambda ns, x: ns.max_pool2d(x, 2), [(2, 3, 6, 6)]),
    OpCase("max_pool2d_overlap", lambda ns, x: ns.max_pool2d(x, 3, 2, 1), [(2, 2, 7, 7)]),
    OpCase("avg_pool2d", lambda ns, x: ns.avg_pool2d(x, 2), [(2, 3, 6, 6)]),
    OpCase("avg_pool2d_overlap", lambda ns, x: ns.avg_pool2d(x, 3, 2, 1), [(2, 2, 7, 7)]),
    # rectangular windows and strides: a swapped height and width shows here, not above
    OpCase("avg_pool2d_rect", lambda ns, x: ns.avg_pool2d(x, (2, 3), (1, 2)), [(2, 3, 7, 8)]),
    OpCase(
        "avg_pool2d_rect_pad",
        lambda ns, x: ns.avg_pool2d(x, (3, 2), (2, 1), (1, 0)),
        [(2, 2, 7, 6)],
    ),
    OpCase("max_pool2d_rect", lambda ns, x: ns.max_pool2d(x, (3, 2), (2, 1)), [(2, 2, 7, 6)]),
    # normalisation
    OpCase(
        "batch_norm_2d",
        lambda ns, x, w, b: ns.batch_norm(x, None, None, w, b, True),
        [(6, 3), (3,), (3,)],
    ),
    OpCase(
        "batch_norm_4d",
        lambda ns, x, w, b: ns.batch_norm(x, None, None, w, b, True),
        [(3, 2, 4, 4), (2,), (2,)],
    ),
    OpCase(
        "batch_norm_eval",
        lambda ns, m, v, x, w, b: ns.batch_norm(x, m, v, w, b, False),
        [(4, 3), (3,), (3,)],
        constants=lambda g: (torch.randn(3, generator=g), torch.rand(3, generator=g) + 0.5),
    ),
    OpCase("layer_norm", lambda ns, x, w, b: ns.layer_norm(x, (4,), w, b), [(3, 4), (4,), (4,)]),
    OpCase("layer_norm_2d", lambda ns, x: ns.layer_norm(x, (2, 3)), [(4, 2, 3)]),
    OpCase(
        "embedding", lambda ns, i, w: ns.embedding(i, w), [(5, 3)], constants=_indices((2, 4), 5)
    ),
    # losses
    OpCase(
        "cross_entropy", lambda ns, t, x: ns.cross_entropy(x, t), [(6, 4)], constants=_targets(6, 4)
    ),
    OpCase(
        "cross_entropy_sum",
        lambda ns, t, x: ns.cross_entropy(x, t, reduction="sum"),
        [(5, 3)],
        constants=_targets(5, 3),
    ),
    OpCase(
        "cross_entropy_none",
        lambda ns, t, x: ns.cross_entropy(x, t, reduction="none"),
        [(5, 3)],
        constants=_targets(5, 3),
    ),
    OpCase(
        "nll_loss",
        lambda ns, t, x: ns.nll_loss(ns.log_softmax(x, 1), t),
        [(6, 4)],
        constants=_targets(6, 4),
    ),
    OpCase(
        "nll_loss_none",
        lambda ns, t, x: ns.nll_loss(x, t, reduction="none"),
        [(4, 3)],
        constants=_targets(4, 3),
    ),
    OpCase("mse_loss", lambda ns, a, b: ns.mse_loss(a, b), [(4, 3), (4, 3)]),
    OpCase("mse_loss_sum", lambda ns, a, b: ns.mse_loss(a, b, reduction="sum"), [(5,), (5,)]),
    OpCase(
        "bce_with_logits",
        lambda ns, x, y: ns.binary_cross_entropy_with_logits(x, y),
        [(4, 3), (4, 3)],
        domain=["real", "unit"],
    ),
]
