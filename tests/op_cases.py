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
    "away" (|x| in 0.5..1.5, for denominators), "unit" (0..1, for probabilities),
    and for the corners where a derivative is a convention: "ties" (whole
    numbers -1, 0, 1, so that maximum ties and relu meets 0), "natural" (0, 1,
    2: a zero base for pow) and "nan" (normal, a quarter of them NaN); a list
    gives one domain per input. ``constants`` are extra, non-differentiable
    inputs built from a generator (class targets, masks). ``equal_nan``: a NaN
    in minigrad's result must be a NaN in torch's too.
    """

    name: str
    fn: Callable
    shapes: list
    domain: str = "real"
    constants: Callable | None = None
    gradcheck: bool = True
    kwargs: dict = field(default_factory=dict)
    equal_nan: bool = False


def _targets(n, classes):
    return lambda g: torch.randint(0, classes, (n,), generator=g)


def _mask(shape):
    return lambda g: torch.rand(shape, generator=g) > 0.5


def _indices(shape, rows):
    return lambda g: torch.randint(0, rows, shape, generator=g)


def _heads(x):
    """(B, T, 3 * D) -> (B, 3, T, D), as attention splits its heads (a view, not a copy)."""
    b, t, _ = x.shape
    return x.reshape(b, t, 3, -1).transpose(1, 2)


def _normal(*shape):
    return lambda g: torch.randn(shape, generator=g)


def _ignored_targets(n, classes, ignore_index):
    """Class targets with every third one set to ignore_index."""

    def make(g):
        targets = torch.randint(0, classes, (n,), generator=g)
        targets[::3] = ignore_index
        return targets

    return make


def _probabilities(shape):
    return lambda g: torch.softmax(torch.randn(shape, generator=g), 1)


def _corner(name, fn, shapes, domain, constants=None):
    """A case at a corner where the derivative is a convention: torch's must be kept."""
    return OpCase(name, fn, shapes, domain, constants, gradcheck=False, equal_nan=True)


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
    # masking, gather and attention: the pieces of a transformer
    OpCase(
        "masked_fill", lambda ns, m, a: a.masked_fill(m, -1.5), [(3, 4)], constants=_mask((3, 4))
    ),
    OpCase(
        "masked_fill_broadcast",
        lambda ns, m, a: ns.masked_fill(a, m, 2.0),
        [(4,)],
        constants=_mask((3, 4)),
    ),
    OpCase(
        "masked_fill_value_variable",
        lambda ns, m, a, v: ns.masked_fill(a, m, v),
        [(2, 3, 4), ()],
        constants=_mask((3, 4)),
    ),
    OpCase("tril", lambda ns, a: a.tril(), [(4, 4)]),
    OpCase("tril_batched_below", lambda ns, a: ns.tril(a, -1), [(2, 4, 5)]),
    OpCase("triu", lambda ns, a: a.triu(1), [(5, 3)]),
    OpCase("gather_dim0", lambda ns, i, a: a.gather(0, i), [(4, 3)], constants=_indices((6, 3), 4)),
    OpCase(
        "gather_dim1", lambda ns, i, a: ns.gather(a, 1, i), [(3, 5)], constants=_indices((3, 7), 5)
    ),
    OpCase(
        "index_select",
        lambda ns, i, a: ns.index_select(a, 1, i),
        [(3, 4)],
        constants=_indices((6,), 4),
    ),
    OpCase("bmm", lambda ns, a, b: ns.bmm(a, b), [(3, 2, 4), (3, 4, 5)]),
    OpCase(  # attention over heads: (B, H, T, D) @ (B, H, D, T)
        "matmul_heads",
        lambda ns, q, k: q @ k.transpose(-2, -1),
        [(2, 3, 5, 4), (2, 3, 5, 4)],
    ),
    OpCase("matmul_heads_broadcast", lambda ns, a, b: a @ b, [(2, 3, 5, 4), (3, 4, 5)]),
    OpCase(  # heads split from (B, T, H*D): operands whose batch dimensions need a copy to fold
        "matmul_heads_split",
        lambda ns, q, k: _heads(q) @ _heads(k).transpose(-2, -1),
        [(2, 5, 12), (2, 5, 12)],
    ),
    OpCase(
        "scaled_dot_product_attention_causal",
        lambda ns, q, k, v: ns.scaled_dot_product_attention(q, k, v, is_causal=True),
        [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)],
    ),
    OpCase(
        "scaled_dot_product_attention_mask",
        lambda ns, m, q, k, v: ns.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
        [(2, 4, 3), (2, 6, 3), (6, 2)],
        constants=lambda g: torch.rand(4, 6, generator=g) > 0.3,
    ),
    OpCase(
        "scaled_dot_product_attention_float_mask",
        lambda ns, q, k, v, m: ns.scaled_dot_product_attention(q, k, v, attn_mask=m),
        [(2, 2, 4, 3), (2, 6, 3), (2, 6, 2), (4, 6)],
    ),
]

# -- torch's arguments, one row each (the OpInfo samples run them all too) --------
ARGUMENT_CASES = [
    # arithmetic
    OpCase("add_alpha", lambda ns, a, b: ns.add(a, b, alpha=2.5), [(3, 4), (4,)]),
    OpCase("sub_alpha", lambda ns, a, b: ns.sub(a, b, alpha=-0.5), [(2, 3), (2, 1)]),
    OpCase(
        "div_trunc",
        lambda ns, a, b: ns.div(a * 4, b, rounding_mode="trunc"),
        [(3, 4), (4,)],
        domain="away",
        gradcheck=False,  # a step function: its derivative is 0 almost everywhere
    ),
    OpCase(
        "div_floor",
        lambda ns, a, b: ns.div(a * 4, b, rounding_mode="floor"),
        [(3, 4), (3, 1)],
        domain="away",
        gradcheck=False,
    ),
    # reductions
    OpCase("sum_dtype", lambda ns, a: ns.sum(a, 1, dtype=torch.float64), [(3, 4)]),
    OpCase("mean_dtype", lambda ns, a: ns.mean(a, dtype=torch.float64), [(3, 4)]),
    OpCase("sum_0dim_dim0", lambda ns, a: ns.sum(a, 0), [()]),
    OpCase("mean_0dim_dim_minus1", lambda ns, a: ns.mean(a, -1, keepdim=True), [()]),
    OpCase("max_0dim_dim0", lambda ns, a: ns.max(a, 0).values, [()]),
    OpCase("logsumexp_0dim", lambda ns, a: ns.logsumexp(a, -1), [()]),
    OpCase("var_unbiased_false", lambda ns, a: ns.var(a, 1, unbiased=False), [(3, 4)]),
    OpCase("var_correction", lambda ns, a: ns.var(a, (0, 1), correction=2), [(3, 4)]),
    OpCase("var_positional_unbiased", lambda ns, a: ns.var(a, False), [(3, 4)]),
    OpCase("max_binary", lambda ns, a, b: ns.max(a, b), [(3, 4), (4,)]),
    OpCase("min_binary", lambda ns, a, b: ns.min(a, b), [(3, 1), (1, 4)]),
    OpCase(  # a plain 0-dim tensor is the other operand, never a dim
        "max_binary_0dim_tensor",
        lambda ns, c, a: ns.max(a, c),
        [(3, 4)],
        constants=_normal(),
    ),
    OpCase("min_binary_0dim_tensor", lambda ns, c, a: ns.min(a, c), [(5,)], constants=_normal()),
    # element-wise
    OpCase("clamp_variables", lambda ns, a, lo, hi: ns.clamp(a, lo, hi - 3), [(3, 4)] * 3),
    OpCase("clamp_variable_min", lambda ns, a, lo: ns.clamp(a, min=lo), [(3, 4), (4,)]),
    OpCase(
        "clamp_tensor_bounds",
        lambda ns, lo, hi, a: ns.clamp(a, lo, hi + 1),
        [(2, 3)],
        constants=lambda g: (torch.randn(2, 3, generator=g), torch.randn(3, generator=g)),
    ),
    OpCase("to_dtype", lambda ns, a: a.to(torch.float64) * 2, [(3, 2)]),
    OpCase("to_copy", lambda ns, a: a.to(a.dtype, copy=True) * 2, [(3, 2)]),
    OpCase(
        "to_channels_last",
        lambda ns, a: a.to(memory_format=torch.channels_last) * 2,
        [(2, 3, 2, 2)],
    ),
    OpCase("to_other", lambda ns, a, b: a.to(b) * b, [(3,), (3,)]),
    OpCase("float", lambda ns, a: a.float() * 2, [(3,)], gradcheck=False),  # float32 inside
    OpCase("double", lambda ns, a: a.double() * 2, [(3,)]),
    # activations
    OpCase("softmax_dtype", lambda ns, a: ns.softmax(a, 1, dtype=torch.float64), [(3, 4)]),
    OpCase("log_softmax_dtype", lambda ns, a: ns.log_softmax(a, -1, dtype=torch.float64), [(3, 4)]),
    # shape and pieces
    OpCase("squeeze_dims", lambda ns, a: ns.squeeze(a, (1, 3)), [(3, 1, 2, 1)]),
    OpCase("flatten_0dim", lambda ns, a: ns.flatten(a), [()]),
    OpCase("split_one_piece", lambda ns, a: ns.split(a, 5, 1)[0] * 2, [(2, 3)]),
    OpCase("chunk_one_piece", lambda ns, a: ns.chunk(a, 1)[0] * 2, [(4, 2)]),
    OpCase("cat_skips_empty", lambda ns, a, b: ns.cat([a, b], 1), [(0,), (2, 3)]),
    # convolution and pooling
    OpCase(
        "conv2d_same_odd",
        lambda ns, x, w: ns.conv2d(x, w, padding="same"),
        [(2, 2, 5, 5), (3, 2, 3, 3)],
    ),
    OpCase(  # an even kernel: one more row and column of padding at the end
        "conv2d_same_even",
        lambda ns, x, w, b: ns.conv2d(x, w, b, padding="same", dilation=(1, 3)),
        [(1, 2, 6, 7), (2, 2, 2, 2), (2,)],
    ),
    OpCase(
        "conv2d_valid",
        lambda ns, x, w: ns.conv2d(x, w, padding="valid"),
        [(1, 2, 5, 5), (3, 2, 3, 3)],
    ),
    OpCase(
        "conv2d_unbatched",
        lambda ns, x, w, b: ns.conv2d(x, w, b, stride=2, padding=1),
        [(2, 6, 6), (3, 2, 3, 3), (3,)],
    ),
    OpCase("max_pool2d_ceil", lambda ns, x: ns.max_pool2d(x, 3, 2, ceil_mode=True), [(2, 2, 6, 6)]),
    OpCase(
        "max_pool2d_indices",
        lambda ns, x: ns.max_pool2d(x, 2, return_indices=True)[0],
        [(2, 3, 4, 4)],
    ),
    OpCase("max_pool2d_unbatched", lambda ns, x: ns.max_pool2d(x, 2, 1, 1), [(3, 5, 5)]),
    OpCase("max_pool2d_dilation", lambda ns, x: ns.max_pool2d(x, 2, 1, 0, 2), [(1, 2, 6, 6)]),
    OpCase(
        "avg_pool2d_ceil",
        lambda ns, x: ns.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
        [(2, 2, 6, 6)],
    ),
    OpCase(
        "avg_pool2d_exclude_pad",
        lambda ns, x: ns.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        [(2, 2, 7, 7)],
    ),
    OpCase(
        "avg_pool2d_divisor",
        lambda ns, x: ns.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3),
        [(1, 2, 5, 5)],
    ),
    OpCase("avg_pool2d_unbatched", lambda ns, x: ns.avg_pool2d(x, 2), [(3, 4, 4)]),
    # normalisation, embedding, dropout
    OpCase(
        "layer_norm_all_dims_weight",
        lambda ns, x, w, b: ns.layer_norm(x, (2, 3), w, b),
        [(2, 3), (2, 3), (2, 3)],
    ),
    OpCase(  # the padding row gets no gradient by convention, not by the maths
        "embedding_padding_idx",
        lambda ns, i, w: ns.embedding(i, w, padding_idx=1),
        [(5, 3)],
        constants=_indices((3, 4), 5),
        gradcheck=False,
    ),
    OpCase(  # a rescaled gradient, not the derivative: no finite-difference check
        "embedding_scale_grad_by_freq",
        lambda ns, i, w: ns.embedding(i, w, scale_grad_by_freq=True),
        [(4, 3)],
        constants=_indices((6,), 4),
        gradcheck=False,
    ),
    OpCase("dropout_p1", lambda ns, a: ns.dropout(a, 1.0), [(3, 4)]),
    # losses
    OpCase(
        "cross_entropy_weight",
        lambda ns, t, c, x: ns.cross_entropy(x, t, weight=c),
        [(6, 4)],
        constants=lambda g: (torch.randint(0, 4, (6,), generator=g), torch.rand(4, generator=g)),
    ),
    OpCase(
        "cross_entropy_ignore_index",
        lambda ns, t, x: ns.cross_entropy(x, t, ignore_index=-1),
        [(6, 4)],
        constants=_ignored_targets(6, 4, -1),
    ),
    OpCase(
        "cross_entropy_label_smoothing",
        lambda ns, t, c, x: ns.cross_entropy(x, t, c, ignore_index=2, label_smoothing=0.2),
        [(6, 4)],
        constants=lambda g: (torch.randint(0, 4, (6,), generator=g), torch.rand(4, generator=g)),
    ),
    OpCase(
        "cross_entropy_spatial_none",
        lambda ns, t, x: ns.cross_entropy(x, t, reduction="none"),
        [(2, 3, 4, 2)],
        constants=lambda g: torch.randint(0, 3, (2, 4, 2), generator=g),
    ),
    OpCase(
        "cross_entropy_unbatched",
        lambda ns, t, x: ns.cross_entropy(x, t),
        [(5,)],
        constants=lambda g: torch.randint(0, 5, (), generator=g),
    ),
    OpCase(
        "cross_entropy_probabilities",
        lambda ns, x, t: ns.cross_entropy(x, t, label_smoothing=0.1),
        [(4, 3), (4, 3)],
        domain=["real", "unit"],
    ),
    OpCase(
        "nll_loss_weight_ignore",
        lambda ns, t, c, x: ns.nll_loss(x, t, c, ignore_index=0, reduction="sum"),
        [(6, 4)],
        constants=lambda g: (torch.randint(0, 4, (6,), generator=g), torch.rand(4, generator=g)),
    ),
    OpCase(
        "nll_loss_spatial",
        lambda ns, t, x: ns.nll_loss(x, t),
        [(2, 3, 2, 2)],
        constants=lambda g: torch.randint(0, 3, (2, 2, 2), generator=g),
    ),
    OpCase(  # torch differentiates neither weight nor pos_weight: they are constants
        "bce_pos_weight",
        lambda ns, p, x, y: ns.binary_cross_entropy_with_logits(x, y, pos_weight=p),
        [(4, 3), (4, 3)],
        domain=["real", "unit"],
        constants=lambda g: torch.rand(3, generator=g) + 0.5,
    ),
    OpCase(
        "bce_weight_pos_weight_sum",
        lambda ns, w, p, x, y: ns.binary_cross_entropy_with_logits(
            x, y, w, reduction="sum", pos_weight=p
        ),
        [(4, 3), (4, 3)],
        domain=["real", "unit"],
        constants=lambda g: (torch.rand(4, 1, generator=g), torch.rand(3, generator=g) + 0.5),
    ),
    OpCase(
        "mse_loss_weight",
        lambda ns, a, b, w: ns.mse_loss(a, b, weight=w),
        [(4, 3), (4, 3), (4, 3)],
        domain=["real", "real", "positive"],
    ),
]

# -- corners: where a derivative is a convention, minigrad keeps torch's -------------
CORNER_CASES = [
    _corner("relu_at_zero_and_nan", lambda ns, a: ns.relu(a), [(4, 5)], "nan"),
    _corner("relu_ties", lambda ns, a: ns.relu(a), [(4, 5)], "ties"),
    _corner("maximum_ties", lambda ns, a, b: ns.maximum(a, b), [(4, 5), (5,)], "ties"),
    _corner("minimum_ties", lambda ns, a, b: ns.minimum(a, b), [(4, 5), (4, 5)], "ties"),
    _corner("maximum_nan", lambda ns, a, b: ns.maximum(a, b), [(4, 5), (4, 5)], "nan"),
    _corner("minimum_nan", lambda ns, a, b: ns.minimum(a, b), [(4, 1), (4, 5)], "nan"),
    _corner("max_all_ties", lambda ns, a: ns.max(a), [(3, 4)], "ties"),
    _corner("max_all_nan", lambda ns, a: ns.max(a), [(3, 4)], "nan"),
    _corner("pow_zero_base", lambda ns, a, b: a**b, [(3, 4), (3, 4)], ["natural", "ties"]),
    _corner("pow_zero_base_scalar_exponent", lambda ns, a: a**0, [(3, 4)], "natural"),
    _corner("rpow_zero_base", lambda ns, b: 0.0**b, [(3, 4)], "ties"),
    _corner("clamp_on_the_bounds", lambda ns, a: ns.clamp(a, -1.0, 1.0), [(4, 5)], "ties"),
    _corner(
        "clamp_tensor_bounds_ties", lambda ns, a, lo, hi: ns.clamp(a, lo, hi), [(4, 5)] * 3, "ties"
    ),
    _corner("abs_at_zero", lambda ns, a: ns.abs(a), [(4, 5)], "ties"),
]

# -- torch's arguments that minigrad leaves out on purpose, each refused by name --------
# (op, a call on a (2, 3) Variable x with ns = minigrad, the argument); test_op_arguments.py
# runs them and tests/opinfo_report.py lists them with the OpInfo tally.
REFUSED_ARGUMENTS = [
    ("relu", lambda ns, x: ns.relu(x, inplace=True), "inplace"),
    ("leaky_relu", lambda ns, x: ns.leaky_relu(x, inplace=True), "inplace"),
    ("dropout", lambda ns, x: ns.dropout(x, inplace=True), "inplace"),
    ("view", lambda ns, x: x.view(torch.int32), "dtype"),
    (
        "gather",
        lambda ns, x: ns.gather(x, 1, torch.tensor([[0], [1]]), sparse_grad=True),
        "sparse_grad",
    ),
    (
        "scaled_dot_product_attention",
        lambda ns, x: ns.scaled_dot_product_attention(x, x, x, dropout_p=0.1),
        "dropout_p",
    ),
    (
        "scaled_dot_product_attention",
        lambda ns, x: ns.scaled_dot_product_attention(x, x, x, enable_gqa=True),
        "enable_gqa",
    ),
    ("embedding", lambda ns, x: ns.embedding(torch.tensor([0]), x, max_norm=1.0), "max_norm"),
    ("embedding", lambda ns, x: ns.embedding(torch.tensor([0]), x, sparse=True), "sparse"),
    (
        "cross_entropy",
        lambda ns, x: ns.cross_entropy(x, torch.tensor([0, 1]), reduce=False),
        "reduce",
    ),
    (
        "cross_entropy",
        lambda ns, x: ns.cross_entropy(x, torch.tensor([0, 1]), size_average=False),
        "size_average",
    ),
    ("nll_loss", lambda ns, x: ns.nll_loss(x, torch.tensor([0, 1]), reduce=True), "reduce"),
    (
        "nll_loss",
        lambda ns, x: ns.nll_loss(x, torch.tensor([0, 1]), size_average=True),
        "size_average",
    ),
    ("mse_loss", lambda ns, x: ns.mse_loss(x, x, reduce=True), "reduce"),
    ("mse_loss", lambda ns, x: ns.mse_loss(x, x, size_average=True), "size_average"),
    (
        "binary_cross_entropy_with_logits",
        lambda ns, x: ns.binary_cross_entropy_with_logits(x, x, reduce=False),
        "reduce",
    ),
    (
        "binary_cross_entropy_with_logits",
        lambda ns, x: ns.binary_cross_entropy_with_logits(x, x, size_average=False),
        "size_average",
    ),
]
