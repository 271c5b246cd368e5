"""``python -m minigrad``: the engine on one expression, then a network trained on the digits.

python -m minigrad                     # MLP 64-128-10, 20 epochs (a few seconds)
python -m minigrad --model cnn         # small CNN with batch norm and dropout
python -m minigrad --epochs 5 --seed 7 --no-progress
python -m minigrad --processes 2       # the same, data-parallel on 2 processes (torchrun)

With ``--processes N`` this command starts itself again N times through
torchrun; each copy finds torchrun's environment, joins the process group,
reads its shard of every global batch of 32, and rank 0 alone prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

import minigrad as mg
from minigrad import distributed, nn
from minigrad.data import DataLoader, DistributedSampler, load_digits, train_test_split
from minigrad.training import Trainer, confusion_matrix

DEFAULTS = {  # epochs, learning rate, optimiser: settings that reach 97% / 98% here
    "mlp": {"epochs": 20, "lr": 0.1},
    "cnn": {"epochs": 12, "lr": 3e-3},
}


def show_the_engine() -> None:
    """One small expression: its tape (the Wengert list) and its gradients."""
    print("== The engine: y = tanh(a * b + c) ==")
    ctx = mg.Context(name="demo")
    a = ctx.variable(2.0, requires_grad=True, name="a")
    b = ctx.variable(-3.0, requires_grad=True, name="b")
    c = ctx.variable(6.5, requires_grad=True, name="c")
    y = (a * b + c).tanh()
    print(f"y = {y.item():.6f}\n")
    print(ctx)
    y.backward()
    slope = 1 - y.item() ** 2  # d tanh(u)/du = 1 - tanh(u)^2
    print("\nbackprop walked the tape in reverse (and emptied it):")
    print(f"  dy/da = {a.grad.item():+.6f}   (= (1 - y^2) * b = {slope * -3.0:+.6f})")
    print(f"  dy/db = {b.grad.item():+.6f}   (= (1 - y^2) * a = {slope * 2.0:+.6f})")
    print(f"  dy/dc = {c.grad.item():+.6f}   (= (1 - y^2)     = {slope:+.6f})")
    print(f"  nodes left on the tape: {len(ctx)}\n")


def build_model(kind: str, generator: torch.Generator) -> nn.Module:
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128, generator=generator),
            nn.ReLU(),
            nn.Linear(128, 10, generator=generator),
        )
    return nn.Sequential(
        nn.Conv2dBatchNorm(1, 16, 3, padding=1, generator=generator),
        nn.ReLU(),
        nn.Conv2dBatchNorm(16, 32, 3, padding=1, generator=generator),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 10, generator=generator),
    )


def _quiet(*args, **kwargs) -> None:
    """print, on the processes other than rank 0."""


def training_loader(x, y, seed: int) -> DataLoader:
    """Batches of 32, shuffled; in W processes each reads 32 / W of every global batch."""
    world_size = distributed.get_world_size()
    if world_size == 1:
        return DataLoader((x, y), 32, shuffle=True, generator=seed)
    sampler = DistributedSampler(len(x), seed=seed)  # the same epoch order in every process
    return DataLoader((x, y), max(32 // world_size, 1), sampler=sampler)


def train_on_digits(args) -> float:
    say = print if distributed.is_main_process() else _quiet
    settings = DEFAULTS[args.model]
    epochs = args.epochs if args.epochs is not None else settings["epochs"]
    name = "an MLP" if args.model == "mlp" else "a CNN"
    say(f"== Training {name} on the 8x8 digits (seed {args.seed}) ==")
    torch.manual_seed(args.seed)
    x, y = load_digits(as_images=args.model == "cnn")
    # One fixed split, so that runs with different seeds are scored on the same test set.
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.2, seed=0)
    train_loader = training_loader(x_train, y_train, args.seed)
    test_loader = DataLoader((x_test, y_test), 512)
    say(f"{len(x_train)} training and {len(x_test)} test images, {len(train_loader)} batches")
    world_size = distributed.get_world_size()
    if world_size > 1:
        say(
            f"{world_size} processes ({distributed.default_backend()}): each reads "
            f"{train_loader.batch_size} of every global batch of 32 and gradients are averaged"
        )

    model = build_model(args.model, mg.nn.init_random(args.seed))
    if args.model == "mlp":
        optimizer = mg.optim.SGD(model.parameters(), lr=settings["lr"], momentum=0.9)
    else:
        optimizer = mg.optim.Adam(model.parameters(), lr=settings["lr"])
    scheduler = mg.optim.CosineAnnealingLR(optimizer, max(epochs, 1))
    say(f"{model.parameter_count()} parameters; {optimizer}; cosine LR over {epochs} epochs\n")

    start = time.perf_counter()
    trainer = Trainer(model, optimizer, scheduler=scheduler, progress=not args.no_progress)
    trainer.fit(train_loader, test_loader, epochs)
    seconds = time.perf_counter() - start

    matrix = confusion_matrix(model, test_loader, num_classes=10)
    accuracy = float(matrix.diagonal().sum()) / float(matrix.sum())
    say("\nconfusion matrix (rows: true digit, columns: predicted):")
    say("     " + " ".join(f"{d:>3}" for d in range(10)))
    for digit, row in enumerate(matrix.tolist()):
        say(f"  {digit}: " + " ".join(f"{n:>3}" for n in row))
    skipped = f", {trainer.skipped_batches} batches skipped" if trainer.skipped_batches else ""
    say(f"\ntest accuracy: {100 * accuracy:.2f}% after {epochs} epochs in {seconds:.1f}s{skipped}")
    return accuracy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad",
        description="Show minigrad's tape on one expression, then train on the 8x8 digits.",
    )
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="mlp", help="default: mlp")
    parser.add_argument("--epochs", type=int, default=None, help="default: 20 (mlp), 12 (cnn)")
    parser.add_argument("--seed", type=int, default=1, help="fixes weights and batches (>= 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="train data-parallel on this many processes, started through torchrun (default 1)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: for models this small, more threads cost more than "
        "they give)",
    )
    args = parser.parse_args(argv)
    if args.seed < 1:
        parser.error("--seed must be 1 or more (mg.nn.init_random(0) means 'from the clock')")
    if args.epochs is not None and args.epochs < 0:
        parser.error("--epochs must be 0 or more")
    if args.processes < 1:
        parser.error("--processes must be 1 or more")
    launched = "RANK" in os.environ  # torchrun sets it in each process it starts
    if args.processes > 1 and not launched:
        return start_with_torchrun(args.processes, sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(args.threads, 1))
    if launched:
        distributed.init_process_group()
    try:
        if distributed.is_main_process():
            show_the_engine()
        train_on_digits(args)
    finally:
        distributed.destroy_process_group()
    return 0


def start_with_torchrun(processes: int, argv: list[str]) -> int:
    """Run this very command in ``processes`` processes (torchrun); its exit status."""
    command = distributed.torchrun_command("minigrad", processes, argv)
    print("starting " + " ".join(["python"] + command[1:]) + "\n", flush=True)
    try:
        distributed.torchrun("minigrad", processes, argv, timeout=None, capture=False)
    except mg.DistributedError as error:
        print(f"\n{str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
