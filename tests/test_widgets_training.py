"""GradientFlow, TrainingMonitor, LRScheduleExplorer and GradcheckView, headless.

Statistics and LR curves are checked against torch (torch.autograd gradients,
torch.optim.lr_scheduler values computed here, not by the widget).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import minigrad as mg
from minigrad.stats import gradient_flags, gradient_stats
from widgets import GradcheckView, GradientFlow, LRScheduleExplorer, TrainingMonitor

PNG = b"\x89PNG"


def make_model():
    torch.manual_seed(0)
    return mg.nn.Sequential(mg.nn.Linear(4, 6), mg.nn.ReLU(), mg.nn.Linear(6, 3))


def torch_twin(model):
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for (_, p), (_, q) in zip(model.named_parameters(), net.named_parameters()):
            q.copy_(p.value)
    return net


def train(model, flow, steps, lr=0.1, torch_net=None):
    g = torch.Generator().manual_seed(1)
    opt = mg.optim.SGD(model.parameters(), lr=lr)
    topt = torch.optim.SGD(torch_net.parameters(), lr=lr) if torch_net else None
    for _ in range(steps):
        x = torch.randn(8, 4, generator=g)
        target = torch.randint(0, 3, (8,), generator=g)
        model.zero_grad()
        loss = mg.cross_entropy(model(mg.tensor(x)), target)
        loss.backward()
        opt.step()
        flow.record(model)
        if topt:
            topt.zero_grad()
            torch.nn.functional.cross_entropy(torch_net(x), target).backward()
            topt.step()


def test_gradient_flow_rows_per_step_match_torch():
    model = make_model()
    net = torch_twin(model)
    before = [p.detach().clone() for p in net.parameters()]
    flow = GradientFlow(model)
    first_png = flow.bars.value
    train(model, flow, 1, torch_net=net)
    assert len(flow.history) == 1
    assert flow.names == ["0.weight", "0.bias", "2.weight", "2.bias"]  # biases included
    for row, (name, p), old in zip(flow.history[0], net.named_parameters(), before):
        assert row["name"] == name
        g = p.grad.double()
        assert row["mean_abs"] == pytest.approx(float(g.abs().mean()), rel=1e-5)
        assert row["max_abs"] == pytest.approx(float(g.abs().max()), rel=1e-5)
        assert row["norm"] == pytest.approx(float(g.norm()), rel=1e-5)
        if float(old.norm()) == 0.0:  # a zero-initialised bias: the ratio is undefined
            assert math.isnan(row["update_ratio"])
        else:
            ratio = float((p.detach() - old).norm() / old.norm())
            assert row["update_ratio"] == pytest.approx(ratio, rel=1e-4)
    assert flow.bars.value[:4] == PNG and flow.bars.value != first_png
    train(model, flow, 2)
    assert len(flow.history) == 3 and flow.matrix().shape == (3, 4)
    assert np.all(np.isfinite(flow.matrix("update_ratio")[1:]))
    flow.statistic.value = "norm"
    assert flow.matrix().tolist() == [[r["norm"] for r in rows] for rows in flow.history]
    assert flow.to_png()[:4] == PNG
    assert "image/png" in flow._repr_mimebundle_()


def test_gradient_flow_flags_missing_vanishing_exploding():
    a = mg.tensor(torch.ones(3), requires_grad=True, name="a")
    b = mg.tensor(torch.ones(3), requires_grad=True, name="b")
    c = mg.tensor(torch.ones(3), requires_grad=True, name="c")
    d = mg.tensor(torch.ones(3), requires_grad=True, name="d")
    b.grad = torch.full((3,), 1e-12)
    c.grad = torch.full((3,), 1e6)
    d.grad = torch.full((3,), 0.01)
    flow = GradientFlow()
    flow.record([a, b, c, d])  # a plain list of parameters works too
    assert flow.flags == {"a": ["missing"], "b": ["vanishing"], "c": ["exploding"]}
    assert "exploding" in flow.flags_html.value and "missing" in flow.flags_html.value
    assert gradient_flags(gradient_stats({"n": c})[0]) == ["exploding"]
    c.grad = torch.tensor([1.0, math.nan, 0.0])
    assert gradient_flags(gradient_stats({"c": c})[0]) == ["exploding"]


def test_gradient_flow_errors():
    with pytest.raises(TypeError, match="record"):
        GradientFlow().record()
    with pytest.raises(ValueError, match="statistic"):
        GradientFlow(statistic="median")


def test_gradient_flow_and_monitor_follow_the_trainer_batch_by_batch():
    model = make_model()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    loader = mg.data.DataLoader((x, y), batch_size=10)
    optimizer = mg.optim.SGD(model, lr=0.1)
    flow, monitor = GradientFlow(every=3), TrainingMonitor()
    seen = []

    class Steps(mg.training.Callback):  # what the trainer saw, to compare with the widgets
        def on_batch_end(self, trainer, batch, loss):
            seen.append((loss, {n: p.grad.clone() for n, p in trainer.model.named_parameters()}))

    trainer = mg.Trainer(
        model, optimizer, callbacks=[flow, monitor, Steps()], progress=False, verbose=False
    )
    trainer.fit(loader, loader, epochs=2)
    assert len(flow.history) == len(seen) == 8  # 4 batches, 2 epochs
    last_rows = {row["name"]: row for row in flow.history[-1]}
    for name, grad in seen[-1][1].items():
        assert last_rows[name]["mean_abs"] == pytest.approx(float(grad.abs().mean()))
        assert not math.isnan(last_rows[name]["update_ratio"]) or "bias" in name
    steps, losses = monitor.curve("loss")
    assert losses == pytest.approx([loss for loss, _ in seen])
    assert monitor.curve("lr")[1] == pytest.approx([0.1] * 8)
    assert monitor.curve("val_accuracy")[0] == [4, 8]  # one point per epoch, at its last batch
    assert monitor.curve("val_accuracy")[1] == pytest.approx(
        [record["test_accuracy"] for record in trainer.history]
    )


def test_training_monitor_curves_and_callbacks():
    mon = TrainingMonitor()
    png = mon.plot.value
    for step in range(4):
        mon.log(loss=1.0 / (step + 1), accuracy=0.2 * step, lr=torch.tensor(0.1))
    assert mon.curve("loss") == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])
    assert mon.plot.value != png and mon.plot.value[:4] == PNG
    assert "loss" in mon._panels() and mon.to_png()[:4] == PNG
    with pytest.raises(TypeError, match="number"):
        mon.log(loss="high")


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


def test_lr_explorer_sliders_change_the_curve_and_match_torch():
    e = LRScheduleExplorer(scheduler="StepLR", epochs=30)
    e.sliders["lr"].value = 0.1
    e.sliders["step_size"].value = 7
    e.sliders["gamma"].value = 0.5
    expected = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5), 0.1, 30)
    np.testing.assert_allclose(e.lrs, expected, rtol=1e-12)
    assert e.max_difference < 1e-12 and len(e.epochs) == 30
    before = list(e.lrs)
    png = e.plot.value
    e.sliders["gamma"].value = 0.25
    assert e.lrs != before and e.plot.value != png
    assert e.sliders["t_max"].layout.display == "none"  # hidden for StepLR
    e.kind.value = "LinearLR then CosineAnnealingLR"
    assert e.sliders["t_max"].layout.display is None
    s = e.settings()
    warm = lambda o: torch.optim.lr_scheduler.LinearLR(  # noqa: E731
        o, s["start_factor"], s["end_factor"], s["linear_epochs"]
    )

    def chained(o):
        parts = [warm(o), torch.optim.lr_scheduler.CosineAnnealingLR(o, s["t_max"], s["lr_min"])]
        return torch.optim.lr_scheduler.SequentialLR(o, parts, milestones=[s["linear_epochs"]])

    np.testing.assert_allclose(e.lrs, torch_lrs(chained, s["lr"], 30), rtol=1e-9, atol=1e-15)
    assert "during" in e.note.value
    assert e.to_png()[:4] == PNG


def test_gradcheck_view_heatmaps_and_worst_list():
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
    ok = GradcheckView(mg.gradcheck(lambda v: (v * v).sum(), x))
    assert "passed" in ok.verdict.value and "within tolerance" in ok.worst.value
    with pytest.raises(TypeError, match="GradcheckReport"):
        GradcheckView("report")
