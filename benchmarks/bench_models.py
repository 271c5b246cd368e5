"""The models learners build next, one training step each: minigrad vs torch eager autograd.

Each model is written once and run on both libraries (``ns`` is ``mg`` or
the torch namespace below), so both sides run the same maths in the same
order:

(d) makemore's character MLP: an embedding table 27 x 10 looked up by
    indexing (``C[X]``), a block of 3 characters, 200 tanh units, batch 32,
    plain SGD on raw parameters;
(e) the same with batch normalisation before the tanh (``batch_norm``);
(f) a GPT with one block: vocabulary 65, block 64, n_embd 64, 4 heads,
    causal self-attention, layer norm, a GELU MLP, tied embeddings, AdamW,
    batch 16; and its peak live tensor memory;
(g) a CNN of mg.nn modules (Conv2dBatchNorm, ReLU, MaxPool2d, Dropout,
    Linear) with mg.optim.SGD, against the same torch.nn model and torch.optim.SGD.

One thread, interleaved turns, the median ratio and its spread
(``benchmarks/timing.py``). Targets (minigrad / torch): each step <= 1.00,
the GPT step's peak memory <= 1.05. Run: ``./run bench models``.
"""

from __future__ import annotations

import math
import types

import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from benchmarks.timing import (
    RATIO_HEADER,
    main_with_turns,
    markdown_table,
    memory_row,
    ratio_row,
)

# The torch side of every model: the functions of the same names.
TORCH = types.SimpleNamespace(
    embedding=F.embedding, layer_norm=F.layer_norm, linear=F.linear, gelu=F.gelu,
    softmax=F.softmax, cross_entropy=F.cross_entropy, batch_norm=F.batch_norm,
    tanh=torch.tanh, where=torch.where,
)  # fmt: skip


def sgd(params: list, lr: float, minigrad: bool) -> None:
    """p <- p - lr * grad, and the gradient forgotten, written by hand on both sides."""
    if minigrad:
        for p in params:
            p.value.sub_(p.grad, alpha=lr)
            p.grad = None
    else:
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=lr)
                p.grad = None


# -- (d), (e): makemore's MLP ---------------------------------------------------------


def char_mlp_params(generator, batchnorm: bool) -> dict:
    vocab, n_embd, block, hidden = 27, 10, 3, 200
    params = {
        "C": torch.randn(vocab, n_embd, generator=generator),
        "W1": torch.randn(n_embd * block, hidden, generator=generator) * (5 / 3) / 30**0.5,
        "W2": torch.randn(hidden, vocab, generator=generator) * 0.01,
        "b2": torch.zeros(vocab),
    }
    if batchnorm:
        params.update(bngain=torch.ones(hidden), bnbias=torch.zeros(hidden))
    else:
        params["b1"] = torch.randn(hidden, generator=generator) * 0.01
    return params


def char_mlp_loss(ns, p: dict, buffers: dict, x, y):
    emb = p["C"][x]  # (32, 3, 10): a row of C per character
    hpreact = emb.view(emb.shape[0], -1) @ p["W1"]
    if "bngain" in p:
        hpreact = ns.batch_norm(
            hpreact, buffers["mean"], buffers["var"], p["bngain"], p["bnbias"], training=True
        )
    else:
        hpreact = hpreact + p["b1"]
    logits = ns.tanh(hpreact) @ p["W2"] + p["b2"]
    return ns.cross_entropy(logits, y)


# -- (f): a GPT with one block ------------------------------------------------------------


GPT = {"vocab": 65, "block": 64, "n_embd": 64, "heads": 4, "batch": 16}


def gpt_params(generator) -> dict:
    v, t, c = GPT["vocab"], GPT["block"], GPT["n_embd"]

    def normal(*shape):
        return torch.randn(*shape, generator=generator) * 0.02

    return {
        "wte": normal(v, c), "wpe": normal(t, c),
        "ln1_w": torch.ones(c), "ln1_b": torch.zeros(c),
        "attn_w": normal(3 * c, c), "attn_b": torch.zeros(3 * c),
        "proj_w": normal(c, c), "proj_b": torch.zeros(c),
        "ln2_w": torch.ones(c), "ln2_b": torch.zeros(c),
        "fc_w": normal(4 * c, c), "fc_b": torch.zeros(4 * c),
        "fc2_w": normal(c, 4 * c), "fc2_b": torch.zeros(c),
        "lnf_w": torch.ones(c), "lnf_b": torch.zeros(c),
    }  # fmt: skip


def gpt_loss(ns, p: dict, buffers: dict, idx, targets):
    b, t = idx.shape
    c, heads = GPT["n_embd"], GPT["heads"]
    x = ns.embedding(idx, p["wte"]) + p["wpe"][:t]
    # causal self-attention
    h = ns.layer_norm(x, (c,), p["ln1_w"], p["ln1_b"])
    q, k, v = ns.linear(h, p["attn_w"], p["attn_b"]).split(c, 2)
    q, k, v = (z.reshape(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // heads))
    att = ns.softmax(ns.where(buffers["causal"][:t, :t], att, float("-inf")), -1)
    y = (att @ v).transpose(1, 2).reshape(b, t, c)
    x = x + ns.linear(y, p["proj_w"], p["proj_b"])
    # the MLP
    h = ns.layer_norm(x, (c,), p["ln2_w"], p["ln2_b"])
    x = x + ns.linear(ns.gelu(ns.linear(h, p["fc_w"], p["fc_b"])), p["fc2_w"], p["fc2_b"])
    logits = ns.linear(ns.layer_norm(x, (c,), p["lnf_w"], p["lnf_b"]), p["wte"])  # tied
    return ns.cross_entropy(logits.reshape(b * t, -1), targets.reshape(-1))


# -- building both sides ---------------------------------------------------------------------


def build(case: str, seed: int = 0):
    """(minigrad step, torch step) for one of "char_mlp", "char_mlp_bn", "gpt", "cnn"."""
    generator = torch.Generator().manual_seed(seed)
    if case == "cnn":
        return _cnn_steps(generator)
    if case == "gpt":
        params, loss_fn = gpt_params(generator), gpt_loss
        shape, vocab = (GPT["batch"], GPT["block"]), GPT["vocab"]
        block = GPT["block"]
        buffers = {"causal": torch.tril(torch.ones(block, block, dtype=torch.bool))}
    else:
        params = char_mlp_params(generator, batchnorm=case == "char_mlp_bn")
        loss_fn, shape, vocab = char_mlp_loss, (32, 3), 27
        buffers = {"mean": torch.zeros(200), "var": torch.ones(200)}
    x = torch.randint(0, vocab, shape, generator=generator)
    y = torch.randint(0, vocab, shape[:1] if case != "gpt" else shape, generator=generator)
    ctx = mg.Context()
    ours = {k: ctx.variable(v.clone(), requires_grad=True) for k, v in params.items()}
    theirs = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    our_buffers = {k: v.clone() for k, v in buffers.items()}
    if case == "gpt":  # AdamW, as nanoGPT (lr 3e-4, torch's default decay 0.01)
        our_opt = mg.optim.AdamW(list(ours.values()), lr=3e-4)
        their_opt = torch.optim.AdamW(list(theirs.values()), lr=3e-4, foreach=False)

        def our_update():
            our_opt.step()
            our_opt.zero_grad()

        def their_update():
            their_opt.step()
            their_opt.zero_grad()
    else:

        def our_update():
            sgd(list(ours.values()), 0.1, minigrad=True)

        def their_update():
            sgd(list(theirs.values()), 0.1, minigrad=False)

    def minigrad_step():
        loss_fn(mg, ours, our_buffers, x, y).backward()
        our_update()

    def torch_step():
        loss_fn(TORCH, theirs, buffers, x, y).backward()
        their_update()

    return minigrad_step, torch_step


def _cnn_steps(generator):
    torch.manual_seed(0)
    nn = mg.nn
    ours = nn.Sequential(
        nn.Conv2dBatchNorm(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2dBatchNorm(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 5 * 5, 10),
    )  # fmt: skip
    tnn = torch.nn
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 16, 3, bias=False), tnn.BatchNorm2d(16), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(16, 32, 3, bias=False), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Dropout(0.5), tnn.Linear(32 * 5 * 5, 10),
    )  # fmt: skip
    theirs.load_state_dict(
        {k: v.clone() for k, v in ours.state_dict().items()}, strict=False
    )  # the same start
    our_opt = mg.optim.SGD(ours, lr=0.01, momentum=0.9)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9, foreach=False)
    x = torch.rand(64, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)

    def minigrad_step():
        our_opt.zero_grad()
        mg.cross_entropy(ours(x), y).backward()
        our_opt.step()

    def torch_step():
        their_opt.zero_grad()
        F.cross_entropy(theirs(x), y).backward()
        their_opt.step()

    return minigrad_step, torch_step


# label, case, target ratio, steps per turn
CASES = [
    ("(d) char MLP: embedding 27x10, block 3, 200 tanh, batch 32", "char_mlp", 1.00, 10),
    ("(e) the same with mg.batch_norm", "char_mlp_bn", 1.00, 10),
    ("(f) GPT, 1 block: vocab 65, block 64, n_embd 64, 4 heads, AdamW, batch 16", "gpt", 1.00, 1),
    ("(g) CNN of mg.nn: Conv2dBatchNorm x2, Dropout, SGD, batch 64", "cnn", 1.00, 1),
]


def run(turns: int = 101) -> str:
    torch.set_num_threads(1)
    rows = []
    for label, case, target, steps in CASES:
        ours, theirs = build(case)
        rows.append(ratio_row(label, ours, theirs, steps, turns, target))
    ours, theirs = build("gpt")
    rows.append(memory_row("(f) the GPT step: peak live tensor memory", ours, theirs, 1.05))
    return markdown_table(["one training step", "minigrad", "torch", *RATIO_HEADER], rows)


def main(argv=None) -> None:
    main_with_turns(__doc__, run, argv)


if __name__ == "__main__":
    main()
