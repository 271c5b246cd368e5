"""Data-parallel training: time per epoch on 1 process against 2, and the share spent talking.

The demo's CNN (conv16-conv32 with batch norm, pool, dropout, linear) and its
MLP 64-128-10 train on the 8x8 digits (1438 training images) with
``mg.Trainer`` and a ``DistributedSampler``, global batch 64: one process
reads all 64 of each batch, two processes read 32 each and average their
gradients (gloo, one thread per process). A first epoch warms up; then the
median epoch of the next ``--epochs`` (the slower process's, which sets the
pace).

"communication" is the time inside collectives (the gradient all-reduce in
buckets, and the small all-reduce of each batch's loss), as a share of the
epoch; it includes waiting for the other process, so a neighbour that slows
one process down shows up here. "all-reduce alone" times the gradients'
all-reduce once both processes have met at a barrier: the cost of sending,
without the waiting. No speed target: on a shared 2-core machine the figures
say what data parallelism costs and gains here, not in general.

    python -m benchmarks distributed
    python benchmarks/bench_distributed.py [--epochs 3] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.distributed as dist

import minigrad as mg
from benchmarks.timing import markdown_table
from minigrad.__main__ import build_model
from minigrad.data import DataLoader, DistributedSampler, load_digits, train_test_split


def train_epochs(model_kind: str, epochs: int, global_batch: int) -> dict:
    """Runs in each process: seconds and communication seconds of every epoch."""
    world_size = mg.distributed.get_world_size()
    x, y = load_digits(as_images=model_kind == "cnn")
    x_train, _, y_train, _ = train_test_split(x, y, test_fraction=0.2, seed=0)
    sampler = DistributedSampler(len(x_train), seed=1)
    loader = DataLoader((x_train, y_train), global_batch // world_size, sampler=sampler)
    model = build_model(model_kind, mg.nn.init_random(1))
    optimizer = mg.optim.Adam(model.parameters(), lr=3e-3)
    talking = []

    def on_epoch_end(trainer, epoch, record):
        parallel = trainer.parallel
        talking.append(parallel.communication_seconds if parallel is not None else 0.0)

    trainer = mg.Trainer(
        model,
        optimizer,
        callbacks=[mg.training.LambdaCallback(on_epoch_end=on_epoch_end)],
        progress=False,
        verbose=False,
    )
    trainer.fit(loader, epochs=epochs + 1)
    seconds = [record["seconds"] for record in trainer.history]
    per_epoch = [b - a for a, b in zip([0.0] + talking, talking)]
    return {
        "seconds": seconds[1:],
        "communication": per_epoch[1:],
        "batches": len(loader),
        "all_reduce": all_reduce_alone(model) if world_size > 1 else None,
        "parameters": sum(p.value.numel() for p in model.parameters()),
    }


def all_reduce_alone(model, repeats: int = 30) -> float:
    """Median seconds of one all-reduce of all the gradients, started together (a barrier)."""
    flat = torch.cat([p.value.reshape(-1) for p in model.parameters()])
    times = []
    for _ in range(repeats):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model_kind: str, processes: int, epochs: int, global_batch: int) -> dict:
    ranks = mg.distributed.spawn(
        train_epochs, processes, args=(model_kind, epochs, global_batch), timeout=600
    )
    slowest = [max(epoch) for epoch in zip(*(r["seconds"] for r in ranks))]
    epoch = statistics.median(slowest)
    shares = [
        statistics.median(c / s for c, s in zip(r["communication"], r["seconds"])) for r in ranks
    ]
    alone = ranks[0]["all_reduce"]
    return {
        "epoch": epoch,
        "share": statistics.mean(shares),
        "batches": ranks[0]["batches"],
        "all_reduce": alone,
        "parameters": ranks[0]["parameters"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks distributed")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up")
    parser.add_argument("--batch", type=int, default=64, help="the global batch")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for kind, name in (("cnn", "CNN conv16-conv32-linear, 1x8x8"), ("mlp", "MLP 64-128-10")):
        one = measure(kind, 1, args.epochs, args.batch)
        two = measure(kind, 2, args.epochs, args.batch)
        rows.append([
            f"{name}, global batch {args.batch}",
            f"{one['epoch'] * 1e3:.0f} ms ({one['batches']} steps)",
            f"{two['epoch'] * 1e3:.0f} ms ({two['batches']} steps of {args.batch // 2})",
            f"{one['epoch'] / two['epoch']:.2f}x",
            f"{100 * two['share']:.0f}%",
            f"{two['all_reduce'] * 1e6:.0f} us ({two['parameters']:,} numbers)",
        ])  # fmt: skip
    header = [
        "one epoch on the digits", "1 process", "2 processes", "speed-up",
        "communication (2 processes)", "all-reduce alone",
    ]  # fmt: skip
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
