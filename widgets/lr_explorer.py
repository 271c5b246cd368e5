"""LRScheduleExplorer: pick a schedule, move its sliders, see the learning rate per epoch.

The curve comes from minigrad's own pure schedule (``Schedule.curve``), and torch's
scheduler with the same settings is drawn over it, with the difference in a
second panel, so a learner can see the two agree (or find where they do not).

Reading the plot: the value at epoch e is the learning rate *used during*
epoch e, i.e. what the optimiser holds while that epoch trains, before the
``scheduler.step()`` that ends it. That is why the curve is drawn as steps.
"""

from __future__ import annotations

import warnings

import ipywidgets as ipw
import numpy as np
import torch

import minigrad as mg
from widgets.static import StaticForm, figure_png, new_figure

CHOICES = ("StepLR", "LinearLR", "CosineAnnealingLR", "LinearLR then CosineAnnealingLR")

# Which sliders each schedule uses.
USES = {
    "StepLR": ("step_size", "gamma"),
    "LinearLR": ("linear_epochs", "start_factor", "end_factor"),
    "CosineAnnealingLR": ("t_max", "lr_min"),
    "LinearLR then CosineAnnealingLR": (
        "linear_epochs",
        "start_factor",
        "end_factor",
        "t_max",
        "lr_min",
    ),
}


def minigrad_schedule(kind: str, **p) -> mg.optim.Schedule:
    """minigrad's pure schedule ``kind`` with the sliders' settings (no optimiser needed)."""
    optim = mg.optim
    if kind == "StepLR":
        return optim.StepSchedule(p["step_size"], p["gamma"])
    if kind == "LinearLR":
        return optim.LinearSchedule(p["linear_epochs"], p["start_factor"], p["end_factor"])
    if kind == "CosineAnnealingLR":
        return optim.CosineSchedule(p["t_max"], p["lr_min"])
    if kind == "LinearLR then CosineAnnealingLR":
        warm = optim.LinearSchedule(p["linear_epochs"], p["start_factor"], p["end_factor"])
        return optim.SequentialSchedule([warm, optim.CosineSchedule(p["t_max"], p["lr_min"])])
    raise ValueError(f"unknown schedule {kind!r}\nhelp: choose one of {CHOICES}")


def minigrad_curve(kind: str, lr: float, epochs: int, **p) -> list[float]:
    """The LR used during each epoch, from minigrad's schedule ``kind`` starting at ``lr``."""
    return minigrad_schedule(kind, **p).curve(epochs, base_lr=lr)


def torch_curve(kind: str, lr: float, epochs: int, **p) -> list[float]:
    """The same schedule from torch.optim.lr_scheduler, read during each epoch."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    s = torch.optim.lr_scheduler
    if kind == "StepLR":
        sched = s.StepLR(opt, p["step_size"], p["gamma"])
    elif kind == "LinearLR":
        sched = s.LinearLR(opt, p["start_factor"], p["end_factor"], p["linear_epochs"])
    elif kind == "CosineAnnealingLR":
        sched = s.CosineAnnealingLR(opt, p["t_max"], p["lr_min"])
    else:  # minigrad's ChainedScheduler runs in series: torch calls that SequentialLR
        warm = s.LinearLR(opt, p["start_factor"], p["end_factor"], p["linear_epochs"])
        decay = s.CosineAnnealingLR(opt, p["t_max"], p["lr_min"])
        sched = s.SequentialLR(opt, [warm, decay], milestones=[p["linear_epochs"]])
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about step() without a real optimiser step
        for _ in range(epochs):
            lrs.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            sched.step()
    return lrs


class LRScheduleExplorer(StaticForm, ipw.VBox):
    """Sliders for a schedule's settings and its LR curve, with torch's curve over it."""

    def __init__(self, scheduler: str = "LinearLR then CosineAnnealingLR", epochs: int = 60):
        super().__init__()
        self.add_class("mg-lr-explorer")
        style = {"description_width": "110px"}
        self.kind = ipw.Dropdown(options=CHOICES, value=scheduler, description="scheduler",
                                 style=style)  # fmt: skip
        self.sliders = {
            "lr": ipw.FloatLogSlider(0.1, base=10, min=-4, max=0, step=0.1, description="base lr"),
            "epochs": ipw.IntSlider(epochs, min=1, max=300, description="epochs"),
            "step_size": ipw.IntSlider(10, min=1, max=100, description="step_size"),
            "gamma": ipw.FloatSlider(0.5, min=0.05, max=1.0, step=0.05, description="gamma"),
            "linear_epochs": ipw.IntSlider(10, min=1, max=100, description="LinearLR epochs"),
            "start_factor": ipw.FloatSlider(
                0.1, min=0.05, max=1.0, step=0.05, description="start_factor"
            ),  # fmt: skip
            "end_factor": ipw.FloatSlider(
                1.0, min=0.0, max=1.0, step=0.05, description="end_factor"
            ),  # fmt: skip
            "t_max": ipw.IntSlider(50, min=1, max=300, description="t_max"),
            "lr_min": ipw.FloatSlider(
                0.0, min=0.0, max=0.05, step=0.001, readout_format=".3f", description="lr_min"
            ),  # fmt: skip
        }
        for name, slider in self.sliders.items():
            slider.style = style
            slider.add_class(f"mg-slider-{name}")
            slider.observe(lambda _: self.update(), names="value")
        self.overlay = ipw.Checkbox(True, description="overlay torch")
        self.overlay.observe(lambda _: self.update(), names="value")
        self.kind.observe(lambda _: self.update(), names="value")
        self.note = ipw.HTML(
            "<i>The value plotted at epoch e is the learning rate used <b>during</b> epoch e "
            "(set before it trains; scheduler.step() runs after it).</i>"
        )
        self.summary = ipw.HTML()
        self.summary.add_class("mg-lr-summary")
        self.plot = ipw.Image(format="png")
        self.plot.add_class("mg-lr-plot")
        controls = ipw.VBox([self.kind, *self.sliders.values(), self.overlay])
        self.children = [ipw.HBox([controls, self.plot]), self.note, self.summary]
        self.epochs: list[int] = []
        self.lrs: list[float] = []
        self.torch_lrs: list[float] = []
        self.update()

    def settings(self) -> dict:
        return {name: slider.value for name, slider in self.sliders.items()}

    @property
    def max_difference(self) -> float:
        if not self.torch_lrs:
            return float("nan")
        return float(np.max(np.abs(np.subtract(self.lrs, self.torch_lrs)), initial=0.0))

    def update(self) -> None:
        kind = self.kind.value
        for name, slider in self.sliders.items():
            wanted = name in ("lr", "epochs") or name in USES[kind]
            slider.layout.display = None if wanted else "none"
        p = self.settings()
        lr, epochs = p.pop("lr"), p.pop("epochs")
        self.epochs = list(range(epochs))
        try:
            self.lrs = minigrad_curve(kind, lr, epochs, **p)
            self.torch_lrs = torch_curve(kind, lr, epochs, **p) if self.overlay.value else []
            error = ""
        except (ValueError, TypeError) as e:  # a setting the scheduler refuses: say why
            self.lrs, self.torch_lrs = [], []
            error = str(e).replace("\n", "<br>")
        if error:
            self.summary.value = f'<span style="color:#b00">{error}</span>'
        else:
            diff = f", max |minigrad - torch| = {self.max_difference:.3g}" if self.torch_lrs else ""
            self.summary.value = (
                f"{kind}: lr at epoch 0 = {self.lrs[0]:.4g}, at epoch {epochs - 1} = "
                f"{self.lrs[-1]:.4g}{diff}"
            )
        self.plot.value = figure_png(self.figure())

    def figure(self):
        fig = new_figure(6.4, 4.2)
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
        if self.lrs:
            e = np.arange(len(self.lrs))
            top.step(e, self.lrs, where="post", label="minigrad", linewidth=2)
            top.plot(e, self.lrs, ".", markersize=3)
            if self.torch_lrs:
                top.step(e, self.torch_lrs, where="post", linestyle="--", label="torch")
                bottom.plot(e, np.subtract(self.lrs, self.torch_lrs), color="#c0392b")
            top.legend(fontsize=8)
        top.set_ylabel("lr used during epoch")
        top.set_title(self.kind.value, fontsize=10)
        bottom.set_ylabel("minigrad - torch", fontsize=8)
        bottom.set_xlabel("epoch")
        return fig

    def to_png(self) -> bytes:
        return figure_png(self.figure())
