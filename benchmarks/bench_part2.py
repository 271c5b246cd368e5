"""The course's transformer: one training step, and its attention ops, minigrad vs torch eager.

(a) lesson 18's character-level transformer (2 pre-norm blocks, 4 heads, GELU
MLPs), one AdamW training step (forward, cross-entropy, backward, update),
built from minigrad's modules and, on the torch side, from torch.nn modules
with the same weights and F.scaled_dot_product_attention; (b) the same at
twice the width and context; then the attention ops alone, forward and
backward: causal scaled_dot_product_attention, the unfused masked_fill +
softmax + matmul route, and gather. One thread, interleaved turns, medians.
Run: ``./run bench part2``.

Target: (a) and (b) at most 1.05x torch.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from benchmarks.timing import interleaved_medians, markdown_table
from minigrad import nn

VOCABULARY = 68  # the characters of the shipped plays


class CharTransformer(nn.Module):
    """Lesson 18's model, in minigrad."""

    def __init__(self, width, heads, layers, block):
        super().__init__()
        self.tokens = nn.Embedding(VOCABULARY, width)
        self.positions = nn.Embedding(block, width)
        self.blocks = nn.Sequential(*[nn.TransformerBlock(width, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCABULARY)

    def forward(self, ids):
        h = self.tokens(ids) + self.positions(torch.arange(ids.shape[-1]))
        return self.head(self.norm(self.blocks(h)))


class TorchAttention(torch.nn.Module):
    """Causal self-attention in torch, with minigrad's parameter names."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = torch.nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = torch.nn.Parameter(torch.empty(3 * width))
        self.out_proj = torch.nn.Linear(width, width)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(width, -1)
        q, k, v = (t.reshape(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class TorchBlock(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(width)
        self.self_attn = TorchAttention(width, heads)
        self.norm2 = torch.nn.LayerNorm(width)
        self.linear1 = torch.nn.Linear(width, 4 * width)
        self.linear2 = torch.nn.Linear(4 * width, width)

    def forward(self, x):
        x = x + self.self_attn(self.norm1(x))
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x))))


class TorchCharTransformer(torch.nn.Module):
    def __init__(self, width, heads, layers, block):
        super().__init__()
        self.tokens = torch.nn.Embedding(VOCABULARY, width)
        self.positions = torch.nn.Embedding(block, width)
        self.blocks = torch.nn.Sequential(*[TorchBlock(width, heads) for _ in range(layers)])
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, VOCABULARY)

    def forward(self, ids):
        h = self.tokens(ids) + self.positions(torch.arange(ids.shape[-1]))
        return self.head(self.norm(self.blocks(h)))


def training_steps(width, heads, layers, block, batch, seed=0):
    """One AdamW step of each side, on the same weights and the same batch."""
    torch.manual_seed(seed)
    ours = CharTransformer(width, heads, layers, block)
    theirs = TorchCharTransformer(width, heads, layers, block)
    theirs.load_state_dict({k: v.clone() for k, v in ours.state_dict().items()})
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, VOCABULARY, (batch, block), generator=generator)
    y = torch.randint(0, VOCABULARY, (batch, block), generator=generator).reshape(-1)
    our_optimizer = mg.optim.AdamW(ours.parameters(), lr=1e-3)
    their_optimizer = torch.optim.AdamW(theirs.parameters(), lr=1e-3)

    def minigrad_step():
        loss = mg.cross_entropy(ours(x).reshape(-1, VOCABULARY), y)
        our_optimizer.zero_grad()
        loss.backward()
        our_optimizer.step()

    def torch_step():
        loss = F.cross_entropy(theirs(x).reshape(-1, VOCABULARY), y)
        their_optimizer.zero_grad()
        loss.backward()
        their_optimizer.step()

    return minigrad_step, torch_step


def attention_ops(shape, route: str, seed=0):
    """Forward and backward of one attention op (or route) on both sides."""
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(shape, generator=generator) for _ in range(3))
    upstream = torch.randn(shape, generator=generator)
    length = shape[-2]
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    index = torch.randint(0, shape[-1], shape, generator=generator)

    def forward(ns, q, k, v):
        if route == "fused":
            return ns.scaled_dot_product_attention(q, k, v, is_causal=True)
        if route == "gather":
            return ns.gather(q, -1, index) * v
        scores = ns.matmul(q, k.transpose(-2, -1)) * (1 / math.sqrt(shape[-1]))
        return ns.matmul(ns.softmax(scores.masked_fill(future, float("-inf")), -1), v)

    def minigrad_op():
        leaves = [mg.tensor(t, requires_grad=True) for t in (q, k, v)]
        forward(mg, *leaves).backward(upstream)

    def torch_op():
        leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
        forward(TORCH_OPS, *leaves).backward(upstream)

    return minigrad_op, torch_op


class _TorchOps:
    """torch's functions under minigrad's names (F first, then torch)."""

    def __getattr__(self, name):
        return getattr(F, name, None) or getattr(torch, name)


TORCH_OPS = _TorchOps()

STEPS = [  # label, (width, heads, layers, block, batch), target
    ("(a) lesson 18's transformer: width 64, 4 heads, 2 blocks, T 32, batch 32",
     (64, 4, 2, 32, 32), 1.05),
    ("(b) width 128, 4 heads, 2 blocks, T 64, batch 32", (128, 4, 2, 64, 32), 1.05),
]  # fmt: skip
OPS = [
    ("causal scaled_dot_product_attention (32, 4, 32, 16)", (32, 4, 32, 16), "fused"),
    ("masked_fill + softmax + matmul (32, 4, 32, 16)", (32, 4, 32, 16), "unfused"),
    ("gather (32, 4, 32, 16)", (32, 4, 32, 16), "gather"),
]


def run(repeats: int = 31, quick: bool = False) -> str:
    torch.set_num_threads(1)
    turns = max(5, repeats // 4) if quick else repeats
    rows = []
    for label, sizes, target in STEPS:
        ours, theirs = training_steps(*sizes)
        times = interleaved_medians({"minigrad": ours, "torch": theirs}, 3, turns)
        ratio = times["minigrad"] / times["torch"]
        met = "yes" if ratio <= target else "NO"
        rows.append([label, f"{times['minigrad'] * 1e3:.2f} ms", f"{times['torch'] * 1e3:.2f} ms",
                     f"{ratio:.3f}", f"<= {target:.2f}", met])  # fmt: skip
    for label, shape, route in OPS:
        ours, theirs = attention_ops(shape, route)
        times = interleaved_medians({"minigrad": ours, "torch": theirs}, 5, turns)
        ratio = times["minigrad"] / times["torch"]
        rows.append([label + ", forward + backward", f"{times['minigrad'] * 1e6:.0f} us",
                     f"{times['torch'] * 1e6:.0f} us", f"{ratio:.3f}", "-", "-"])  # fmt: skip
    header = ["", "minigrad", "torch", "ratio", "target", "met"]
    return markdown_table(header, rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=31, help="turns per contender")
    parser.add_argument("--quick", action="store_true", help="a quarter of the turns")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, 1 thread, medians of {args.repeats} interleaved turns")
    print(run(args.repeats, args.quick))


if __name__ == "__main__":
    main()
