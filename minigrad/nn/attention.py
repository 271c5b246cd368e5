"""Multi-head attention, and the causal self-attention of a language model.

Attention mixes the positions of a sequence: each position asks a question
(its query), every position offers an answer key and a value, and each
output is the mean of the values weighted by how well the keys match the
query (``mg.scaled_dot_product_attention``). *Multi-head* attention does this
``num_heads`` times side by side on slices of the features, so that one head
can follow, say, the previous letter while another looks for the start of
the word; the heads' outputs are joined and mixed by one more linear map:

    Q, K, V = x W_q^T + b_q, x W_k^T + b_k, x W_v^T + b_v     (one matrix in_proj_weight)
    split each into heads:  (B, T, E) -> (B, H, T, E/H)
    O_h = softmax(Q_h K_h^T / sqrt(E/H) + mask) V_h           for every head h
    y = join(O_1 ... O_H) W_o^T + b_o                         (out_proj)

The parameters have torch's names and layout (``in_proj_weight`` holds W_q,
W_k and W_v one under the other), so torch.nn.MultiheadAttention with copied
weights computes the same numbers.
"""

from __future__ import annotations

import torch

from minigrad import ops
from minigrad.errors import HyperParameterError, ShapeError, UnsupportedArgumentError, message
from minigrad.nn.checks import check_count, check_flag
from minigrad.nn.init import constant_init, glorot_init, new_variable
from minigrad.nn.linear import Linear
from minigrad.nn.module import Module


class MultiheadAttention(Module):
    """Attention in ``num_heads`` heads over ``embed_dim`` features, as torch's MultiheadAttention.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(output, weights)`` as torch does (``weights`` is None unless
    ``need_weights``). Masks follow torch's MultiheadAttention: a boolean
    ``attn_mask`` (L, S) is True where a query may *not* look, a float one is
    added to the scores; ``key_padding_mask`` (B, S) is True at keys to ignore.
    Unlike torch, ``is_causal=True`` needs no ``attn_mask``: it makes the
    causal mask itself. ``batch_first=False`` (torch's default) takes (L, B, E).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        hint = "e.g. MultiheadAttention(64, 4): 64 features in 4 heads of 16"
        embed_dim = check_count("MultiheadAttention", "embed_dim", embed_dim, 1, hint)
        num_heads = check_count("MultiheadAttention", "num_heads", num_heads, 1, hint)
        if embed_dim % num_heads:
            raise HyperParameterError(
                f"MultiheadAttention: embed_dim={embed_dim} must be divisible by "
                f"num_heads={num_heads}\nhelp: each head takes embed_dim / num_heads features"
            )
        for name, value, fix in (
            ("dropout", dropout, "leave attention dropout out (small models rarely need it)"),
            ("add_bias_kv", add_bias_kv, "leave it False"),
            ("add_zero_attn", add_zero_attn, "leave it False"),
        ):
            if value:
                raise UnsupportedArgumentError("MultiheadAttention", name, value, fix)
        for name, value in (("kdim", kdim), ("vdim", vdim)):
            if value is not None and value != embed_dim:
                raise UnsupportedArgumentError(
                    "MultiheadAttention", name, value, "project keys and values to embed_dim first"
                )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.batch_first = check_flag("MultiheadAttention", "batch_first", batch_first,
                                      "True takes (B, T, E), False (T, B, E) as torch")  # fmt: skip
        common = {"generator": generator, "dtype": dtype, "device": device}
        shape = (3 * embed_dim, embed_dim)
        self.in_proj_weight = new_variable("in_proj_weight", shape, glorot_init(), **common)
        if bias:
            zeros = constant_init(0.0)
            self.in_proj_bias = new_variable("in_proj_bias", (3 * embed_dim,), zeros, **common)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **common)

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        if query.ndim != 3:
            raise ShapeError(
                message(
                    "MultiheadAttention",
                    "a batch of sequences, (B, T, E) with batch_first=True or (T, B, E)",
                    f"an input of shape {tuple(query.shape)}",
                    "add a batch dimension, e.g. x.unsqueeze(0)",
                )
            )
        if not self.batch_first:  # (T, B, E) -> (B, T, E)
            query, key, value = (ops.transpose(t, 0, 1) for t in (query, key, value))
        q, k, v = self._project(query, key, value)
        mask = self._mask(attn_mask, key_padding_mask, q.shape[0], q.shape[2], k.shape[2])
        if need_weights:
            out, weights = self._attend_with_weights(q, k, v, mask, is_causal)
            if average_attn_weights:
                weights = ops.mean(weights, 1)
        else:
            out = ops.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
            weights = None
        batch, length = out.shape[0], out.shape[2]
        joined = ops.reshape(ops.transpose(out, 1, 2), (batch, length, self.embed_dim))
        y = self.out_proj(joined)
        return (y if self.batch_first else ops.transpose(y, 0, 1)), weights

    def _project(self, query, key, value):
        """Q, K and V, each split into heads: (B, H, T, head_dim)."""
        if query is key and key is value:  # self-attention: one matrix product for all three
            qkv = ops.linear(query, self.in_proj_weight, self.in_proj_bias)
            q, k, v = ops.split(qkv, self.embed_dim, -1)
        else:
            weights = ops.split(self.in_proj_weight, self.embed_dim, 0)
            biases = (
                ops.split(self.in_proj_bias, self.embed_dim, 0)
                if self.in_proj_bias is not None
                else (None,) * 3
            )
            q, k, v = (ops.linear(t, w, b) for t, w, b in zip((query, key, value), weights, biases))
        return tuple(self._heads(t) for t in (q, k, v))

    def _heads(self, x):
        batch, length = x.shape[0], x.shape[1]
        return ops.transpose(ops.reshape(x, (batch, length, self.num_heads, self.head_dim)), 1, 2)

    def _mask(self, attn_mask, key_padding_mask, batch, length, keys):
        """One mask in scaled_dot_product_attention's terms (True: may look), or None."""
        allowed = None
        if attn_mask is not None:
            attn_mask = getattr(attn_mask, "value", attn_mask)
            if attn_mask.ndim == 3:  # (B * H, L, S), as torch
                attn_mask = attn_mask.reshape(batch, self.num_heads, length, keys)
            if attn_mask.dtype is not torch.bool:
                if key_padding_mask is not None:
                    padding = getattr(key_padding_mask, "value", key_padding_mask)
                    hidden = padding.reshape(batch, 1, 1, keys)
                    return attn_mask.masked_fill(hidden, float("-inf"))
                return attn_mask
            allowed = ~attn_mask
        if key_padding_mask is not None:
            padding = getattr(key_padding_mask, "value", key_padding_mask)
            seen = ~padding.bool().reshape(batch, 1, 1, keys)
            allowed = seen if allowed is None else allowed & seen
        return allowed

    def _attend_with_weights(self, q, k, v, mask, is_causal):
        """The same attention written out with ops, when the weights are wanted too."""
        scores = ops.matmul(q, ops.transpose(k, -2, -1)) * (self.head_dim**-0.5)
        length, keys = scores.shape[-2], scores.shape[-1]
        if is_causal:
            future = torch.ones(length, keys, dtype=torch.bool).triu(1).to(scores.value.device)
            scores = ops.masked_fill(scores, future, float("-inf"))
        if mask is not None:
            if mask.dtype is torch.bool:
                scores = ops.masked_fill(scores, ~mask, float("-inf"))
            else:
                scores = scores + mask
        weights = ops.softmax(scores, -1)
        return ops.matmul(weights, v), weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


class CausalSelfAttention(MultiheadAttention):
    """Self-attention in which position t sees positions 0..t only: a language model's.

    ``attention(x)`` for x of shape (B, T, E) is
    ``MultiheadAttention.forward(x, x, x, need_weights=False, is_causal=True)[0]``:
    a model that predicts the next letter must not read it.
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, **common):
        super().__init__(embed_dim, num_heads, bias=bias, batch_first=True, **common)

    def forward(self, x):
        return super().forward(x, x, x, need_weights=False, is_causal=True)[0]

    def attention_weights(self, x):
        """Every head's weights P for the input x: (B, num_heads, T, T), rows summing to 1."""
        return super().forward(x, x, x, is_causal=True, average_attn_weights=False)[1]
