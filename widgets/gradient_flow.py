"""GradientFlow: per-parameter gradient statistics, drawn live while a model trains.

It views a :class:`widgets.recorders.GradientHistory` (given, or its own).
Call ``flow.record(model)`` after each optimiser step, or pass ``flow`` to
the Trainer's ``callbacks``: the history gets one row per parameter (biases
included) per step, with mean |g|, max |g|, ||g|| and the update-to-weight
ratio (:mod:`minigrad.stats`). Two plots follow it, both on a log scale: a
bar per parameter for the latest step, and a parameter-by-step heatmap with
its colour bar. Parameters whose gradient is missing, vanishing or exploding
are flagged. The statistic shown is the synced trait ``statistic``, which
the menu is linked to. Redraws follow a time budget (see widgets/live.py).
"""

from __future__ import annotations

import html

import ipywidgets as ipw
import numpy as np
import traitlets

from widgets.live import LiveView
from widgets.recorders import GradientHistory
from widgets.static import StaticForm
from widgets.svg_chart import bar_panel, chart, heatmap_panel

STATISTICS = {
    "mean |g|": "mean_abs",
    "max |g|": "max_abs",
    "norm ||g||": "norm",
    "update / weight": "update_ratio",
}
HEALTHY, FLAGGED = "#2e86c1", "#c0392b"
MAX_COLUMNS = 1200  # heatmap columns: enough for the width of a screen


class GradientFlow(StaticForm, ipw.VBox, LiveView):
    """Gradient statistics per parameter and step. See the module docstring.

    ``model`` (optional) is what ``record()`` reads when called without an
    argument; giving it up front also lets the first step's update ratio be
    measured. ``vanishing`` / ``exploding`` are the thresholds on mean |g|
    and max |g| for the flags; ``interval`` the shortest time between redraws;
    ``every`` n: consider a redraw only every n records (the end still draws).
    """

    static_mime = "image/svg+xml"
    statistic = traitlets.Unicode("mean_abs").tag(sync=True)

    def __init__(
        self,
        model=None,
        statistic: str = "mean_abs",
        history: GradientHistory | None = None,
        vanishing: float = 1e-7,
        exploding: float = 1e2,
        interval: float = 0.25,
        every: int = 1,
    ):
        if statistic not in STATISTICS.values():
            raise ValueError(
                f"GradientFlow: unknown statistic {statistic!r}\n"
                f"help: choose one of {sorted(STATISTICS.values())}"
            )
        super().__init__()
        self.add_class("mg-gradient-flow")
        self.statistic = statistic
        self.menu = ipw.Dropdown(options=list(STATISTICS.items()), description="show")
        self.menu.add_class("mg-statistic")
        ipw.link((self, "statistic"), (self.menu, "value"))
        self.flags_html = ipw.HTML()
        self.flags_html.add_class("mg-flags")
        self.plot = ipw.HTML()
        self.plot.add_class("mg-flow-plot")
        self.children = [self.menu, self.flags_html, self.plot]
        self.mark_as_minigrad()
        if history is None:
            history = GradientHistory(model, vanishing, exploding)
        self.follow(history, interval, every)
        self.observe(lambda _: self.redraw(), names="statistic")
        self.redraw()

    # -- the recorder's surface ---------------------------------------------------------
    @property
    def model(self):
        return self.history.model

    def record(self, model=None) -> list[dict]:
        """Add one step's statistics (call after ``optimizer.step()``); returns its rows."""
        return self.history.record(model)

    def before_step(self, model=None) -> None:
        self.history.before_step(model)

    @property
    def names(self) -> list[str]:
        return self.history.names

    def matrix(self, statistic: str | None = None):
        """Steps by parameters, one statistic (the one shown by default)."""
        return self.history.matrix(statistic or self.statistic)

    @property
    def flags(self) -> dict[str, list[str]]:
        return self.history.flags

    # -- drawing ----------------------------------------------------------------------
    @property
    def label(self) -> str:
        return next(k for k, v in STATISTICS.items() if v == self.statistic)

    def describe(self) -> str:
        flags = self.flags
        numbers = self.history.step_numbers
        if not numbers:
            return "no steps recorded yet: call flow.record(model) after a step"
        if flags:
            return "; ".join(f"{n}: {', '.join(f)}" for n, f in flags.items())
        return f"step {numbers[-1]}: every gradient looks healthy"

    def heatmap_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The heatmap's steps, one column each, and its matrix (parameters by those steps).

        A step that was not computed (see GradientHistory's time ``share``) shows
        the last computed one before it; past MAX_COLUMNS steps, columns are
        spread evenly over them.
        """
        numbers = np.array(self.history.step_numbers)
        matrix = self.matrix()
        if not numbers.size:
            return numbers, matrix.T
        columns = np.arange(numbers[0], numbers[-1] + 1)
        if columns.size > MAX_COLUMNS:
            columns = np.unique(np.linspace(numbers[0], numbers[-1], MAX_COLUMNS).round())
        held = np.searchsorted(numbers, columns, side="right") - 1
        return columns, matrix[held].T

    def svg(self, fluid: bool = True) -> str:
        numbers = self.history.step_numbers
        rows = self.history[-1] if numbers else []
        values = [row[self.statistic] for row in rows]
        colours = [FLAGGED if row["flags"] else HEALTHY for row in rows]
        names = self.names
        step = f"step {numbers[-1]}" if numbers else "no steps yet"
        bars = bar_panel(f"{self.label}, {step}", names, values, colours, width=0.8)
        columns, matrix = self.heatmap_columns()
        title = f"{self.label}, parameter by step (log colour scale)"
        heat = heatmap_panel(title, matrix, names, x_values=columns.tolist(), width=1.2)
        return chart([bars, heat], width=1000, height=320, css="mg-chart", fluid=fluid)

    def redraw(self) -> None:
        flags = self.flags
        if flags:
            items = "".join(
                f"<li><b>{html.escape(n)}</b>: {', '.join(f)}</li>" for n, f in flags.items()
            )
            self.flags_html.value = f'<ul style="color:#b00">{items}</ul>'
        else:
            self.flags_html.value = html.escape(self.describe())
        self.plot.value = self.svg()
        self.picture_changed()

    def to_svg(self) -> str:
        return self.svg(fluid=False)
