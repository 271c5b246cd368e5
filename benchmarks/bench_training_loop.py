"""How much does minigrad's Trainer cost over a loop written by hand?

The same MLP 64-128-10 with SGD (momentum 0.9), batch 32, on the 8x8 digits
(1437 training samples, 45 batches an epoch), trained five ways:

    trainer        mg.training.Trainer(...).fit(loader, epochs=2), no bar, no lines
    trainer+bar    the same with its tqdm progress bar (on stderr)
    hand           a for-loop of minigrad calls that keeps the same books
                   (loss sum and hits for the train accuracy), as you would
                   to print the same line per epoch
    hand-bare      the same loop keeping no books: forward, backward, step
    torch          torch.nn + torch.optim eager, hand loop with the same books

One thread, the variants interleaved round by round (so a slow moment of the
machine hits them all), 2 epochs per measurement (one fit call), the median per batch.
The Trainer must stay within 5% of "hand": --max-ratio makes this script
exit with status 1 when it does not.

    python benchmarks/bench_training_loop.py [--rounds 40] [--epochs 2] [--max-ratio 1.05]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import minigrad as mg
from benchmarks.timing import Samples, quiet_stderr, ratio, warm_allocator
from minigrad import nn
from minigrad.data import DataLoader, load_digits, train_test_split
from minigrad.training import Trainer

BATCH = 32
LR = 0.05


def minigrad_model(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    return model, mg.optim.SGD(model.parameters(), lr=LR, momentum=0.9)


def torch_model(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    return model, torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)


def hand_epoch(model, optimizer, loader) -> tuple[float, float]:
    """The loop a learner writes, keeping the numbers for one printed line."""
    model.train()
    loss_sum, samples, hits = 0.0, 0, 0
    for x, y in loader:
        output = model(x)
        loss = mg.cross_entropy(output, y)
        value = loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += value * len(y)
        samples += len(y)
        hits += (output.value.argmax(1) == y).sum()
    return loss_sum / samples, float(hits) / samples


def bare_epoch(model, optimizer, loader) -> None:
    for x, y in loader:
        loss = mg.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def torch_epoch(model, optimizer, loader) -> tuple[float, float]:
    model.train()
    loss_sum, samples, hits = 0.0, 0, 0
    for x, y in loader:
        output = model(x)
        loss = torch.nn.functional.cross_entropy(output, y)
        value = loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_sum += value * len(y)
        samples += len(y)
        hits += (output.detach().argmax(1) == y).sum()
    return loss_sum / samples, float(hits) / samples


def _repeat(epoch_function, epochs: int, *args) -> None:
    for _ in range(epochs):
        epoch_function(*args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="measurements per variant")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per measurement")
    parser.add_argument("--max-ratio", type=float, default=None, help="fail above this ratio")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    x, y = load_digits()
    x_train, _, y_train, _ = train_test_split(x, y, test_fraction=0.2, seed=0)
    loaders = {}  # one loader each, equally seeded: every variant sees the same batches

    def loader(name):
        if name not in loaders:
            loaders[name] = DataLoader((x_train, y_train), BATCH, shuffle=True, generator=0)
        return loaders[name]

    model, opt = minigrad_model(0)
    trainer = Trainer(model, opt, progress=False, verbose=False)
    bar_model, bar_opt = minigrad_model(0)
    bar_trainer = Trainer(bar_model, bar_opt, progress=True, verbose=False)
    hand_model, hand_opt = minigrad_model(0)
    bare_model, bare_opt = minigrad_model(0)
    t_model, t_opt = torch_model(0)
    variants = {
        "trainer": lambda: trainer.fit(loader("trainer"), epochs=args.epochs),
        "trainer+bar": lambda: bar_trainer.fit(loader("trainer+bar"), epochs=args.epochs),
        "hand": lambda: _repeat(hand_epoch, args.epochs, hand_model, hand_opt, loader("hand")),
        "hand-bare": lambda: _repeat(bare_epoch, args.epochs, bare_model, bare_opt, loader("b")),
        "torch": lambda: _repeat(torch_epoch, args.epochs, t_model, t_opt, loader("torch")),
    }
    batches = len(loader("hand")) * args.epochs
    # The progress bar draws on stderr: drawn (and paid for), but not printed among the tables.
    with quiet_stderr():
        warm_allocator()
        for _ in range(3):  # warm-up: first calls allocate and fill caches
            for run in variants.values():
                run()
        times = {name: [] for name in variants}
        cpu_times = {name: [] for name in variants}
        names = list(variants)
        for round_index in range(args.rounds):
            # Rotate the order each round so that no variant always runs first.
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start, cpu_start = time.perf_counter(), time.thread_time()
                variants[name]()
                cpu_times[name].append((time.thread_time() - cpu_start) / batches)
                times[name].append((time.perf_counter() - start) / batches)

    wall = {name: statistics.median(t) for name, t in times.items()}
    cpu = {name: statistics.median(t) for name, t in cpu_times.items()}
    print(
        f"MLP 64-128-10, SGD momentum, batch {BATCH}, {batches // args.epochs} batches/epoch, "
        f"{args.epochs} epochs per measurement, 1 thread, {args.rounds} rounds, "
        f"torch {torch.__version__}"
    )
    print("medians per batch; cpu = this thread's CPU time (robust on a shared machine)")
    print("ratios: the median of the per-round ratios, and their interquartile range")
    header = f"{'variant':<13}{'wall us':>9}{'cpu us':>9}{'cpu/hand':>20}{'cpu/torch':>20}"
    print(header)
    rounds = {name: Samples(t, []) for name, t in cpu_times.items()}
    for name in variants:
        to_hand, to_torch = (
            ratio(rounds[name], rounds["hand"]),
            ratio(rounds[name], rounds["torch"]),
        )
        print(
            f"{name:<13}{wall[name] * 1e6:>9.1f}{cpu[name] * 1e6:>9.1f}"
            f"{f'{to_hand} ({to_hand.spread})':>20}{f'{to_torch} ({to_torch.spread})':>20}"
        )
    trainer = ratio(rounds["trainer"], rounds["hand"]).median
    print(f"trainer / hand = {trainer:.3f} (cpu), {wall['trainer'] / wall['hand']:.3f} (wall)")
    if args.max_ratio is not None and trainer > args.max_ratio:
        print(f"FAIL: the Trainer costs more than {args.max_ratio}x the hand loop", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
