"""Live training: lesson 9's model and data trained with and without both widgets watching.

The widgets are TrainingMonitor and GradientFlow, live: created before the
loop, recording every batch, redrawing on their time budget and once more at
the end. Two loops are timed: ``mg.Trainer.fit`` with the widgets as
callbacks, and lesson 9's hand-written loop (``flow.record(model)`` and
``monitor.log(...)`` after every step). Each turn trains a fresh model from
the same seed for the same epochs; turns alternate (with, without, with, ...)
and the medians are compared. Target: at most 1.3x the time without them.

Run: .venv/bin/python -m benchmarks.bench_live_training [--epochs 8] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import minigrad as mg
from benchmarks.timing import markdown_table
from minigrad import nn
from widgets import GradientFlow, TrainingMonitor

TARGET = 1.3


def lesson_9_setup():
    """Lesson 9's digits, loaders, MLP 64-64-64-10 and SGD with momentum, from seed 0."""
    torch.manual_seed(0)
    x, y = mg.data.load_digits()
    x_train, x_test, y_train, y_test = mg.data.train_test_split(x, y, test_fraction=0.2, seed=0)
    train = mg.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, generator=0)
    test = mg.data.DataLoader((x_test, y_test), batch_size=256)
    model = nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)
    )  # fmt: skip
    optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, optimizer, train, test


def trainer_run(epochs: int, watched: bool) -> float:
    model, optimizer, train, test = lesson_9_setup()
    callbacks = [GradientFlow(model), TrainingMonitor()] if watched else []
    trainer = mg.Trainer(model, optimizer, callbacks=callbacks, progress=False, verbose=False)
    start = time.perf_counter()
    trainer.fit(train, test, epochs=epochs)
    return time.perf_counter() - start


def hand_loop_run(epochs: int, watched: bool) -> float:
    """Lesson 9's loop as written there, with the widgets' calls or without them."""
    model, optimizer, train, test = lesson_9_setup()
    if watched:
        monitor, flow = TrainingMonitor(), GradientFlow(model)
    start = time.perf_counter()
    step = 0
    for _ in range(epochs):
        model.train()
        for xb, yb in train:
            loss = mg.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            if watched:
                flow.record(model)
                monitor.log(step, loss=loss.item())
        accuracy = mg.training.accuracy(model, test)
        if watched:
            monitor.log(step, val_accuracy=accuracy)
    if watched:  # what the end of the cell does: draw whatever is still pending
        flow.budget.flush()
        monitor.budget.flush()
    return time.perf_counter() - start


def measure(run, epochs: int, repeats: int) -> tuple[float, float]:
    """Median seconds without and with the widgets, in alternating turns."""
    run(1, True)  # warm up both paths (first draws, allocator)
    run(1, False)
    without, with_ = [], []
    for _ in range(repeats):
        with_.append(run(epochs, True))
        without.append(run(epochs, False))
    return statistics.median(without), statistics.median(with_)


def main(argv=None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8, help="lesson 9 trains 8")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name, run in (("mg.Trainer, widgets as callbacks", trainer_run),
                      ("lesson 9's hand-written loop", hand_loop_run)):  # fmt: skip
        without, with_ = measure(run, args.epochs, args.repeats)
        ratio = with_ / without
        rows.append([name, f"{without * 1e3:.0f} ms", f"{with_ * 1e3:.0f} ms", f"{ratio:.2f}",
                     f"<= {TARGET}" + ("" if ratio <= TARGET else " (MISSED)")])  # fmt: skip
    header = [f"lesson 9, {args.epochs} epochs", "without widgets", "with both live", "ratio",
              "target"]  # fmt: skip
    print(markdown_table(header, rows))
    return rows


if __name__ == "__main__":
    main()
