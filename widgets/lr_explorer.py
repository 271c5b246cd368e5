"""LRScheduleExplorer: pick a schedule, move its sliders, see the learning rate per epoch.

The curve comes from minigrad's own pure schedule (``Schedule.curve``), and torch's
scheduler with the same settings is drawn over it, with the difference in a
second panel, so a learner can see the two agree (or find where they do not).

Reading the plot: the value at epoch e is the learning rate *used during*
epoch e, i.e. what the optimiser holds while that epoch trains, before the
``scheduler.step()`` that ends it. That is why the curve is drawn as steps.
"""

from __future__ import annotations

import html
import warnings

import ipywidgets as ipw
import numpy as np
import torch
import traitlets

import minigrad as mg
from widgets.static import StaticForm
from widgets.svg_chart import Series, chart, line_panel

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


# Each setting: its control (a slider) and its range; the value itself is a trait.
CONTROLS = {
    "lr": dict(kind="log", value=0.1, min=-4, max=0, step=0.1, description="base lr"),
    "epochs": dict(kind="int", value=60, min=1, max=300, description="epochs"),
    "step_size": dict(kind="int", value=10, min=1, max=100, description="step_size"),
    "gamma": dict(kind="float", value=0.5, min=0.05, max=1.0, step=0.05, description="gamma"),
    "linear_epochs": dict(kind="int", value=10, min=1, max=100, description="LinearLR epochs"),
    "start_factor": dict(kind="float", value=0.1, min=0.0, max=1.0, step=0.05,
                         description="start_factor"),
    "end_factor": dict(kind="float", value=1.0, min=0.0, max=1.0, step=0.05,
                       description="end_factor"),
    "t_max": dict(kind="int", value=50, min=1, max=300, description="t_max"),
    "lr_min": dict(kind="float", value=0.0, min=0.0, max=0.05, step=0.001, description="lr_min",
                   readout_format=".3f"),
}  # fmt: skip
STYLE = {"description_width": "120px"}


def _control(name: str):
    spec = dict(CONTROLS[name])
    kind = spec.pop("kind")
    make = {"log": ipw.FloatLogSlider, "int": ipw.IntSlider, "float": ipw.FloatSlider}[kind]
    control = make(style=STYLE, continuous_update=False, **spec)
    control.add_class(f"mg-slider-{name}")
    return control


class LRScheduleExplorer(StaticForm, ipw.VBox):
    """Sliders for a schedule's settings and its LR curve, with torch's curve over it.

    The state is in synced traits, one per setting (``kind``, ``lr``,
    ``epochs``, ``step_size``, ``gamma``, ``linear_epochs``, ``start_factor``,
    ``end_factor``, ``t_max``, ``lr_min``, ``overlay``); the controls are
    linked to them, so ``explorer.gamma = 0.25`` moves the slider and redraws.
    A setting the scheduler refuses shows minigrad's message in the widget and
    keeps the last curve that was valid (``shown_settings`` says which).
    """

    static_mime = "image/svg+xml"
    kind = traitlets.Unicode("LinearLR then CosineAnnealingLR").tag(sync=True)
    lr = traitlets.Float(0.1).tag(sync=True)
    epochs = traitlets.Int(60).tag(sync=True)
    step_size = traitlets.Int(10).tag(sync=True)
    gamma = traitlets.Float(0.5).tag(sync=True)
    linear_epochs = traitlets.Int(10).tag(sync=True)
    start_factor = traitlets.Float(0.1).tag(sync=True)
    end_factor = traitlets.Float(1.0).tag(sync=True)
    t_max = traitlets.Int(50).tag(sync=True)
    lr_min = traitlets.Float(0.0).tag(sync=True)
    overlay = traitlets.Bool(True).tag(sync=True)

    def __init__(self, scheduler: str = "LinearLR then CosineAnnealingLR", epochs: int = 60):
        if scheduler not in CHOICES:
            raise ValueError(
                f"LRScheduleExplorer: unknown scheduler {scheduler!r}\n"
                f"help: choose one of {CHOICES}"
            )
        super().__init__(kind=scheduler, epochs=epochs)
        self.add_class("mg-lr-explorer")
        self.menu = ipw.Dropdown(options=CHOICES, description="scheduler", style=STYLE)
        self.menu.layout.width = "430px"  # the longest name, "LinearLR then CosineAnnealingLR"
        self.menu.add_class("mg-scheduler")
        ipw.link((self, "kind"), (self.menu, "value"))
        self.sliders = {name: _control(name) for name in CONTROLS}
        for name, slider in self.sliders.items():
            ipw.link((self, name), (slider, "value"))
        # The epochs also as a number box, to set them exactly.
        self.epochs_box = ipw.BoundedIntText(min=1, max=CONTROLS["epochs"]["max"], description="",
                                             layout=ipw.Layout(width="80px"))  # fmt: skip
        self.epochs_box.add_class("mg-epochs-box")
        ipw.link((self, "epochs"), (self.epochs_box, "value"))
        self.overlay_box = ipw.Checkbox(description="overlay torch")
        ipw.link((self, "overlay"), (self.overlay_box, "value"))
        self.note = ipw.HTML(
            "<i>The value plotted at epoch e is the learning rate used <b>during</b> epoch e "
            "(set before it trains; scheduler.step() runs after it).</i>"
        )
        self.summary = ipw.HTML()
        self.summary.add_class("mg-lr-summary")
        self.message = ipw.HTML()
        self.message.add_class("mg-lr-message")
        self.plot = ipw.HTML()
        self.plot.add_class("mg-lr-plot")
        self.plot.layout.width = "100%"
        rows = [self.menu]
        for name, slider in self.sliders.items():
            rows.append(ipw.HBox([slider, self.epochs_box]) if name == "epochs" else slider)
        controls = ipw.VBox([*rows, self.overlay_box])
        controls.layout.min_width = "430px"
        self.children = [ipw.HBox([controls, self.plot]), self.message, self.note, self.summary]
        self.mark_as_minigrad()
        self.lrs: list[float] = []
        self.torch_lrs: list[float] = []
        self.shown_settings: dict = {}
        self.error = ""
        self.observe(lambda _: self.update(), names=["kind", "overlay", *CONTROLS])
        self.update()

    def settings(self) -> dict:
        """Every setting's current value (the traits), by name."""
        return {name: getattr(self, name) for name in CONTROLS}

    @property
    def epoch_numbers(self) -> list[int]:
        return list(range(len(self.lrs)))

    @property
    def max_difference(self) -> float:
        if not self.torch_lrs:
            return float("nan")
        return float(np.max(np.abs(np.subtract(self.lrs, self.torch_lrs)), initial=0.0))

    def update(self) -> None:
        """Recompute both curves for the current settings (or say why they cannot be)."""
        kind = self.kind
        for name, slider in self.sliders.items():
            wanted = name in ("lr", "epochs") or name in USES[kind]
            slider.layout.display = None if wanted else "none"
        p = self.settings()
        lr, epochs = p.pop("lr"), p.pop("epochs")
        try:
            lrs = minigrad_curve(kind, lr, epochs, **p)
        except (mg.errors.MinigradError, ValueError, TypeError) as error:
            # minigrad refuses this setting: say why, and keep the last good curve.
            self.error = str(error)
            self.message.value = _message("minigrad refuses this setting", self.error,
                                          "the curve is the last valid one")  # fmt: skip
            self.picture_changed()
            return
        self.error = ""
        self.message.value = ""
        torch_lrs = []
        if self.overlay:
            try:
                torch_lrs = torch_curve(kind, lr, epochs, **p)
            except (ValueError, TypeError) as error:  # minigrad's range is wider than torch's
                self.message.value = _message("torch refuses this setting", str(error),
                                              "only minigrad's curve is drawn")  # fmt: skip
        self.lrs, self.torch_lrs = lrs, torch_lrs
        self.shown_settings = {"kind": kind, **self.settings()}
        diff = f", max |minigrad - torch| = {self.max_difference:.3g}" if self.torch_lrs else ""
        self.summary.value = (
            f"{kind}: lr at epoch 0 = {self.lrs[0]:.4g}, at epoch {epochs - 1} = "
            f"{self.lrs[-1]:.4g}{diff}"
        )
        self.plot.value = self.svg()
        self.picture_changed()

    def svg(self, fluid: bool = True) -> str:
        e = self.epoch_numbers
        curves = [Series("minigrad", e, self.lrs, step=True)]
        if self.torch_lrs:
            curves.append(Series("torch", e, self.torch_lrs, dashed=True, step=True))
        title = self.shown_settings.get("kind", self.kind)
        top = line_panel(title, curves, xlabel="", ylabel="lr used during epoch", width=3)
        gaps = []
        if self.torch_lrs:
            difference = np.subtract(self.lrs, self.torch_lrs).tolist()
            gaps.append(Series("difference", e, difference, colour="#c0392b", step=True))
        bottom = line_panel("minigrad - torch", gaps, xlabel="epoch", ylabel="difference",
                            width=1.4)  # fmt: skip
        return chart([top, bottom], width=500, height=400, css="mg-chart", fluid=fluid,
                     vertical=True)  # fmt: skip

    def describe(self) -> str:
        return f"LRScheduleExplorer: {self.summary.value}"

    def to_svg(self) -> str:
        return self.svg(fluid=False)


def _message(title: str, text: str, consequence: str) -> str:
    lines = html.escape(text).replace("\n", "<br>")
    return (
        f'<div style="color:#b00;border-left:3px solid #b00;padding-left:8px">'
        f"<b>{title}</b> ({consequence}):<br>{lines}</div>"
    )
