"""What ``compile_train(..., compile=True)`` gains: one training step, eager vs torch.compile.

The step is ``compile_train``'s forward and backward on the tape, plus an SGD
update, for the MLP 64-128-10 on the digits. torch.compile traces the whole
Python tape into one graph; the first call compiles (several seconds), so
both contenders are warmed up before timing. One thread, interleaved turns,
medians. Run: ``python -m benchmarks compile``.
"""

from __future__ import annotations

import time

import torch

import minigrad as mg
from benchmarks.timing import interleaved_medians, markdown_table


def step_function(batch: int, compiled: bool):
    torch.manual_seed(0)
    model = mg.nn.Sequential(mg.nn.Linear(64, 128), mg.nn.ReLU(), mg.nn.Linear(128, 10))
    optimizer = mg.optim.SGD(model, lr=0.05, momentum=0.9)
    images, labels = mg.data.load_digits()
    x, y = images[:batch], labels[:batch]
    train = mg.nn.compile_train(model, mg.cross_entropy, compile=compiled)

    def step():
        train(x, y)
        optimizer.step()

    return step


def main(argv=None) -> None:
    torch.set_num_threads(1)
    rows = []
    for batch in (32, 256):
        eager, compiled = step_function(batch, False), step_function(batch, True)
        start = time.perf_counter()
        compiled()
        first_call = time.perf_counter() - start
        times = interleaved_medians({"eager": eager, "compiled": compiled}, 10, 51)
        rows.append([
            f"MLP 64-128-10, batch {batch}", f"{times['eager'] * 1e6:.0f} us",
            f"{times['compiled'] * 1e6:.0f} us", f"{times['eager'] / times['compiled']:.2f}x",
            f"{first_call:.1f} s",
        ])  # fmt: skip
    header = ["compile_train step + SGD", "eager", "compiled", "gain", "first call (compiles)"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
