"""One peer against torch eager, in this process: ``python -m benchmarks.peer_worker NAME``.

Run by ``benchmarks/bench_peers.py`` inside ``.venv-peers`` (micrograd and
tinygrad live only there), one process per peer, so that no library's
threads, caches or allocator state reach another's measurement. torch is
measured again in each process, on the same batch, and the last line
printed is a JSON record of the ratio.

The work is one training step of the MLP 64-128-10 on the first 32 of the
8x8 digits (read from minigrad's CSV with the standard library, so neither
numpy nor minigrad is needed here): forward, loss, backward, SGD update.
micrograd has no exp or log, so its loss is the multi-class hinge loss
``mean over samples of sum_{j != y} max(0, 1 + s_j - s_y) / C`` (torch's
``multi_margin_loss``), which its own demo uses; tinygrad and torch use
cross-entropy. Times are this process's CPU time (tinygrad runs its
kernels on a worker thread), one thread each.
"""

from __future__ import annotations

import csv
import gc
import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUM_CPU_THREADS", "1")  # tinygrad's CPU device: one thread, as torch
os.environ.setdefault("DEV", "CPU")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402, N812

from benchmarks.timing import Samples, ratio, warm_allocator  # noqa: E402

BATCH, LR = 32, 0.05
DIGITS = Path(__file__).resolve().parent.parent / "minigrad" / "data" / "digits.csv.gz"


def digits() -> tuple[list[list[float]], list[int]]:
    with gzip.open(DIGITS, "rt") as f:
        rows = [list(map(int, row)) for _, row in zip(range(BATCH), csv.reader(f))]
    return [[v / 16 for v in row[:64]] for row in rows], [row[64] for row in rows]


def torch_step(loss_kind: str):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=LR, foreach=False)
    pixels, labels = digits()
    x, y = torch.tensor(pixels), torch.tensor(labels)
    loss_fn = F.multi_margin_loss if loss_kind == "hinge" else F.cross_entropy

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


def micrograd_step():
    from micrograd.nn import MLP

    model = MLP(64, [128, 10])
    pixels, labels = digits()

    def step():
        loss = 0
        for row, label in zip(pixels, labels):
            scores = model(row)
            for j, score in enumerate(scores):
                if j != label:
                    loss = loss + (1 + score - scores[label]).relu()
        loss = loss * (1.0 / (len(labels) * 10))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= LR * p.grad

    return step


def tinygrad_step(jit: bool):
    from tinygrad import Context, Tensor, TinyJit, nn
    from tinygrad.nn.optim import SGD

    class Net:
        def __init__(self):
            self.l1, self.l2 = nn.Linear(64, 128), nn.Linear(128, 10)

        def __call__(self, x):
            return self.l2(self.l1(x).relu())

    model = Net()
    opt = SGD(nn.state.get_parameters(model), lr=LR)
    pixels, labels = digits()
    x, y = Tensor(pixels), Tensor(labels)

    def step():
        with Context(TRAINING=1):
            opt.zero_grad()
            loss = model(x).sparse_categorical_crossentropy(y)
            loss.backward()
            opt.step()  # (realizes the new parameters: the step's kernels run here)
            return loss.realize()

    return TinyJit(step) if jit else step


PEERS = {
    # name: (make the peer's step, the loss, peer steps per turn, torch steps per turn, turns)
    "micrograd": (micrograd_step, "hinge", 1, 200, 5),
    "micrograd, cyclic GC off": (micrograd_step, "hinge", 1, 200, 7),
    "tinygrad": (lambda: tinygrad_step(jit=False), "cross_entropy", 2, 100, 15),
    "tinygrad TinyJit": (lambda: tinygrad_step(jit=True), "cross_entropy", 20, 20, 31),
}


def measure(name: str) -> dict:
    make, loss_kind, peer_steps, torch_steps, turns = PEERS[name]
    torch.set_num_threads(1)
    warm_allocator()
    contenders = {"peer": (make(), peer_steps), "torch": (torch_step(loss_kind), torch_steps)}
    for fn, _ in contenders.values():
        for _ in range(3):  # (TinyJit captures on its second call, replays from the third)
            fn()
    samples = {key: Samples([], []) for key in contenders}
    # Each micrograd Value's _backward closure refers to the Value: a reference cycle, so
    # a step's graph is freed only by Python's cyclic garbage collector, whose full passes
    # over a million live Values are most of a step. The second micrograd row switches
    # the collector off while timing (for both sides) and collects between turns.
    collector_off = name.endswith("cyclic GC off")
    for turn in range(turns):
        if collector_off:
            gc.enable()
            gc.collect()
            gc.disable()
        order = list(contenders) if turn % 2 == 0 else list(reversed(contenders))
        for key in order:
            fn, steps = contenders[key]
            start = time.process_time()
            for _ in range(steps):
                fn()
            samples[key].seconds.append((time.process_time() - start) / steps)
    gc.enable()
    measured = ratio(samples["peer"], samples["torch"])
    return {
        "peer": name,
        "loss": loss_kind,
        "peer_seconds": samples["peer"].median,
        "torch_seconds": samples["torch"].median,
        "ratio": measured.median,
        "low": measured.low,
        "high": measured.high,
        "turns": turns,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1])))
