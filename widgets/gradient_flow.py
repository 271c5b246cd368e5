"""GradientFlow: per-parameter gradient statistics, recorded every step while a model trains.

Call ``flow.record(model)`` after each optimiser step, or pass ``flow`` to
the Trainer's ``callbacks``: it is a :class:`minigrad.training.Callback` that
records after every batch. Each record adds one row per parameter
(biases included) with mean |g|, max |g|, ||g|| and the update-to-weight
ratio (:mod:`minigrad.stats`). Two plots follow it live: a bar per parameter
for the latest step, and a parameter-by-step heatmap, both on a log scale.
Parameters whose gradient is missing, vanishing or exploding are flagged.
"""

from __future__ import annotations

import html
import math

import ipywidgets as ipw
import numpy as np
from matplotlib.colors import LogNorm

from minigrad.stats import gradient_flags, gradient_stats, snapshot
from minigrad.training import Callback
from widgets.static import StaticForm, figure_png, new_figure

STATISTICS = {
    "mean |g|": "mean_abs",
    "max |g|": "max_abs",
    "norm ||g||": "norm",
    "update / weight": "update_ratio",
}


class GradientFlow(StaticForm, ipw.VBox, Callback):
    """Gradient statistics per parameter and step. See the module docstring.

    ``model`` (optional) is what ``record()`` reads when called without an
    argument; giving it up front also lets the first step's update ratio be
    measured. ``every`` redraws the plots only every n records (drawing is
    the slow part). ``vanishing`` / ``exploding`` are the thresholds on
    mean |g| and max |g| for the flags.
    """

    def __init__(
        self,
        model=None,
        statistic: str = "mean_abs",
        every: int = 1,
        vanishing: float = 1e-7,
        exploding: float = 1e2,
    ):
        super().__init__()
        self.add_class("mg-gradient-flow")
        self.model = model
        self.every = max(1, int(every))
        self.vanishing, self.exploding = vanishing, exploding
        self.history: list[list[dict]] = []
        self._before = snapshot(model) if model is not None else None
        choices = [(label, key) for label, key in STATISTICS.items()]
        if statistic not in STATISTICS.values():
            raise ValueError(
                f"GradientFlow: unknown statistic {statistic!r}\n"
                f"help: choose one of {sorted(STATISTICS.values())}"
            )
        self.statistic = ipw.Dropdown(options=choices, value=statistic, description="show")
        self.statistic.observe(lambda _: self.redraw(), names="value")
        self.flags_html = ipw.HTML()
        self.flags_html.add_class("mg-flags")
        self.bars = ipw.Image(format="png")
        self.bars.add_class("mg-bars")
        self.heatmap = ipw.Image(format="png")
        self.heatmap.add_class("mg-heatmap")
        self.children = [self.statistic, self.flags_html, ipw.HBox([self.bars, self.heatmap])]
        self.redraw()

    # -- recording ------------------------------------------------------------
    def before_step(self, model=None) -> None:
        """Remember the parameters before an optimiser step (``record`` does it for the next)."""
        self._before = snapshot(model if model is not None else self.model)

    def record(self, model=None) -> list[dict]:
        """Add one step's statistics (call after ``optimizer.step()``); returns its rows."""
        source = model if model is not None else self.model
        if source is None:
            raise TypeError(
                "GradientFlow.record: no model to read\n"
                "help: pass it, flow.record(model), or create GradientFlow(model)"
            )
        rows = gradient_stats(source, self._before)
        for row in rows:
            row["flags"] = gradient_flags(row, self.vanishing, self.exploding)
        self.history.append(rows)
        self._before = snapshot(source)
        if len(self.history) % self.every == 0:
            self.redraw()
        return rows

    # -- as a Trainer callback --------------------------------------------------
    def on_train_begin(self, trainer) -> None:
        self.model = trainer.model
        self.before_step(trainer.model)

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        self.record(trainer.model)

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        if len(self.history) % self.every:  # draw what the last records added
            self.redraw()

    # -- plain data -----------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [row["name"] for row in self.history[-1]] if self.history else []

    def matrix(self, statistic: str | None = None) -> np.ndarray:
        """Steps by parameters, one statistic (NaN where missing)."""
        key = statistic or self.statistic.value
        index = {n: j for j, n in enumerate(self.names)}
        out = np.full((len(self.history), len(index)), np.nan)
        for i, rows in enumerate(self.history):
            for row in rows:
                if row["name"] in index:
                    out[i, index[row["name"]]] = row[key]
        return out

    @property
    def flags(self) -> dict[str, list[str]]:
        """The latest step's flags, by parameter name (only flagged parameters)."""
        if not self.history:
            return {}
        return {row["name"]: row["flags"] for row in self.history[-1] if row["flags"]}

    # -- drawing --------------------------------------------------------------
    def redraw(self) -> None:
        flags = self.flags
        if not self.history:
            self.flags_html.value = "no steps recorded yet: call flow.record(model) after a step"
        elif flags:
            items = "".join(
                f"<li><b>{html.escape(n)}</b>: {', '.join(f)}</li>" for n, f in flags.items()
            )
            self.flags_html.value = f'<ul style="color:#b00">{items}</ul>'
        else:
            self.flags_html.value = f"step {len(self.history)}: every gradient looks healthy"
        self.bars.value = figure_png(self.bar_figure())
        self.heatmap.value = figure_png(self.heatmap_figure())

    def bar_figure(self):
        fig = new_figure(5.5, 3.4)
        self._draw_bars(fig.add_subplot())
        return fig

    def heatmap_figure(self):
        fig = new_figure(5.5, 3.4)
        self._draw_heatmap(fig, fig.add_subplot())
        return fig

    def _draw_bars(self, ax) -> None:
        key = self.statistic.value
        label = next(k for k, v in STATISTICS.items() if v == key)
        ax.set_title(f"{label}, step {len(self.history)}")
        if not self.history:
            return
        rows = self.history[-1]
        shown = [row[key] if math.isfinite(row[key]) and row[key] > 0 else np.nan for row in rows]
        colours = ["#c0392b" if row["flags"] else "#2e86c1" for row in rows]
        ax.bar(range(len(rows)), shown, color=colours)
        ax.set_xticks(range(len(rows)), [row["name"] for row in rows], rotation=60,
                      ha="right", fontsize=8)  # fmt: skip
        if any(math.isfinite(v) for v in shown):
            ax.set_yscale("log")

    def _draw_heatmap(self, fig, ax) -> None:
        ax.set_title("parameter by step (log scale)")
        data = self.matrix()
        positive = data[np.isfinite(data) & (data > 0)]
        if not positive.size:
            return
        masked = np.ma.masked_invalid(np.where(data > 0, data, np.nan)).T
        top = max(positive.max(), positive.min() * 1.01)
        image = ax.imshow(masked, aspect="auto", interpolation="nearest", cmap="viridis",
                          norm=LogNorm(vmin=positive.min(), vmax=top))  # fmt: skip
        fig.colorbar(image, ax=ax)
        ax.set_yticks(range(len(self.names)), self.names, fontsize=8)
        ax.set_xlabel("step")

    def to_png(self) -> bytes:
        fig = new_figure(11, 3.6)
        self._draw_bars(fig.add_subplot(1, 2, 1))
        self._draw_heatmap(fig, fig.add_subplot(1, 2, 2))
        return figure_png(fig)
