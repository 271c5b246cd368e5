"""The training recorders and the widgets that view them, headless.

Statistics are checked against torch (torch.autograd gradients and
statistics computed here from their definition, not by minigrad), and each
picture is read back from its SVG (tests/svg_reading.py): the plotted
points through the axis ticks, the bars' heights, the heatmap's pixels
against the colour map, so that "an image was produced" is never the check.
"""

from __future__ import annotations

import math

import ipywidgets as ipw
import numpy as np
import pytest
import torch
from matplotlib import colormaps

import minigrad as mg
from minigrad.stats import gradient_flags, gradient_stats, many_parameter_stats, parameter_stats
from tests import svg_reading as read
from tests.test_widgets_live import FakeClock
from widgets import GradientFlow, GradientHistory, TrainingHistory, TrainingMonitor


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


def every_step(model=None) -> GradientFlow:
    """A GradientFlow whose history computes every step (no time budget)."""
    return GradientFlow(model, history=GradientHistory(model, share=1.0))


def heatmap_colours(matrix: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """What the heatmap should show: viridis of log10(value) between lo and hi, as bytes."""
    unit = (np.log10(matrix) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return (colormaps["viridis"](np.clip(unit, 0, 1)) * 255).round().astype(np.uint8)


def test_gradient_flow_rows_per_step_match_torch_and_its_picture_shows_them():
    model = make_model()
    net = torch_twin(model)
    flow = every_step(model)
    empty = flow.plot.value
    expected = train(model, flow, 1, torch_net=net)
    assert len(flow.history) == 1
    assert flow.names == ["0.weight", "0.bias", "2.weight", "2.bias"]  # biases included
    for statistic in ("mean_abs", "max_abs", "norm"):
        np.testing.assert_allclose(flow.matrix(statistic), torch_matrix(expected, statistic),
                                   rtol=1e-5, err_msg=statistic)  # fmt: skip
    # a zero-initialised bias has no update ratio on step 1 (0 / 0), the weights have one
    ratios = flow.matrix("update_ratio")[0]
    assert [math.isnan(v) for v in ratios] == [False, True, False, True]
    np.testing.assert_allclose(ratios[[0, 2]], torch_matrix(expected, "update_ratio")[0, [0, 2]],
                               rtol=1e-4)  # fmt: skip
    assert flow.plot.value == empty and flow.budget.pending  # drawn a moment later ...
    flow.budget.flush()  # ... or when the cell ends
    assert flow.plot.value != empty
    expected += train(model, flow, 2, torch_net=net, seed=2)
    assert len(flow.history) == 3 and flow.matrix().shape == (3, 4)
    assert flow.history.step_numbers == [1, 2, 3]
    for statistic in ("mean_abs", "max_abs", "norm", "update_ratio"):
        np.testing.assert_allclose(flow.matrix(statistic), torch_matrix(expected, statistic),
                                   rtol=1e-4, equal_nan=True, err_msg=statistic)  # fmt: skip

    # The picture: bars of the last step, labelled, on a log axis ...
    flow.statistic = "norm"
    assert flow.menu.value == "norm"  # the menu follows the trait
    panel = read.panels(flow.plot.value)
    bar_panel, heat_panel = list(panel.values())
    assert read.title(bar_panel) == "norm ||g||, step 3"
    shown = read.bars(bar_panel)
    assert list(shown) == flow.names == [name for name, _ in net.named_parameters()]
    np.testing.assert_allclose(list(shown.values()), torch_matrix(expected, "norm")[-1], rtol=2e-3)
    # ... and the heatmap: one row per parameter, one column per step, viridis on a log scale
    assert read.row_labels(heat_panel) == flow.names
    pixels = read.heatmap(heat_panel)
    data = torch_matrix(expected, "norm").T
    assert pixels.shape[:2] == data.shape
    np.testing.assert_array_equal(pixels, heatmap_colours(data, data.min(), data.max()))
    lo, hi = read.colorbar_range(heat_panel)
    assert data.min() <= lo and hi <= data.max()  # its ticks lie within the data's range
    # The menu drives the trait too, and the picture follows.
    flow.menu.value = "max_abs"
    assert flow.statistic == "max_abs"
    bar_panel = list(read.panels(flow.plot.value).values())[0]
    assert read.title(bar_panel) == "max |g|, step 3"
    np.testing.assert_allclose(list(read.bars(bar_panel).values()),
                               torch_matrix(expected, "max_abs")[-1], rtol=2e-3)  # fmt: skip
    assert flow.to_svg() == flow.svg(fluid=False)
    assert "image/svg+xml" in flow._repr_mimebundle_()


def test_gradient_flow_picture_fits_its_width():
    model = make_model()
    flow = every_step(model)
    train(model, flow, 4)
    svg = flow.plot.value
    assert 'width="100%"' in svg  # the live picture scales to the output's width
    width, height = read.viewbox(svg)
    root = read.parse(svg)
    for t in root.iter(f"{read.SVG}text"):
        x, size = float(t.get("x")), float(t.get("font-size"))
        reach = 0.62 * size * len(t.text or "")  # a generous width for sans-serif text
        anchor = t.get("text-anchor")
        left = x - reach if anchor == "end" else x - reach / 2 if anchor == "middle" else x
        right = x if anchor == "end" else x + reach / 2 if anchor == "middle" else x + reach
        if t.get("transform"):  # turned labels hang below their anchor
            continue
        assert 0 <= left and right <= width, f"text {t.text!r} runs off the picture"
    # the colour bar's numbers, the ones that used to be cut off, are all inside
    heat = list(read.panels(svg).values())[1]
    assert read.texts(heat, "mg-ctick")
    for t in read.texts(heat, "mg-ctick"):
        assert float(t.get("x")) + 0.62 * 10 * len(t.text) <= width


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
    flow.budget.flush()
    assert flow.flags == {"a": ["missing"], "b": ["vanishing"], "c": ["exploding"]}
    assert "exploding" in flow.flags_html.value and "missing" in flow.flags_html.value
    colours = {r.get("data-label"): r.get("fill") for r in read.parse(flow.plot.value).iter(
        f"{read.SVG}rect") if r.get("class") == "mg-bar"}  # fmt: skip
    assert colours == {"b": "#c0392b", "c": "#c0392b", "d": "#2e86c1"}  # a has no bar: no grad
    assert gradient_flags(gradient_stats({"n": c})[0]) == ["exploding"]
    c.grad = torch.tensor([1.0, math.nan, 0.0])
    assert gradient_flags(gradient_stats({"c": c})[0]) == ["exploding"]


def test_gradient_flow_errors():
    with pytest.raises(TypeError, match="record"):
        GradientFlow().record()
    with pytest.raises(ValueError, match="statistic"):
        GradientFlow(statistic="median")
    with pytest.raises(ValueError, match="statistic"):
        GradientHistory().matrix("median")


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

    def expected_matrix(self, statistic: str, steps=None) -> np.ndarray:
        """Steps by parameters, each statistic computed here with torch (see torch_stats)."""
        rows = []
        for step in steps or range(1, len(self.grads) + 1):
            before, after = self.weights[step - 1], self.weights[step]
            grads = self.grads[step - 1]
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
    flow, monitor, steps = every_step(), TrainingMonitor(), Steps()
    trainer = mg.Trainer(
        model, optimizer, callbacks=[flow, monitor, steps], progress=False, verbose=False
    )
    trainer.fit(loader, loader, epochs=2)
    assert len(flow.history) == len(steps.grads) == 8  # 4 batches, 2 epochs
    # Every row is torch's, from the first step: the first snapshot was taken when
    # training started (the flow was given no model), so step 1 has update ratios too.
    for statistic in ("mean_abs", "max_abs", "norm", "update_ratio"):
        np.testing.assert_allclose(flow.matrix(statistic), steps.expected_matrix(statistic),
                                   rtol=1e-5, equal_nan=True, err_msg=statistic)  # fmt: skip
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
    # The end of training drew the last state, whatever the time budget said.
    assert monitor.summary.value.startswith("step 8: ")
    drawn = read.curves(read.panels(monitor.plot.value)["accuracy"])
    np.testing.assert_allclose(drawn["val_accuracy"][1], accuracies, atol=1e-3)
    assert "step 8" in read.title(list(read.panels(flow.plot.value).values())[0])


def test_gradient_flow_takes_its_first_snapshot_when_training_starts():
    model = make_model()
    flow = every_step(model)  # a snapshot now ...
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
    np.testing.assert_allclose(flow.matrix("update_ratio"), expected, rtol=1e-5)


def test_gradient_history_keeps_within_its_time_share_and_always_has_the_last_step():
    # Each statistics pass "takes" 0.01 s and each training step 0.002 s, on a fake
    # clock: with a 10% share, a pass may start 0.09 s after the last one ended.
    clock = FakeClock()
    model = make_model()
    history = GradientHistory(model, share=0.1, clock=clock)
    computed = []
    original = history._compute

    def slow_compute(*args):
        computed.append(args[0])
        clock.now += 0.01
        return original(*args)

    history._compute = slow_compute
    x, y, loader = tiny_task()
    steps = Steps()
    optimizer = mg.optim.SGD(model, lr=0.1)
    steps.weights.append(Steps._copy(model, "value"))
    for _ in range(10):  # 40 steps
        for xb, yb in loader:
            loss = mg.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            steps.grads.append(Steps._copy(model, "grad"))
            steps.weights.append(Steps._copy(model, "value"))
            history.record()
            clock.now += 0.002
    # Step 1 at once; then every 0.09 s / 0.002 s = 45 steps: none of 2..40 was due.
    assert computed == [1]
    optimizer.zero_grad()  # the learner clears the gradients after the loop (.grad = None)
    with torch.no_grad():  # and moves the weights: the copies taken at the time count
        for p in model.parameters():
            p.value.add_(1.0)
    # Reading the history computes the last step, as it was.
    assert history.step_numbers == [1, 40] and computed == [1, 40]
    for statistic in ("mean_abs", "max_abs", "norm", "update_ratio"):
        np.testing.assert_allclose(history.matrix(statistic),
                                   steps.expected_matrix(statistic, [1, 40]), rtol=1e-5,
                                   equal_nan=True, err_msg=statistic)  # fmt: skip
    assert [row["step"] for row in history[-1]] == [40] * 4


def test_a_gradient_changed_in_place_after_its_step_is_not_used():
    model = make_model()
    history = GradientHistory(model, share=1e-9)  # only the first step is computed on time
    x, y, loader = tiny_task()
    optimizer = mg.optim.SGD(model, lr=0.1)
    for xb, yb in loader:
        optimizer.zero_grad()
        mg.cross_entropy(model(xb), yb).backward()
        optimizer.step()
        history.record()
    for p in model.parameters():  # zeroed in place: the last step's gradients are gone
        p.grad.zero_()
    # the last step is not computed from what is there now (zeros would read "vanishing")
    assert history.step_numbers == [1] and not history.flags


def test_gradient_history_spreads_its_passes_in_time():
    clock = FakeClock()
    model = make_model()
    history = GradientHistory(model, share=0.5, clock=clock)
    original = history._compute

    def slow_compute(*args):
        clock.now += 0.004
        return original(*args)

    history._compute = slow_compute
    train_steps = 30
    g = torch.Generator().manual_seed(3)
    optimizer = mg.optim.SGD(model, lr=0.1)
    for _ in range(train_steps):
        loss = mg.cross_entropy(model(mg.tensor(torch.randn(8, 4, generator=g))),
                                torch.randint(0, 3, (8,), generator=g))  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.record()
        clock.now += 0.001
    # a pass of 0.004 s at a 50% share: the next may start 0.004 s after it ended, i.e.
    # 4 steps of 0.001 s later: steps 1, 5, 9, ..., 29, and the last, 30, when read.
    assert history.step_numbers == [*range(1, 30, 4), 30]


def test_recorders_work_in_a_script_with_no_widget(monkeypatch):
    opened = []
    monkeypatch.setattr(ipw.Widget, "open", lambda self: opened.append(self))
    model = make_model()
    x, y, loader = tiny_task()
    gradients, metrics, steps = GradientHistory(share=1.0), TrainingHistory(), Steps()
    trainer = mg.Trainer(model, mg.optim.SGD(model, lr=0.1), callbacks=[gradients, metrics, steps],
                         progress=False, verbose=False)  # fmt: skip
    trainer.fit(loader, loader, epochs=1)
    assert opened == []  # no widget was made
    np.testing.assert_allclose(gradients.matrix("norm"), steps.expected_matrix("norm"), rtol=1e-5)
    assert metrics.curve("loss") == ([1, 2, 3, 4], steps.losses)
    assert set(metrics) == {"loss", "lr", "accuracy", "val_accuracy", "val_loss"}
    assert metrics.latest()["loss"] == steps.losses[-1]
    # A widget made later views the same data.
    flow, monitor = GradientFlow(history=gradients), TrainingMonitor(history=metrics)
    assert opened  # (the check above can see a widget being made)
    assert flow.matrix("norm").shape == (4, 4) and monitor.curve("loss")[1] == steps.losses


def test_training_monitor_curves_read_back_from_its_picture():
    monitor = TrainingMonitor()
    empty = monitor.plot.value
    for step in range(4):
        monitor.log(loss=1.0 / (step + 1), accuracy=0.2 * step, lr=torch.tensor(0.1))
    monitor.budget.flush()
    assert monitor.curve("loss") == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25])
    assert monitor.plot.value != empty
    assert monitor.panels() == ["loss", "accuracy", "lr"]
    panels = read.panels(monitor.plot.value)
    assert list(panels) == ["loss", "accuracy", "lr"]
    for name, log_y, values in (
        ("loss", True, [1.0, 0.5, 1 / 3, 0.25]),
        ("accuracy", False, [0.0, 0.2, 0.4, 0.6]),
        ("lr", True, [float(torch.tensor(0.1))] * 4),  # a float32 tensor
    ):
        drawn = read.curves(panels[name], log_y=log_y)
        assert list(drawn) == [name]
        xs, ys = drawn[name]
        np.testing.assert_allclose(xs, [1, 2, 3, 4], atol=0.01)
        np.testing.assert_allclose(ys, values, rtol=2e-3, atol=1e-3)
        # steps are whole numbers: every x tick is one
        assert all(v == int(v) for v in read.tick_label_values(panels[name], "mg-xtick"))
    assert monitor.summary.value == "step 4: loss 0.25, accuracy 0.6, lr 0.1"
    with pytest.raises(TypeError, match="number"):
        monitor.log(loss="high")


def test_training_monitor_steps_an_explicit_step_and_counts_on_from_it():
    monitor = TrainingMonitor()
    monitor.log(loss=2.0)
    monitor.log(step=10, loss=1.0, val_loss=1.5)
    monitor.log(loss=0.5)  # one more than the last step given
    monitor.log(step=20, val_loss=0.75)
    monitor.budget.flush()
    assert monitor.curve("loss") == ([1, 10, 11], [2.0, 1.0, 0.5])
    assert monitor.curve("val_loss") == ([10, 20], [1.5, 0.75])
    assert monitor.step == 20 and monitor.summary.value.startswith("step 20: ")
    drawn = read.curves(read.panels(monitor.plot.value)["loss"], log_y=True)
    assert set(drawn) == {"loss", "val_loss"}
    np.testing.assert_allclose(drawn["val_loss"][0], [10, 20], atol=0.02)
    np.testing.assert_allclose(drawn["val_loss"][1], [1.5, 0.75], rtol=2e-3)
    legend = [t.text for t in read.texts(read.panels(monitor.plot.value)["loss"], "mg-legend")]
    assert sorted(legend) == ["loss", "val_loss"]


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
    drawn = read.curves(read.panels(monitor.plot.value)["accuracy"])
    np.testing.assert_allclose(drawn["val_accuracy"][1], accuracies, atol=1e-3)
    assert monitor.summary.value.startswith("step 4: ")


def test_many_parameter_stats_is_parameter_stats_for_every_row():
    g = torch.Generator().manual_seed(5)
    shapes = [(6, 4), (6,), (3, 6), (3,)]
    for dtype in (torch.float32, torch.float64):
        values = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
        grads = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
        befores = [v - 0.01 * gr for v, gr in zip(values, grads)]
        befores[1] = torch.zeros(6, dtype=dtype)  # a fresh bias: the ratio is undefined
        names = ["a.weight", "a.bias", "b.weight", "b.bias"]
        fast = many_parameter_stats(names, values, grads, befores)
        one_by_one = [parameter_stats(*row) for row in zip(names, values, grads, befores)]
        for got, want in zip(fast, one_by_one):
            assert got.keys() == want.keys()
            for key, expected in want.items():
                if isinstance(expected, float):
                    assert got[key] == pytest.approx(expected, rel=1e-6, nan_ok=True), key
                else:
                    assert got[key] == expected, key
    # a missing gradient: the readable path, row by row
    rows = many_parameter_stats(["w"], [torch.ones(2)], [None], [torch.ones(2)])
    assert rows[0]["missing"] and math.isnan(rows[0]["mean_abs"])
