"""The lessons' plots, read as a learner reads them: whole-number axes, legible numbers.

Each lesson with plots runs in a kernel whose matplotlib keeps its figures
(``MPLBACKEND=agg``: ``plt.show()`` draws nothing and closes nothing); a last
cell describes every figure as plain data (axes, labels, ticks, legends,
texts on heatmaps and the colour under each), and the tests judge that.
The helpers the lessons share (widgets/lesson_plots.py) are checked directly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
from matplotlib.figure import Figure
from nbclient import NotebookClient

from widgets.lesson_plots import contrast, heatmap, integer_ticks, relative_luminance

matplotlib.use("agg")
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WHOLE_NUMBER_AXES = ("layer", "epoch", "step", "hidden unit")

DESCRIBE = r"""
import json as _json
import matplotlib.pyplot as _plt


def _box(artist, renderer):
    b = artist.get_window_extent(renderer)
    return [b.x0, b.y0, b.x1, b.y1]


_figures = []
for _number in _plt.get_fignums():
    _fig = _plt.figure(_number)
    _fig.canvas.draw()
    _r = _fig.canvas.get_renderer()
    _axes = []
    for _ax in _fig.axes:
        _labels = [t for t in (_ax.xaxis.label, _ax.yaxis.label) if t.get_text()]
        _image = _ax.images[0] if _ax.images else None
        _cells = []
        if _image is not None:
            _data = _image.get_array()
            for _t in _ax.texts:
                _col, _row = (int(round(v)) for v in _t.get_position())
                _rgb = _image.cmap(_image.norm(_data[_row, _col]))[:3]
                _cells.append({"text": _t.get_text(), "colour": _t.get_color(), "cell": list(_rgb)})
        _lo, _hi = _ax.get_xlim()
        _axes.append({
            "title": _ax.get_title(), "xlabel": _ax.get_xlabel(), "ylabel": _ax.get_ylabel(),
            "yscale": _ax.get_yscale(), "ylim": list(_ax.get_ylim()),
            "xticks": [float(v) for v in _ax.get_xticks() if _lo <= v <= _hi],
            "lines": [{"label": l.get_label(), "colour": str(l.get_color())} for l in _ax.lines],
            "label_boxes": [_box(t, _r) for t in _labels],
            "image": None if _image is None else list(_image.get_array().shape),
            "cells": _cells,
        })
    _legends = [l for l in [*(a.get_legend() for a in _fig.axes), *_fig.legends] if l]
    _figures.append({"axes": _axes, "legends": [_box(l, _r) for l in _legends],
                     "suptitle": _fig._suptitle.get_text() if _fig._suptitle else ""})
print("FIGURES " + _json.dumps(_figures))
"""


def figures_of(name: str, monkeypatch) -> list[dict]:
    monkeypatch.setenv("MPLBACKEND", "agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(DESCRIBE))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()  # fmt: skip
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    return json.loads(printed.split("FIGURES ", 1)[1])


def overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_common_rules(figures: list[dict]) -> None:
    """What every lesson plot must do: whole-number ticks on counted axes, legends clear of
    labels, and heatmap numbers legible on their cells."""
    for figure in figures:
        for ax in figure["axes"]:
            if any(word in ax["xlabel"] for word in WHOLE_NUMBER_AXES):
                assert ax["xticks"] and all(v == int(v) for v in ax["xticks"]), ax["xlabel"]
            for cell in ax["cells"]:
                text = relative_luminance(matplotlib.colors.to_rgb(cell["colour"]))
                assert contrast(text, relative_luminance(cell["cell"])) >= 4.5, cell
            for legend in figure["legends"]:
                for label in ax["label_boxes"]:
                    assert not overlaps(legend, label), (ax["xlabel"], ax["ylabel"])


@pytest.mark.slow
def test_lesson_3_heatmaps_say_their_values(monkeypatch):
    figures = figures_of("03_tensors", monkeypatch)
    check_common_rules(figures)
    heatmaps = [ax for f in figures for ax in f["axes"] if ax["image"]]
    assert len(heatmaps) == 3
    for ax in heatmaps:
        rows, columns = ax["image"]
        assert len(ax["cells"]) == rows * columns  # every cell has its number


@pytest.mark.slow
def test_lesson_6_the_vanishing_curve_does_not_flatten_the_others(monkeypatch):
    figures = figures_of("06_modules_and_init", monkeypatch)
    check_common_rules(figures)
    (signal,) = [f for f in figures if "20 layers" in f["suptitle"]]
    every, close = signal["axes"]
    assert every["yscale"] == close["yscale"] == "log"
    decades = lambda ax: math.log10(ax["ylim"][1] / ax["ylim"][0])  # noqa: E731
    assert decades(every) > 15 and decades(close) < 5  # the zoom shows the four others
    assert len(close["lines"]) == 4
    # a curve keeps its colour from one panel to the other
    colours = {line["label"]: line["colour"] for line in every["lines"]}
    assert all(colours[line["label"]] == line["colour"] for line in close["lines"])


@pytest.mark.slow
def test_lesson_7_each_optimisers_path_has_its_own_panel(monkeypatch):
    figures = figures_of("07_optimisers", monkeypatch)
    check_common_rules(figures)
    (valley,) = [f for f in figures if "Rosenbrock" in f["suptitle"]]
    names = ["SGD", "momentum", "Nesterov", "Adam", "AdamW"]
    titles = [ax["title"] for ax in valley["axes"]]
    assert titles[:5] == names
    for ax, name in zip(valley["axes"], names):
        coloured = {line["label"] for line in ax["lines"] if line["colour"] != "#bbbbbb"}
        assert name in coloured and not coloured & (set(names) - {name})


@pytest.mark.slow
def test_lesson_9_confusion_matrix_and_lesson_10_legend(monkeypatch):
    figures = figures_of("09_training_an_mlp", monkeypatch)
    check_common_rules(figures)
    (matrix,) = [ax for f in figures for ax in f["axes"] if ax["xlabel"] == "predicted"]
    dark = [c for c in matrix["cells"] if relative_luminance(c["cell"]) < 0.18]
    assert dark and all(c["colour"] == "white" for c in dark)  # the diagonal's darkest cells
    figures = figures_of("10_cnn_and_checkpoints", monkeypatch)
    check_common_rules(figures)
    (curves,) = [f for f in figures if any(ax["ylabel"] == "test accuracy" for ax in f["axes"])]
    assert len(curves["legends"]) == 1  # one legend for both axes, clear of both labels


def test_heatmap_numbers_read_on_every_cell():
    for cmap in ("Blues", "viridis", "magma"):
        fig = Figure()
        ax = fig.add_subplot()
        values = np.linspace(0, 50, 25).reshape(5, 5)
        image = heatmap(ax, values, cmap=cmap, fmt="{:.0f}")
        assert len(ax.texts) == 25
        for text in ax.texts:
            col, row = (int(round(v)) for v in text.get_position())
            cell = relative_luminance(image.cmap(image.norm(values[row, col])))
            shown = relative_luminance(matplotlib.colors.to_rgb(text.get_color()))
            assert contrast(shown, cell) >= 4.5, (cmap, text.get_text())
        assert list(ax.get_xticks()) == [0, 1, 2, 3, 4]
    fig = Figure()
    ax = fig.add_subplot()
    heatmap(ax, np.array([[0, 3], [0, 0]]), skip_zeros=True, fmt="{:.0f}")
    assert [t.get_text() for t in ax.texts] == ["3"]


def test_integer_ticks_on_a_short_axis():
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [0.1, 0.2, 0.3])
    integer_ticks(ax)
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [v for v in ax.get_xticks() if lo <= v <= hi]
    assert shown == [1, 2, 3]
