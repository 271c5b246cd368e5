"""``python -m minigrad.data_parallel_demo``: the digits MLP trained data-parallel, in float64.

Run it on W processes with torchrun (lesson 13 does this from a notebook)::

    torchrun --standalone --nproc-per-node 2 -m minigrad.data_parallel_demo --out results/

or alone, as one process. Either way the global batch holds ``--batch-size``
samples (each of W processes reads ``batch_size / W`` of them through a
DistributedSampler), so the runs take the same steps and end with the same
weights, up to the order of floating-point sums: about 1e-15 in float64.
Rank 0 prints one line per epoch and writes the final checkpoint to
``--out/data_parallel.ckpt``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from minigrad import nn, optim
from minigrad.data import DataLoader, DistributedSampler, load_digits, train_test_split
from minigrad.distributed.process_group import (
    destroy_process_group,
    get_world_size,
    init_process_group,
    is_main_process,
)
from minigrad.errors import HyperParameterError
from minigrad.training import Trainer

CHECKPOINT = "data_parallel.ckpt"


def build_model(seed: int = 1) -> nn.Module:
    """The MLP 64-32-10 in float64 (the same weights in every process, from ``seed``)."""
    generator = nn.init_random(seed)
    return nn.Sequential(
        nn.Linear(64, 32, generator=generator, dtype=torch.float64),
        nn.ReLU(),
        nn.Linear(32, 10, generator=generator, dtype=torch.float64),
    )


def digits_loaders(batch_size: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """This process's shard of the training digits, ``batch_size / W`` per batch; the test set."""
    world_size = get_world_size()
    if batch_size % world_size:
        raise HyperParameterError(
            f"demo: the global batch of {batch_size} does not split into {world_size} equal "
            f"shards\nhelp: use a batch size divisible by the number of processes"
        )
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x.double(), y, test_fraction=0.2, seed=0)
    sampler = DistributedSampler(len(x_train), seed=seed)  # rank and W from the group
    train = DataLoader((x_train, y_train), batch_size // world_size, sampler=sampler)
    return train, DataLoader((x_test, y_test), 512)


def train(
    epochs: int = 3, batch_size: int = 32, seed: int = 1, out=None, verbose: bool = True
) -> Trainer:
    """Train the MLP (data-parallel inside a process group); rank 0 saves to ``out``."""
    train_loader, test_loader = digits_loaders(batch_size, seed)
    model = build_model(seed)
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, optimizer, progress=False, verbose=verbose)
    trainer.fit(train_loader, test_loader, epochs)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        trainer.save(Path(out) / CHECKPOINT, loader=train_loader)
    return trainer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.data_parallel_demo",
        description="Train the digits MLP data-parallel (run it with torchrun).",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, help="folder for the final checkpoint")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    launched = "RANK" in os.environ  # torchrun sets it
    if launched:
        init_process_group()
    try:
        if is_main_process():
            world_size = get_world_size()
            processes = f"{world_size} processes" if world_size > 1 else "1 process"
            print(f"{processes}, global batch {args.batch_size}", flush=True)
        train(args.epochs, args.batch_size, args.seed, args.out)
    finally:
        destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
