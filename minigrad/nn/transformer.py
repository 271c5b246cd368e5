"""The transformer block: attention, then a small MLP, each inside a residual connection.

Pre-norm, as GPT-2 and most models since:

    x = x + attention(LayerNorm_1(x))       positions exchange information
    x = x + MLP(LayerNorm_2(x))             each position thinks on its own
    MLP(h) = linear2(GELU(linear1(h)))      E -> 4E -> E features

The residual sums give every block's gradient a direct path back to the
input (the derivative of x + f(x) is 1 + f'(x)), which is why dozens of
blocks can be stacked; normalising *inside* the branch keeps that path clean.

The sub-modules have the names of torch.nn.TransformerEncoderLayer
(``self_attn``, ``linear1``, ``linear2``, ``norm1``, ``norm2``), so torch's layer
with ``norm_first=True, activation="gelu", dropout=0.0, batch_first=True``
and a causal mask is this block, weights copied by ``load_state_dict``.
"""

from __future__ import annotations

import torch

from minigrad import ops
from minigrad.nn.attention import CausalSelfAttention, MultiheadAttention
from minigrad.nn.checks import check_count, check_flag
from minigrad.nn.layernorm import LayerNorm
from minigrad.nn.linear import Linear
from minigrad.nn.module import Module


class TransformerBlock(Module):
    """One pre-norm transformer block on (B, T, d_model) inputs (see the module docstring).

    ``dim_feedforward`` defaults to 4 * d_model; ``causal=False`` lets every
    position see every other (an encoder's attention).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int | None = None,
        causal: bool = True,
        layer_norm_eps: float = 1e-5,
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        hint = "e.g. TransformerBlock(64, 4): 64 features, 4 attention heads"
        d_model = check_count("TransformerBlock", "d_model", d_model, 1, hint)
        hidden = 4 * d_model if dim_feedforward is None else dim_feedforward
        hidden = check_count("TransformerBlock", "dim_feedforward", hidden, 1, hint)
        self.causal = check_flag("TransformerBlock", "causal", causal, "True for a language model")
        common = {"dtype": dtype, "device": device}
        self.norm1 = LayerNorm(d_model, layer_norm_eps, **common)
        attention = CausalSelfAttention if causal else MultiheadAttention
        extra = {} if causal else {"batch_first": True}
        self.self_attn = attention(d_model, nhead, generator=generator, **extra, **common)
        self.norm2 = LayerNorm(d_model, layer_norm_eps, **common)
        self.linear1 = Linear(d_model, hidden, generator=generator, **common)
        self.linear2 = Linear(hidden, d_model, generator=generator, **common)

    def forward(self, x):
        h = self.norm1(x)
        if self.causal:
            x = x + self.self_attn(h)
        else:
            x = x + self.self_attn(h, h, h, need_weights=False)[0]
        return x + self.linear2(ops.gelu(self.linear1(self.norm2(x))))
