"""TrainingMonitor: live loss, accuracy and learning-rate curves while a model trains.

``monitor.log(loss=..., accuracy=..., lr=...)`` adds a point (any subset of
metrics; names starting with ``val_`` are drawn on the same axes as the
metric they validate). Passed to the Trainer's ``callbacks`` it is a
:class:`minigrad.training.Callback`: it logs each batch's loss and learning
rate, and each epoch's accuracies and test loss.
"""

from __future__ import annotations

import numbers

import ipywidgets as ipw

from minigrad.training import Callback
from widgets.static import StaticForm, figure_png, new_figure

PANELS = ("loss", "accuracy", "lr")


class TrainingMonitor(StaticForm, ipw.VBox, Callback):
    """Curves of the logged metrics against step. ``every`` redraws every n points."""

    def __init__(self, every: int = 1, log_batches: bool = True):
        super().__init__()
        self.add_class("mg-training-monitor")
        self.every = max(1, int(every))
        self.log_batches = log_batches
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.step = 0
        self.summary = ipw.HTML("no points logged yet")
        self.summary.add_class("mg-monitor-summary")
        self.plot = ipw.Image(format="png")
        self.plot.add_class("mg-monitor-plot")
        self.children = [self.summary, self.plot]
        self.redraw()

    def log(self, step: int | None = None, **metrics) -> None:
        """Add one point per metric at ``step`` (default: one more than the last)."""
        self.step = self.step + 1 if step is None else int(step)
        for name, value in metrics.items():
            if value is None:
                continue
            if hasattr(value, "item"):
                value = value.item()
            if not isinstance(value, numbers.Real):
                raise TypeError(f"TrainingMonitor.log: {name} must be a number, got {value!r}")
            self.history.setdefault(name, []).append((self.step, float(value)))
        if self.step % self.every == 0:
            self.redraw()

    # -- as a Trainer callback --------------------------------------------------
    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        if self.log_batches:
            self.log(loss=loss, lr=trainer.optimizer.lr)

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        # Epoch figures go at the current step, beside the batch curves.
        step = self.step if self.log_batches else epoch + 1
        epoch_metrics = {
            "accuracy": record.get("train_accuracy"),
            "val_accuracy": record.get("test_accuracy"),
            "val_loss": record.get("test_loss"),
        }
        if not self.log_batches:
            epoch_metrics.update(loss=record.get("loss"), lr=record.get("lr"))
        self.log(step=step, **epoch_metrics)
        self.redraw()

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        points = self.history.get(name, [])
        return [p[0] for p in points], [p[1] for p in points]

    def _panels(self) -> list[str]:
        bases = []
        for name in self.history:
            base = name[4:] if name.startswith("val_") else name
            if base not in bases:
                bases.append(base)
        return sorted(bases, key=lambda b: PANELS.index(b) if b in PANELS else len(PANELS))

    def figure(self):
        panels = self._panels() or ["loss"]
        fig = new_figure(3.6 * len(panels), 3.0)
        for k, base in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), k + 1)
            ax.set_title(base)
            ax.set_xlabel("step")
            for name in (base, "val_" + base):
                if name in self.history:
                    xs, ys = self.curve(name)
                    ax.plot(xs, ys, marker="." if len(xs) < 30 else None, label=name)
            if base == "lr" and any(y > 0 for _, y in self.history.get("lr", [])):
                ax.set_yscale("log")
            if any(("val_" + base) in self.history for _ in [0]):
                ax.legend(fontsize=8)
        return fig

    def redraw(self) -> None:
        if self.history:
            last = ", ".join(f"{n} {pts[-1][1]:.4g}" for n, pts in self.history.items())
            self.summary.value = f"step {self.step}: {last}"
        self.plot.value = figure_png(self.figure())

    def to_png(self) -> bytes:
        return figure_png(self.figure())
