"""Live redraws on a time budget, static forms in the display data, and what a saved notebook shows.

The budget is checked on a fake clock. The end-of-cell refresh and the
static forms are checked in a real kernel: a notebook that shows a widget,
then changes it in a later cell, is executed by nbclient and exported by
nbconvert, and the exported page must carry every widget's current picture
(a notebook with no widget state, as a viewer on the web sees it) or, with
the state saved as ``./run lessons`` saves it, the state that draws it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from tests import svg_reading as read
from widgets import GradientFlow, TrainingMonitor
from widgets.budget import TimeBudget
from widgets.live import RedrawBudget, flush_live_widgets, watch_cell_ends

ROOT = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"
STATE = "application/vnd.jupyter.widget-state+json"


class FakeClock:
    """A clock that moves only when told: ``clock.now += seconds``."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_time_budget_keeps_work_to_its_share_and_interval():
    clock = FakeClock()
    budget = TimeBudget(interval=0.25, share=0.1, clock=clock)
    assert budget.due()

    def work(seconds):
        clock.now += seconds

    budget.spend(lambda: work(0.001))  # a fast draw: the interval decides (0.25 s)
    clock.now = 0.2
    assert not budget.due()
    clock.now = 0.251
    assert budget.due()
    budget.spend(lambda: work(0.1))  # a slow draw: 10% of the time means 0.9 s of rest
    clock.now += 0.8
    assert not budget.due()
    clock.now += 0.11
    assert budget.due() and budget.spent == 2
    for bad in ({"interval": -1}, {"share": 0}, {"share": 1.5}):
        with pytest.raises(ValueError, match="help:"):
            TimeBudget(**bad)


def test_redraw_budget_draws_a_few_times_a_second_and_always_the_last_change():
    clock = FakeClock()
    drawn = []
    budget = RedrawBudget(lambda: drawn.append(clock.now), interval=0.25, clock=clock)
    for _ in range(100):  # 100 changes in one second
        budget.changed()
        clock.now += 0.01
    # the first change waits too: 3 draws, each 0.25 s apart
    assert drawn == pytest.approx([0.25, 0.5, 0.75])
    assert budget.pending  # the changes after the last draw are waiting ...
    budget.flush()  # ... and the end of the cell (or of training) draws them
    assert len(drawn) == 4 and not budget.pending
    budget.flush()  # nothing new: nothing drawn
    assert len(drawn) == 4
    budget.changed(done=True)  # the last change of training is drawn at once
    assert len(drawn) == 5
    every = RedrawBudget(lambda: drawn.append("every"), interval=0, every=3, clock=clock)
    for _ in range(7):
        every.changed()
    assert drawn.count("every") == 2 and every.changes == 7
    with pytest.raises(ValueError, match="every"):
        RedrawBudget(lambda: None, every=0)


def test_flush_at_the_end_of_a_cell_draws_what_is_pending(monkeypatch):
    monitor = TrainingMonitor(interval=3600)  # nothing is drawn on time in this test
    monitor.log(loss=2.0)
    monitor.log(loss=1.0)
    monitor.log(loss=0.5)
    assert monitor.summary.value == "no points logged yet" and monitor.budget.pending
    flush_live_widgets()  # what IPython runs after each cell
    assert monitor.summary.value == "step 3: loss 0.5"
    ys = read.curves(read.panels(monitor.plot.value)["loss"], log_y=True)["loss"][1]
    assert ys == pytest.approx([2.0, 1.0, 0.5], rel=2e-3)


def test_cell_end_hook_is_registered_once_per_shell(monkeypatch):
    class Events:
        def __init__(self):
            self.callbacks = {"post_execute": []}

        def register(self, name, fn):
            self.callbacks[name].append(fn)

    shell = type("Shell", (), {"events": Events()})()
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    watch_cell_ends()
    watch_cell_ends()
    assert shell.events.callbacks["post_execute"] == [flush_live_widgets]


def test_display_data_carries_the_widget_and_its_current_picture(monkeypatch):
    shown, updated = [], []

    def keep(into):
        return lambda data, raw, display_id: into.append((data, display_id))

    monkeypatch.setattr("IPython.display.display", keep(shown))
    monkeypatch.setattr("IPython.display.update_display", keep(updated))
    monitor = TrainingMonitor(interval=3600)
    monitor._ipython_display_()
    (bundle, display_id), = shown  # fmt: skip
    assert set(bundle) == {VIEW, "image/svg+xml", "text/plain"}
    assert bundle[VIEW]["model_id"] == monitor.model_id
    assert bundle["text/plain"] == "no points logged yet"
    assert read.panels(bundle["image/svg+xml"])  # an SVG chart, fixed size for an image
    assert 'width="330" height="250"' in bundle["image/svg+xml"]  # one empty panel
    monitor.log(loss=1.0)
    monitor.log(loss=0.25)
    flush_live_widgets()  # the cell ends: the picture in the display data is brought up to date
    (data, same_id), = updated  # fmt: skip
    assert same_id == display_id and data["text/plain"] == "step 2: loss 0.25"
    ys = read.curves(read.panels(data["image/svg+xml"])["loss"], log_y=True)["loss"][1]
    assert ys == pytest.approx([1.0, 0.25], rel=2e-3)
    flush_live_widgets()  # unchanged since: not sent again
    assert len(updated) == 1


def test_a_widget_whose_picture_fails_still_shows_itself(monkeypatch):
    flow = GradientFlow()
    monkeypatch.setattr(flow, "to_svg", lambda: 1 / 0)
    bundle = flow._repr_mimebundle_()
    assert VIEW in bundle and "no static form: division by zero" in bundle["text/plain"]


SHOW_THEN_TRAIN = [
    # the widgets are shown first, as a learner watching training would ...
    "import torch, minigrad as mg, widgets\n"
    "torch.manual_seed(0)\n"
    "model = mg.nn.Sequential(mg.nn.Linear(4, 8), mg.nn.ReLU(), mg.nn.Linear(8, 3))\n"
    "flow, monitor = widgets.GradientFlow(model), widgets.TrainingMonitor()\n"
    "display(flow, monitor)",
    # ... and change in the next cell
    "opt = mg.optim.SGD(model.parameters(), lr=0.1)\n"
    "g = torch.Generator().manual_seed(1)\n"
    "for step in range(1, 31):\n"
    "    x = torch.randn(16, 4, generator=g); y = (x[:, 0] > 0).long()\n"
    "    loss = mg.cross_entropy(model(mg.tensor(x)), y)\n"
    "    opt.zero_grad(); loss.backward(); opt.step()\n"
    "    flow.record(); monitor.log(step, loss=loss.item())\n"
    "print('last loss', round(loss.item(), 6))",
    "ctx = mg.Context(keep_outputs=True)\n"
    "a = ctx.variable(torch.tensor([1.0, 2.0]), requires_grad=True, name='a')\n"
    "viewer = widgets.TapeViewer((a * a).sum())\n"
    "viewer",
    "widgets.LRScheduleExplorer(epochs=20)",
    "widgets.GradcheckView(mg.gradcheck(lambda v: (v * v).tanh(), "
    "mg.tensor(torch.randn(2, 3, dtype=torch.float64), requires_grad=True, name='v')))",
]


def run_notebook(store_widget_state: bool) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in SHOW_THEN_TRAIN]
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=store_widget_state,
                   resources={"metadata": {"path": str(ROOT)}}).execute()  # fmt: skip
    return nb


@pytest.fixture(scope="module")
def stateless():
    return run_notebook(store_widget_state=False)


def test_an_exported_notebook_shows_every_widget_as_its_current_picture(stateless):
    outputs = [o for cell in stateless.cells for o in cell.outputs if o.output_type != "stream"]
    pictures = [o for o in outputs if VIEW in o.get("data", {})]
    assert len(pictures) == 5  # GradientFlow, TrainingMonitor, TapeViewer, explorer, gradcheck
    for output in pictures:
        assert {"image/svg+xml", "image/png"} & set(output.data), output.data["text/plain"]
    # The monitor was shown before training: its picture was brought up to date when the
    # training cell ended, so the saved picture ends at step 30 with the last loss printed.
    flow_out, monitor_out = pictures[:2]
    printed = float(re.search(r"last loss (\S+)", stateless.cells[1].outputs[0].text).group(1))
    assert monitor_out.data["text/plain"].startswith("step 30: loss")
    xs, ys = read.curves(read.panels(monitor_out.data["image/svg+xml"])["loss"], log_y=True)["loss"]
    assert round(xs[-1]) == 30 and ys[-1] == pytest.approx(printed, rel=3e-3)
    bars = list(read.panels(flow_out.data["image/svg+xml"]).values())[0]
    assert read.title(bars) == "mean |g|, step 30"
    # nbconvert, with no widget state in the notebook (a viewer on the web), shows the
    # pictures: an <img> for each widget, and no widget placeholder.
    html, _ = HTMLExporter().from_notebook_node(stateless)
    assert VIEW not in html
    svg_images = html.count('src="data:image/svg+xml') + html.count("<svg")
    png_images = html.count('src="data:image/png')
    assert svg_images >= 4 and png_images >= 1  # 4 SVG widgets, the gradcheck PNG


def test_with_the_state_saved_the_export_draws_the_widgets_from_it():
    nb = run_notebook(store_widget_state=True)
    state = nb.metadata["widgets"][STATE]["state"]
    views = [
        o.data[VIEW]["model_id"] for c in nb.cells for o in c.outputs if VIEW in o.get("data", {})
    ]
    assert len(views) == 5 and all(model_id in state for model_id in views)
    # the monitor's plot is an HTML widget in that state, holding the picture of step 30
    plots = [m["state"]["value"] for m in state.values()
             if "mg-monitor-plot" in m["state"].get("_dom_classes", [])]  # fmt: skip
    assert len(plots) == 1
    xs, _ = read.curves(read.panels(plots[0])["loss"], log_y=True)["loss"]
    assert round(xs[-1]) == 30
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert html.count(f'<script type="{VIEW}"') == 5 and STATE in html


def test_lessons_are_served_with_the_setting_that_saves_widget_state():
    run = (ROOT / "run").read_text()
    job = run[run.index("  lessons)") : run.index(";;", run.index("  lessons)"))]
    assert '--LabApp.app_settings_dir="$PWD/lab-settings"' in job
    overrides = json.loads((ROOT / "lab-settings" / "overrides.json").read_text())
    assert overrides["@jupyter-widgets/jupyterlab-manager:plugin"] == {"saveState": True}


def test_a_closed_widget_is_not_refreshed(monkeypatch):
    updated = []
    monkeypatch.setattr("IPython.display.update_display",
                        lambda data, raw, display_id: updated.append(display_id))  # fmt: skip
    kept, closed = GradientFlow(), GradientFlow()
    for flow, name in ((kept, "kept"), (closed, "closed")):
        flow._display_id = name
        flow.picture_changed()
    closed.close()
    flush_live_widgets()
    assert updated == ["kept"]
