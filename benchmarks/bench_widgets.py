"""Widget speed: draw_tape, a TapeViewer step, and one redraw of each live training plot.

Targets: draw_tape on 2,000 nodes (300 drawn, the rest folded) < 5 s; one
TapeViewer step on 200 nodes < 100 ms; one TrainingMonitor or GradientFlow
redraw after 1,000 steps < 20 ms (they redraw a few times a second while a
model trains). Graphviz's layout grows steeply with the nodes drawn when a
few values feed ops all along the tape, as here: 600 unfolded is the stress row.

Run: .venv/bin/python -m benchmarks.bench_widgets   (prints medians of several runs)
"""

from __future__ import annotations

import statistics
import time

import torch

import minigrad as mg
from widgets import GradientFlow, GradientHistory, TapeViewer, TrainingMonitor, draw_tape


def chain(n: int, keep: bool = False):
    """A tape of n element-wise ops on a (16, 16) tensor, ending in a scalar."""
    ctx = mg.Context(keep_outputs=keep)
    x = ctx.variable(torch.randn(16, 16), requires_grad=True, name="x")
    w = ctx.variable(torch.randn(16, 16), requires_grad=True, name="layer.weight")
    y = x
    for i in range(n - 1):
        y = (y * w) if i % 3 == 0 else (y.tanh() if i % 3 == 1 else y + x)
    return y.sum()


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    big = chain(2000)
    folded = median_seconds(lambda: draw_tape(big).svg(), 5)
    print(f"draw_tape, 2,000 nodes, default max_nodes=300 (folded) + layout: {folded:.3f} s")
    long = chain(600)
    full = median_seconds(lambda: draw_tape(long, max_nodes=None).svg(), 1)
    print(f"draw_tape, 600 nodes, nothing folded + layout:              {full:.3f} s")
    small = chain(200, keep=True)
    build = median_seconds(lambda: TapeViewer(small), 3)
    print(f"TapeViewer on 200 nodes, construction (trace + layout):     {build:.3f} s")
    viewer = TapeViewer(small)
    steps = len(viewer.steps)

    def one_step():
        viewer.position = (viewer.position + 1) % steps

    per_step = median_seconds(one_step, 200)
    print(f"TapeViewer on 200 nodes, one step (median of 200):          {per_step * 1e3:.2f} ms")

    monitor = TrainingMonitor()
    for step in range(1, 1001):
        monitor.history.log(loss=1 / step, lr=0.1, **({"val_accuracy": 0.9} if step % 50 else {}))
    redraw = median_seconds(monitor.redraw, 20)
    print(f"TrainingMonitor after 1,000 steps, one redraw:              {redraw * 1e3:.2f} ms")
    model = mg.nn.Sequential(mg.nn.Linear(64, 64), mg.nn.ReLU(), mg.nn.Linear(64, 10))
    history = GradientHistory(model, share=1.0)
    x = torch.randn(32, 64)
    for _ in range(1000):
        model.zero_grad()
        model(mg.tensor(x)).sum().backward()
        history.record(model)
    flow = GradientFlow(history=history)
    redraw = median_seconds(flow.redraw, 20)
    print(f"GradientFlow after 1,000 steps, one redraw:                 {redraw * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
