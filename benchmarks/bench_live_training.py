"""Live training: lesson 9's model and data trained with and without both widgets watching.

The widgets are TrainingMonitor and GradientFlow, live: created before the
loop, recording every batch, redrawing on their time budget and once more at
the end. Two loops are timed: ``mg.Trainer.fit`` with the widgets as
callbacks, and lesson 9's hand-written loop (``flow.record(model)`` and
``monitor.log(...)`` after every step), for the lesson's 8 epochs and for a
longer run. Each turn trains a fresh model from the same seed; turns
alternate (with, without, with, ...) and the medians are compared, in CPU
time of the training thread (what the widgets cost, whatever the neighbours
on a shared machine do) and in wall-clock time. Target: at most 1.3x.

Run: .venv/bin/python -m benchmarks.bench_live_training [--repeats 9]
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
    start, cpu = time.perf_counter(), time.thread_time()
    trainer.fit(train, test, epochs=epochs)
    return time.thread_time() - cpu, time.perf_counter() - start


def hand_loop_run(epochs: int, watched: bool) -> float:
    """Lesson 9's loop as written there, with the widgets' calls or without them."""
    model, optimizer, train, test = lesson_9_setup()
    if watched:
        monitor, flow = TrainingMonitor(), GradientFlow(model)
    start, cpu = time.perf_counter(), time.thread_time()
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
        flow.history.settle()
        flow.budget.flush()
        monitor.budget.flush()
    return time.thread_time() - cpu, time.perf_counter() - start


def measure(run, epochs: int, repeats: int) -> dict[str, float]:
    """Median CPU and wall seconds without and with the widgets, in alternating turns."""
    run(1, True)  # warm up both paths (first draws, allocator)
    run(1, False)
    samples: dict[str, list[float]] = {key: [] for key in ("cpu", "wall", "cpu+", "wall+")}
    for _ in range(repeats):
        cpu, wall = run(epochs, True)
        samples["cpu+"].append(cpu)
        samples["wall+"].append(wall)
        cpu, wall = run(epochs, False)
        samples["cpu"].append(cpu)
        samples["wall"].append(wall)
    return {key: statistics.median(values) for key, values in samples.items()}


def main(argv=None) -> list[list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    cases = (("mg.Trainer, widgets as callbacks", trainer_run, 8),
             ("lesson 9's hand-written loop", hand_loop_run, 8),
             ("mg.Trainer, widgets as callbacks", trainer_run, 40))  # fmt: skip
    for name, run, epochs in cases:
        m = measure(run, epochs, args.repeats)
        ratio, wall = m["cpu+"] / m["cpu"], m["wall+"] / m["wall"]
        rows.append([f"{name}, {epochs} epochs", f"{m['cpu'] * 1e3:.0f} ms",
                     f"{m['cpu+'] * 1e3:.0f} ms", f"{ratio:.2f}", f"{wall:.2f}",
                     f"<= {TARGET}" + ("" if ratio <= TARGET else " (MISSED)")])  # fmt: skip
    header = ["lesson 9's MLP and digits", "without widgets (CPU)", "with both live (CPU)",
              "ratio (CPU)", "ratio (wall)", "target"]  # fmt: skip
    print(markdown_table(header, rows))
    return rows


if __name__ == "__main__":
    main()
