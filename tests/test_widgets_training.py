"""GradientFlow, TrainingMonitor, LRScheduleExplorer and GradcheckView, headless.

Statistics and LR curves are checked against torch (torch.autograd gradients,
torch.optim.lr_scheduler values computed here, not by the widget), and each
picture is read back from its matplotlib figure: the plotted points, labels,
titles and step, so that "an image was produced" is never the whole check.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import minigrad as mg
from minigrad.stats import gradient_flags, gradient_stats
from tests.test_gradcheck import gradcheck_weights
from widgets import GradcheckView, GradientFlow, LRScheduleExplorer, TrainingMonitor
from widgets.static import figure_png

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


def torch_stats(grad: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> dict:
    """One parameter's statistics for one step, computed here with torch from its definition."""
    g = grad.detach().double()
    old, new = before.detach().double(), after.detach().double()
    ratio = math.nan if float(old.norm()) == 0 else float((new - old).norm() / old.norm())
    return {"mean_abs": float(g.abs().mean()), "max_abs": float(g.abs().max()),
            "norm": float(g.norm()), "update_ratio": ratio}  # fmt: skip


def train(model, flow, steps, lr=0.1, torch_net=None, seed=1):
    """SGD steps on random batches; with ``torch_net``, the same steps in torch, in lock step.

    Returns, per step, torch's statistics of ``torch_net`` (one dict per parameter).
    """
    g = torch.Generator().manual_seed(seed)
    opt = mg.optim.SGD(model.parameters(), lr=lr)
    topt = torch.optim.SGD(torch_net.parameters(), lr=lr) if torch_net else None
    expected = []
    for _ in range(steps):
        x = torch.randn(8, 4, generator=g)
        target = torch.randint(0, 3, (8,), generator=g)
        model.zero_grad()
        loss = mg.cross_entropy(model(mg.tensor(x)), target)
        loss.backward()
        opt.step()
        flow.record(model)
        if topt:
            before = [p.detach().clone() for p in torch_net.parameters()]
            topt.zero_grad()
            torch.nn.functional.cross_entropy(torch_net(x), target).backward()
            topt.step()
            expected.append(
                [torch_stats(p.grad, b, p) for p, b in zip(torch_net.parameters(), before)]
            )
    return expected


def torch_matrix(expected: list, statistic: str) -> np.ndarray:
    """Steps by parameters, from :func:`train`'s torch statistics."""
    return np.array([[row[statistic] for row in step] for step in expected])


def bars_of(figure):
    """What a bar chart shows: its title, the bar heights and the labels under them."""
    ax = figure.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    return ax.get_title(), heights, [label.get_text() for label in ax.get_xticklabels()]


def test_gradient_flow_rows_per_step_match_torch():
    model = make_model()
    net = torch_twin(model)
    before = [p.detach().clone() for p in net.parameters()]
    flow = GradientFlow(model)
    first_png = flow.bars.value
    expected = train(model, flow, 1, torch_net=net)
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
    expected += train(model, flow, 2, torch_net=net, seed=2)
    assert len(flow.history) == 3 and flow.matrix().shape == (3, 4)
    assert np.all(np.isfinite(flow.matrix("update_ratio")[1:]))
    # Every statistic of every step is torch's, the update ratios from step 1 on
    # (NaN only where torch's is: a bias that was all zeros before step 1).
    for statistic in ("mean_abs", "max_abs", "norm", "update_ratio"):
        np.testing.assert_allclose(
            flow.matrix(statistic), torch_matrix(expected, statistic), rtol=1e-4, equal_nan=True,
            err_msg=statistic,
        )  # fmt: skip
    flow.statistic.value = "norm"
    np.testing.assert_allclose(flow.matrix(), torch_matrix(expected, "norm"), rtol=1e-4)
    # The pictures show that data: bars of the last step, labelled, and the heatmap.
    assert flow.bars.value == figure_png(flow.bar_figure())
    title, heights, labels = bars_of(flow.bar_figure())
    assert title == "norm ||g||, step 3"
    assert labels == flow.names == [name for name, _ in net.named_parameters()]
    np.testing.assert_allclose(heights, torch_matrix(expected, "norm")[-1], rtol=1e-4)
    assert flow.heatmap.value == figure_png(flow.heatmap_figure())
    heatmap = flow.heatmap_figure().axes[0]
    shown = heatmap.images[0].get_array()  # parameters by steps
    np.testing.assert_allclose(shown, torch_matrix(expected, "norm").T, rtol=1e-4)
    assert [label.get_text() for label in heatmap.get_yticklabels()] == flow.names
    assert heatmap.get_xlabel() == "step"
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


class Steps(mg.training.Callback):
    """What the trainer did, kept by hand: the weights before and after each batch, the grads."""

    def __init__(self):
        self.weights, self.grads, self.losses = [], [], []

    def on_train_begin(self, trainer):
        self.weights.append(self._copy(trainer.model, "value"))  # before the first batch

    def on_batch_end(self, trainer, batch, loss):
        self.losses.append(loss)
        self.grads.append(self._copy(trainer.model, "grad"))
        self.weights.append(self._copy(trainer.model, "value"))

    @staticmethod
    def _copy(model, what):
        return {name: getattr(p, what).clone() for name, p in model.named_parameters()}

    def expected_matrix(self, statistic: str) -> np.ndarray:
        """Steps by parameters, each statistic computed here with torch (see torch_stats)."""
        rows = []
        for step, grads in enumerate(self.grads):
            before, after = self.weights[step], self.weights[step + 1]
            rows.append([torch_stats(g, before[n], after[n])[statistic] for n, g in grads.items()])
        return np.array(rows)


def twin_with(weights: dict) -> torch.nn.Sequential:
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(weights[name])
    return net


def tiny_task():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 4, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y, mg.data.DataLoader((x, y), batch_size=10)


def test_gradient_flow_and_monitor_follow_the_trainer_batch_by_batch():
    model = make_model()
    x, y, loader = tiny_task()
    optimizer = mg.optim.SGD(model, lr=0.1)
    flow, monitor, steps = GradientFlow(every=3), TrainingMonitor(), Steps()
    trainer = mg.Trainer(
        model, optimizer, callbacks=[flow, monitor, steps], progress=False, verbose=False
    )
    trainer.fit(loader, loader, epochs=2)
    assert len(flow.history) == len(steps.grads) == 8  # 4 batches, 2 epochs
    # Every row is torch's, from the first step: the first snapshot was taken when
    # training started (the flow was given no model), so step 1 has update ratios too.
    for statistic in ("mean_abs", "max_abs", "norm", "update_ratio"):
        np.testing.assert_allclose(flow.matrix(statistic), steps.expected_matrix(statistic),
                                   rtol=1e-9, equal_nan=True, err_msg=statistic)  # fmt: skip
    assert [math.isnan(v) for v in flow.matrix("update_ratio")[0]] == [False, True, False, True]
    assert not np.isnan(flow.matrix("update_ratio")[1:]).any()  # biases moved off zero

    # The monitor: batch losses at steps 1..8, each torch's loss of the weights before it.
    batch_losses = []
    for step in range(8):
        batch = slice(10 * (step % 4), 10 * (step % 4) + 10)
        with torch.no_grad():
            out = twin_with(steps.weights[step])(x[batch])
        batch_losses.append(torch.nn.functional.cross_entropy(out, y[batch]).item())
    assert monitor.curve("loss") == (list(range(1, 9)), pytest.approx(batch_losses, rel=1e-6))
    assert monitor.curve("loss")[1] == steps.losses  # exactly what the trainer reported
    assert monitor.curve("lr") == (list(range(1, 9)), pytest.approx([0.1] * 8))
    # One point per epoch, at its last batch: torch's accuracy of the weights at that moment.
    accuracies = []
    for step in (4, 8):
        with torch.no_grad():
            hits = sum(int((twin_with(steps.weights[step])(xb).argmax(1) == yb).sum())
                       for xb, yb in zip(x.split(10), y.split(10)))  # fmt: skip
        accuracies.append(hits / 40)
    assert monitor.curve("val_accuracy") == ([4, 8], accuracies)
    assert monitor.summary.value.startswith("step 8: ")


def test_gradient_flow_takes_its_first_snapshot_when_training_starts():
    model = make_model()
    flow = GradientFlow(model)  # a snapshot now ...
    with torch.no_grad():  # ... of weights that change before training starts
        for p in model.parameters():
            p.value.add_(0.5)
    x, y, loader = tiny_task()
    steps = Steps()
    trainer = mg.Trainer(model, mg.optim.SGD(model, lr=0.1), callbacks=[flow, steps],
                         progress=False, verbose=False)  # fmt: skip
    trainer.fit(loader, epochs=1)
    trainer.fit(loader, epochs=1)  # a second fit starts from where the first stopped
    steps.weights.pop(5)  # the second fit's start: the same weights as the first's end
    expected = steps.expected_matrix("update_ratio")
    assert not np.isnan(expected).any()  # the biases are 0.5 now: every ratio is defined
    np.testing.assert_allclose(flow.matrix("update_ratio"), expected, rtol=1e-9)


def test_training_monitor_curves_and_callbacks():
    mon = TrainingMonitor()
    png = mon.plot.value
    for step in range(4):
        mon.log(loss=1.0 / (step + 1), accuracy=0.2 * step, lr=torch.tensor(0.1))
    assert mon.curve("loss") == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])
    assert mon.plot.value != png and mon.plot.value[:4] == PNG
    assert "loss" in mon._panels() and mon.to_png()[:4] == PNG
    # The picture is the figure, and the figure holds the logged points, one panel each.
    assert mon.plot.value == figure_png(mon.figure())
    assert curves_of(mon.figure()) == {
        "loss": {"loss": ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])},
        "accuracy": {"accuracy": ([1, 2, 3, 4], [0.0, 0.2, 0.4, 0.2 * 3])},
        "lr": {"lr": ([1, 2, 3, 4], [float(torch.tensor(0.1))] * 4)},  # a float32 tensor
    }
    assert mon.summary.value == "step 4: loss 0.25, accuracy 0.6, lr 0.1"
    with pytest.raises(TypeError, match="number"):
        mon.log(loss="high")


def curves_of(figure) -> dict:
    """Each panel's curves, as {panel title: {line label: (steps, values)}}, read from the axes."""
    panels = {}
    for ax in figure.axes:
        assert ax.get_xlabel() == "step"
        panels[ax.get_title()] = {
            line.get_label(): (
                [int(v) for v in line.get_xdata()],
                [float(v) for v in line.get_ydata()],
            )
            for line in ax.lines
        }
    return panels


def test_training_monitor_steps_an_explicit_step_and_counts_on_from_it():
    mon = TrainingMonitor()
    mon.log(loss=2.0)
    mon.log(step=10, loss=1.0, val_loss=1.5)
    mon.log(loss=0.5)  # one more than the last step given
    mon.log(step=20, val_loss=0.75)
    assert mon.curve("loss") == ([1, 10, 11], [2.0, 1.0, 0.5])
    assert mon.curve("val_loss") == ([10, 20], [1.5, 0.75])
    assert mon.step == 20 and mon.summary.value.startswith("step 20: ")
    assert curves_of(mon.figure()) == {
        "loss": {"loss": ([1, 10, 11], [2.0, 1.0, 0.5]), "val_loss": ([10, 20], [1.5, 0.75])}
    }
    assert mon.plot.value == figure_png(mon.figure())


def test_training_monitor_without_batches_has_one_step_per_epoch():
    model = make_model()
    x, y, loader = tiny_task()
    monitor, steps = TrainingMonitor(log_batches=False), Steps()
    trainer = mg.Trainer(model, mg.optim.SGD(model, lr=0.1), callbacks=[monitor, steps],
                         progress=False, verbose=False)  # fmt: skip
    trainer.fit(loader, loader, epochs=3)
    trainer.fit(loader, loader, epochs=1)  # a second fit goes on counting epochs
    # Epoch e's figures are at step e + 1; each is torch's, computed from the weights.
    epoch_end = [steps.weights[4], steps.weights[8], steps.weights[12], steps.weights[17]]
    accuracies, losses = [], []
    for weights in epoch_end:
        with torch.no_grad():
            out = twin_with(weights)(x)
        accuracies.append(int((out.argmax(1) == y).sum()) / 40)
        losses.append(torch.nn.functional.cross_entropy(out, y).item())
    assert monitor.curve("val_accuracy") == ([1, 2, 3, 4], accuracies)
    assert monitor.curve("val_loss") == ([1, 2, 3, 4], pytest.approx(losses, rel=1e-6))
    epoch_loss = [sum(steps.losses[4 * e : 4 * e + 4]) / 4 for e in range(4)]  # equal batches
    assert monitor.curve("loss") == ([1, 2, 3, 4], pytest.approx(epoch_loss, rel=1e-12))
    assert monitor.curve("lr") == ([1, 2, 3, 4], [0.1] * 4)
    assert set(monitor.history) == {"loss", "lr", "accuracy", "val_accuracy", "val_loss"}
    assert curves_of(monitor.figure())["accuracy"]["val_accuracy"] == ([1, 2, 3, 4], accuracies)
    assert monitor.summary.value.startswith("step 4: ")


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
    lines = lr_lines(e)
    assert set(lines) == {"minigrad", "torch", "difference"}
    np.testing.assert_allclose(lines["minigrad"], expected, rtol=1e-12)
    np.testing.assert_allclose(lines["torch"], expected, rtol=1e-15)
    assert max(abs(d) for d in lines["difference"]) < 1e-12
    before = list(e.lrs)
    png = e.plot.value
    e.sliders["gamma"].value = 0.25
    assert e.lrs != before and e.plot.value != png
    # the new curve, drawn: torch's StepLR with the new gamma, and nothing between them
    quarter = torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.25), 0.1, 30)
    lines = lr_lines(e)
    np.testing.assert_allclose(lines["minigrad"], quarter, rtol=1e-12)
    assert lines["torch"] == pytest.approx(quarter, rel=1e-15)
    assert max(abs(d) for d in lines["difference"]) < 1e-12
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

    chained_lrs = torch_lrs(chained, s["lr"], 30)
    np.testing.assert_allclose(e.lrs, chained_lrs, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(lr_lines(e)["minigrad"], chained_lrs, rtol=1e-9, atol=1e-15)
    assert e.figure().axes[0].get_title() == "LinearLR then CosineAnnealingLR"
    assert "during" in e.note.value
    assert e.to_png()[:4] == PNG


def lr_lines(explorer) -> dict:
    """The curves the explorer draws, read from its figure (which its image shows)."""
    assert explorer.plot.value == figure_png(explorer.figure())
    top, bottom = explorer.figure().axes
    assert top.get_ylabel() == "lr used during epoch" and bottom.get_xlabel() == "epoch"
    lines = {line.get_label(): line for line in top.lines if not line.get_label().startswith("_")}
    for line in [*lines.values(), *bottom.lines]:  # one point per epoch, from epoch 0
        assert list(line.get_xdata()) == list(range(len(explorer.lrs)))
    lines["difference"] = bottom.lines[0]
    return {name: [float(v) for v in line.get_ydata()] for name, line in lines.items()}


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
    # The panels hold, by the closed form for S = sum(x**2 * r): the tape's x r, the
    # true 2 x r, and their difference |x r|; the worst element is where |x r| is largest.
    r = gradcheck_weights(x.shape)
    assert view.plot.value == figure_png(view.figure())
    panels = {ax.get_title(): ax.images[0].get_array() for ax in view.figure().axes if ax.images}
    assert list(panels) == ["x: analytic", "x: numeric", "x: |difference|"]
    np.testing.assert_allclose(panels["x: analytic"], x.value * r, rtol=1e-12)
    np.testing.assert_allclose(panels["x: numeric"], 2 * x.value * r, rtol=0, atol=1e-8)
    np.testing.assert_allclose(panels["x: |difference|"], (x.value * r).abs(), atol=1e-8)
    flat = int((x.value * r).abs().argmax())
    assert worst.index == (flat // 4, flat % 4)
    assert f"<td>{2 * float(x.value.flatten()[flat] * r.flatten()[flat]):.6g}</td>" in (
        view.worst.value
    )
    ok = GradcheckView(mg.gradcheck(lambda v: (v * v).sum(), x))
    assert "passed" in ok.verdict.value and "within tolerance" in ok.worst.value
    with pytest.raises(TypeError, match="GradcheckReport"):
        GradcheckView("report")
