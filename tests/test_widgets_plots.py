"""LRScheduleExplorer and GradcheckView, headless: state in traits, curves read from the picture.

LR values are torch.optim.lr_scheduler's, computed here; the explorer's
curves are read back from its SVG through the axis ticks. GradcheckView's
panels are read from its matplotlib figure.
"""

from __future__ import annotations

import html
import warnings

import numpy as np
import pytest
import torch

import minigrad as mg
from tests import svg_reading as read
from tests.test_gradcheck import gradcheck_weights
from widgets import GradcheckView, LRScheduleExplorer
from widgets.lr_explorer import CHOICES
from widgets.static import figure_png

PNG = b"\x89PNG"


def torch_lrs(make, lr, epochs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return out


def drawn(explorer) -> dict[str, list[float]]:
    """The curves the explorer draws, read from its picture: one value per epoch, from 0.

    A curve is a staircase (the rate holds during an epoch), so its points come
    in pairs (epoch e, lr) and (epoch e + 1, lr): the first of each pair is read.
    """
    panels = read.panels(explorer.plot.value)
    top, bottom = list(panels.values())
    out = {}
    for name, (xs, ys) in {**read.curves(top), **read.curves(bottom)}.items():
        np.testing.assert_allclose(xs[::2], range(len(xs) // 2), atol=0.02)  # epochs 0, 1, ...
        out[name] = ys[::2]
    return out


def test_lr_explorer_state_is_in_traits_and_the_curve_is_torchs():
    e = LRScheduleExplorer(scheduler="StepLR", epochs=30)
    e.lr, e.step_size, e.gamma = 0.1, 7, 0.5
    # the controls follow the traits
    assert (e.sliders["lr"].value, e.sliders["step_size"].value, e.sliders["gamma"].value) == (
        0.1, 7, 0.5,
    )  # fmt: skip
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5), 0.1, 30)
    np.testing.assert_allclose(e.lrs, expected, rtol=1e-12)
    assert e.max_difference < 1e-12 and e.epoch_numbers == list(range(30))
    curves = drawn(e)
    assert set(curves) == {"minigrad", "torch", "difference"}
    np.testing.assert_allclose(curves["minigrad"], expected, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(curves["torch"], expected, rtol=2e-3, atol=1e-5)
    # epochs are whole numbers on the axis
    for panel in read.panels(e.plot.value).values():
        assert all(v == int(v) for v in read.tick_label_values(panel, "mg-xtick"))
    # a slider drives its trait, and the curve follows
    before = list(e.lrs)
    e.sliders["gamma"].value = 0.25
    assert e.gamma == 0.25 and e.lrs != before
    quarter = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.25), 0.1, 30)
    np.testing.assert_allclose(drawn(e)["minigrad"], quarter, rtol=2e-3, atol=1e-5)
    assert e.sliders["t_max"].layout.display == "none"  # hidden for StepLR
    # the scheduler's kind is a trait the menu is linked to
    e.menu.value = "LinearLR then CosineAnnealingLR"
    assert e.kind == "LinearLR then CosineAnnealingLR"
    assert e.sliders["t_max"].layout.display is None
    s = e.settings()
    warm = lambda o: torch.optim.lr_scheduler.LinearLR(  # noqa: E731
        o, s["start_factor"], s["end_factor"], s["linear_epochs"]
    )

    def chained(o):
        parts = [warm(o), torch.optim.lr_scheduler.CosineAnnealingLR(o, s["t_max"], s["lr_min"])]
        return torch.optim.lr_scheduler.SequentialLR(o, parts, milestones=[s["linear_epochs"]])

    chained_lrs = torch_lrs(chained, s["lr"], 30)
    np.testing.assert_allclose(e.lrs, chained_lrs, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(drawn(e)["minigrad"], chained_lrs, rtol=2e-3, atol=1e-5)
    assert read.title(list(read.panels(e.plot.value).values())[0]) == e.kind
    assert "during" in e.note.value
    assert e.to_svg().startswith("<svg") and "image/svg+xml" in e._repr_mimebundle_()


def test_lr_explorer_shows_every_scheduler_name_in_full():
    e = LRScheduleExplorer()
    assert tuple(e.menu.options) == CHOICES
    longest = max(len(name) for name in CHOICES)
    # the menu's box is wide enough for its longest name (about 8 px per character at
    # the default font, after the description) and the names are not shortened
    width = int(e.menu.layout.width.removesuffix("px"))
    description = int(e.menu.style.description_width.removesuffix("px"))
    assert width - description >= 8 * longest
    assert "LinearLR then CosineAnnealingLR" in CHOICES


def test_lr_explorer_epochs_can_be_typed_exactly():
    e = LRScheduleExplorer(scheduler="CosineAnnealingLR", epochs=60)
    e.epochs_box.value = 137  # a number box, linked to the same trait as the slider
    assert e.epochs == 137 and e.sliders["epochs"].value == 137
    assert len(e.lrs) == 137 and "at epoch 136" in e.summary.value
    e.sliders["epochs"].value = 12
    assert e.epochs_box.value == 12 and len(drawn(e)["minigrad"]) == 12


def minigrad_refusal(make) -> str:
    """minigrad's own message for a setting, asked of minigrad directly."""
    with pytest.raises(mg.errors.MinigradError) as refused:
        make()
    return str(refused.value)


def test_lr_explorer_shows_minigrads_message_and_keeps_the_last_good_curve():
    e = LRScheduleExplorer(scheduler="CosineAnnealingLR", epochs=20)
    e.lr = 0.01
    good, picture, shown = list(e.lrs), e.plot.value, dict(e.shown_settings)
    assert e.error == "" and e.message.value == ""
    e.sliders["lr_min"].value = 0.02  # above the base lr: minigrad refuses it
    expected = minigrad_refusal(lambda: mg.optim.CosineSchedule(50, 0.02).curve(20, base_lr=0.01))
    assert e.lr_min == 0.02 and e.error == expected
    assert "minigrad refuses this setting" in e.message.value
    assert html.escape(expected.splitlines()[0]) in e.message.value  # minigrad's own words
    assert e.lrs == good and e.plot.value == picture and e.shown_settings == shown
    # LinearLR from 0: refused too (torch's range), said in minigrad's words
    e.kind = "LinearLR"  # with the cosine's lr_min gone from view, a good setting again
    assert e.error == "" and e.shown_settings["kind"] == "LinearLR"
    picture = e.plot.value
    e.sliders["start_factor"].value = 0.0
    expected = minigrad_refusal(lambda: mg.optim.LinearSchedule(10, 0.0, 1.0))
    assert e.error == expected and e.plot.value == picture
    e.start_factor = 0.5  # a good setting again: the message goes, the curve is redrawn
    assert e.error == "" and e.message.value == "" and e.plot.value != picture
    assert e.shown_settings["start_factor"] == 0.5 and e.lrs[0] == pytest.approx(0.005)


def test_lr_explorer_says_when_only_torch_refuses(monkeypatch):
    import widgets.lr_explorer as module

    def refuse(*_, **__):
        raise ValueError("Starting multiplicative factor expected to be greater than 0")

    monkeypatch.setattr(module, "torch_curve", refuse)
    e = LRScheduleExplorer(scheduler="LinearLR", epochs=20)
    assert e.error == "" and "torch refuses this setting" in e.message.value
    assert "greater than 0" in e.message.value
    assert e.torch_lrs == [] and len(e.lrs) == 20  # minigrad's curve alone
    assert set(drawn(e)) == {"minigrad"}


def test_gradcheck_view_heatmaps_integer_ticks_and_worst_list():
    class Half(mg.Gate):
        """y = x**2 with a wrong backward (x instead of 2x)."""

        def forward(self, x):
            self.x = x
            return x**2

        def backward(self, grad_output):
            return (grad_output * self.x,)

    x = mg.tensor(torch.randn(3, 4, dtype=torch.float64), requires_grad=True, name="x")
    report = mg.gradcheck(lambda v: Half()(v), x)
    view = GradcheckView(report)
    assert "failed" in view.verdict.value
    worst = report.mismatches[0]
    assert f"{worst.index}" in view.worst.value and view.plot.value[:4] == PNG
    # The panels hold, by the closed form for S = sum(x**2 * r): the tape's x r, the
    # true 2 x r, and their difference |x r|; the worst element is where |x r| is largest.
    r = gradcheck_weights(x.shape)
    assert view.plot.value == figure_png(view.figure())
    figure = view.figure()
    heatmaps = [ax for ax in figure.axes if ax.images]
    panels = {ax.get_title(): ax.images[0].get_array() for ax in heatmaps}
    assert list(panels) == ["x: analytic", "x: numeric", "x: |difference|"]
    np.testing.assert_allclose(panels["x: analytic"], x.value * r, rtol=1e-12)
    np.testing.assert_allclose(panels["x: numeric"], 2 * x.value * r, rtol=0, atol=1e-8)
    np.testing.assert_allclose(panels["x: |difference|"], (x.value * r).abs(), atol=1e-8)
    # rows and columns are element indices: every tick is a whole number
    figure.canvas.draw()
    for ax in heatmaps:
        ticks = [*ax.get_xticks(), *ax.get_yticks()]
        assert ticks and all(float(t) == int(t) for t in ticks), ax.get_title()
    flat = int((x.value * r).abs().argmax())
    assert worst.index == (flat // 4, flat % 4)
    assert f"<td>{2 * float(x.value.flatten()[flat] * r.flatten()[flat]):.6g}</td>" in (
        view.worst.value
    )
    ok = GradcheckView(mg.gradcheck(lambda v: (v * v).sum(), x))
    assert "passed" in ok.verdict.value and "within tolerance" in ok.worst.value
    assert ok.describe() == "GradcheckView: gradcheck passed"
    with pytest.raises(TypeError, match="GradcheckReport"):
        GradcheckView("report")
