"""TrainingMonitor: live loss, accuracy and learning-rate curves while a model trains.

It views a :class:`widgets.recorders.TrainingHistory` (given, or its own):
``monitor.log(loss=..., accuracy=..., lr=...)`` adds a point to it, and as a
Trainer callback it logs each batch's loss and learning rate and each epoch's
accuracies and test loss. A metric ``val_x`` is drawn on the same axes as
``x``. The curves redraw on a time budget (at most every ``interval``
seconds) and once more when training or the cell ends, so the numbers on
screen are always the last ones. Show it *before* the loop to watch it live.
"""

from __future__ import annotations

import ipywidgets as ipw

from widgets.live import LiveView
from widgets.recorders import TrainingHistory
from widgets.static import StaticForm
from widgets.svg_chart import Series, chart, line_panel

PANELS = ("loss", "accuracy", "lr")
LOG_PANELS = ("loss", "lr")  # these span decades while training; accuracy does not


class TrainingMonitor(StaticForm, ipw.VBox, LiveView):
    """Curves of the logged metrics against step, one panel per metric (with its ``val_`` twin).

    ``interval``: the shortest time between redraws; ``every`` n: consider a
    redraw only every n points (the end of training or of the cell still draws).
    """

    static_mime = "image/svg+xml"

    def __init__(
        self, history: TrainingHistory | None = None, log_batches: bool = True,
        interval: float = 0.25, every: int = 1,
    ):  # fmt: skip
        super().__init__()
        self.add_class("mg-training-monitor")
        self.summary = ipw.HTML("no points logged yet")
        self.summary.add_class("mg-monitor-summary")
        self.plot = ipw.HTML()
        self.plot.add_class("mg-monitor-plot")
        self.children = [self.summary, self.plot]
        self.mark_as_minigrad()
        self.follow(history if history is not None else TrainingHistory(log_batches), interval,
                    every)  # fmt: skip
        self.redraw()

    # -- the recorder's surface, for a hand-written loop ------------------------------
    def log(self, step: int | None = None, **metrics) -> None:
        """Add one point per metric to the history (see TrainingHistory.log)."""
        self.history.log(step, **metrics)

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        return self.history.curve(name)

    @property
    def step(self) -> int:
        return self.history.step

    # -- drawing ----------------------------------------------------------------------
    def panels(self) -> list[str]:
        """The metric names that get a panel, in the order loss, accuracy, lr, others."""
        bases = []
        for name in self.history:
            base = name[4:] if name.startswith("val_") else name
            if base not in bases:
                bases.append(base)
        return sorted(bases, key=lambda b: PANELS.index(b) if b in PANELS else len(PANELS))

    def svg(self, fluid: bool = True) -> str:
        panels = []
        for base in self.panels() or ["loss"]:
            series = [
                Series(name, *self.history.curve(name), markers=len(self.history[name]) < 30)
                for name in (base, "val_" + base)
                if name in self.history
            ]
            panels.append(line_panel(base, series, xlabel="step", log_y=base in LOG_PANELS))
        return chart(panels, width=330 * len(panels), height=250, css="mg-chart", fluid=fluid)

    def describe(self) -> str:
        latest = ", ".join(f"{n} {v:.4g}" for n, v in self.history.latest().items())
        return f"step {self.step}: {latest}" if latest else "no points logged yet"

    def redraw(self) -> None:
        if len(self.history):
            self.summary.value = self.describe()
        self.plot.value = self.svg()
        self.picture_changed()

    def to_svg(self) -> str:
        return self.svg(fluid=False)
