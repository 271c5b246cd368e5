"""draw_tape, minigrad.trace and TapeViewer, headless: state after each interaction.

Every gradient a step shows is checked against torch.autograd on the same
computation (intermediate gradients through retain_grad).
"""

from __future__ import annotations

import re

import pytest
import torch

import minigrad as mg
from minigrad.trace import trace
from widgets import TapeViewer, draw_tape, render
from widgets.tape_graph import TapeGraph


def build(seed: int = 0):
    """x -> linear(w, b) -> tanh = h;  loss = sum(h * h + h): h is used three times."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    w = torch.randn(5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    ctx = mg.Context(keep_outputs=True)
    mx = ctx.variable(x, name="x")
    mw = ctx.variable(w, requires_grad=True, name="fc.weight")
    mb = ctx.variable(b, requires_grad=True, name="fc.bias")
    h = mg.linear(mx, mw, mb).tanh()
    loss = (h * h + h).sum()
    # torch oracle
    tw, tb = w.clone().requires_grad_(), b.clone().requires_grad_()
    tz = x @ tw.T + tb
    tz.retain_grad()
    th = torch.tanh(tz)
    th.retain_grad()
    tl = (th * th + th).sum()
    tl.backward()
    return ctx, loss, {"x": x, "z": tz, "h": th, "w": tw, "b": tb, "loss": tl}


def graph_of(source: str) -> tuple[dict, set]:
    """The DOT text read back: {node name: first line of its label} and the edges as labels."""
    labels = {}
    for name, label in re.findall(r'^\s*(\w+) \[label="([^"]*)"', source, re.MULTILINE):
        labels[name] = label.split("|")[0].split("\n")[0]
    edges = re.findall(r"^\s*(\w+) -> (\w+)", source, re.MULTILINE)
    return labels, {(labels[a], labels[b]) for a, b in edges}


# build()'s tape, drawn by hand: each op an ellipse "#i Op" and its output a box "#i";
# h = tanh(linear(x)) is #1, used by Mul twice (one arrow) and by Add once.
CHAIN = {
    ("#1", "#2 Mul"), ("#2 Mul", "#2"), ("#2", "#3 Add"), ("#1", "#3 Add"),
    ("#3 Add", "#3"), ("#3", "#4 Sum"), ("#4 Sum", "#4"), ("#1 Tanh", "#1"),
}  # fmt: skip
FULL_EDGES = CHAIN | {
    ("x", "#0 Linear"), ("fc.weight", "#0 Linear"), ("fc.bias", "#0 Linear"),
    ("#0 Linear", "#0"), ("#0", "#1 Tanh"),
}  # fmt: skip


def test_draw_tape_boxes_ops_colours_and_cluster():
    ctx, loss, t = build()
    g = draw_tape(loss)
    assert isinstance(g, TapeGraph)
    src = g.source
    # 5 ops (Linear, Tanh, Mul, Add, Sum), their 5 output boxes, 2 parameter leaves,
    # and the data x (needs no gradient, kept because the tape keeps its inputs).
    assert g.node_count == 13
    assert 'label="x|(4, 3)|value' in src
    assert src.count("shape=ellipse") == 5
    assert "fc.weight" in src and "(5, 3)" in src and "cluster_fc" in src
    assert src.count('fillcolor="#c9f0c9"') == 2  # parameters
    assert src.count('fillcolor="#ffcf9e"') == 1  # the output
    labels, edges = graph_of(src)
    assert sorted(labels.values()) == sorted(
        ["x", "fc.weight", "fc.bias", "#0 Linear", "#0", "#1 Tanh", "#1", "#2 Mul", "#2",
         "#3 Add", "#3", "#4 Sum", "#4"]
    )  # fmt: skip
    assert edges == FULL_EDGES
    # The boxes show torch's values: the loss, and x's mean and (unbiased) spread.
    assert f'label="#4|()|value {t["loss"].item():.4g}"' in src
    assert f'label="x|(4, 3)|value μ {float(t["x"].mean()):.3g} ± {float(t["x"].std()):.3g}"' in src
    svg = g.svg()
    assert svg.startswith("<svg") and svg.count('class="node"') == 13
    bundle = g._repr_mimebundle_()
    assert "image/svg+xml" in bundle


def test_draw_tape_saved_and_collapsed_modules():
    ctx, loss, _ = build()
    assert "saved:" in draw_tape(loss, show_saved=True).source
    assert "saved:" not in draw_tape(loss).source
    collapsed = draw_tape(loss, collapse_modules=True)
    assert "box3d" in collapsed.source and collapsed.node_count < draw_tape(loss).node_count
    # module fc (its Linear, fc.weight, fc.bias and Linear's output) becomes one box
    labels, edges = graph_of(collapsed.source)
    assert sorted(labels.values()) == sorted(
        ["x", "fc", "#1 Tanh", "#1", "#2 Mul", "#2", "#3 Add", "#3", "#4 Sum", "#4"]
    )
    assert collapsed.node_count == 10 and "fc\n3 ops/params" in collapsed.source
    assert edges == CHAIN | {("x", "fc"), ("fc", "#1 Tanh")}


def test_draw_tape_folds_a_huge_tape():
    ctx = mg.Context()
    x = ctx.variable(torch.ones(2), requires_grad=True, name="x")
    y = x
    for _ in range(2000):
        y = y * 1.0001
    g = draw_tape(y, max_nodes=50)
    assert g.folded == 1950
    assert "... 1950 more" in g.source
    assert g.source.count("shape=ellipse") == 50
    assert g.svg().count('class="node"') == g.node_count == 50 * 2 + 1


def test_draw_tape_empty_and_errors():
    g = draw_tape(mg.Context())
    assert g.node_count == 0
    with pytest.raises(TypeError, match="Context or Variable"):
        draw_tape(3.0)
    ctx, loss, _ = build()
    loss.backward()
    with pytest.raises(mg.TapeError, match="retain_graph"):
        draw_tape(loss)


def test_without_graphviz_the_notebook_gets_a_message(monkeypatch):
    ctx, loss, _ = build()
    monkeypatch.setattr(render, "dot_binary", lambda: None)
    bundle = draw_tape(loss)._repr_mimebundle_()
    assert "image/svg+xml" not in bundle
    assert "graphviz-pure" in bundle["text/html"]
    viewer = TapeViewer(loss)
    assert "mg-graphviz-missing" in viewer.graph_html.value
    viewer.next()  # stepping still works
    assert viewer.position == 1


def test_trace_gradients_match_torch_and_show_accumulation():
    ctx, loss, t = build()
    steps = trace(loss)
    forward = [s for s in steps if s["phase"] == "forward"]
    backward = [s for s in steps if s["phase"] == "backward"]
    assert [s["op"] for s in forward] == ["Linear", "Tanh", "Mul", "Add", "Sum"]
    assert [s["index"] for s in backward] == [4, 3, 2, 1, 0]
    h_mean = float(t["h"].detach().mean())
    assert forward[1]["values"][0]["mean"] == pytest.approx(h_mean, abs=1e-12)
    # The gradient arriving at Tanh's output is d loss / d h, summed over h's three uses.
    tanh_step = next(s for s in backward if s["op"] == "Tanh")
    assert tanh_step["grad_output"][0]["norm"] == pytest.approx(
        float(t["h"].grad.norm()), rel=1e-12
    )
    linear_step = next(s for s in backward if s["op"] == "Linear")
    assert linear_step["grad_output"][0]["norm"] == pytest.approx(
        float(t["z"].grad.norm()), rel=1e-12
    )
    by_label = {g["label"]: g for g in linear_step["grad_inputs"]}
    assert by_label["fc.weight"]["grad"]["norm"] == pytest.approx(
        float(t["w"].grad.norm()), rel=1e-12
    )
    assert by_label["fc.bias"]["grad"]["mean"] == pytest.approx(
        float(t["b"].grad.mean()), rel=1e-12
    )
    # h feeds Mul twice and Add once: the 2nd and 3rd gradients are accumulated.
    flags = [
        g["accumulated"]
        for s in backward
        if s["op"] in ("Add", "Mul")
        for g in s["grad_inputs"]
        if g["label"] == "#1"
    ]
    assert sorted(flags) == [False, True, True]
    # trace left every .grad alone and kept the tape.
    assert ctx.nodes[0].gate is not None
    assert loss.grad is None and ctx.nodes[0].parents[1][0].variable.grad is None


def test_viewer_stepping_moves_highlight_and_shown_gradient():
    ctx, loss, t = build()
    v = TapeViewer(loss)
    assert len(v.steps) == 10 and v.slider.max == 9
    assert v.highlighted == v.uid + "n0" and "forward 1 of 5" in v.status.value
    assert f"#{v.uid}n0 > polygon" in v.style_html.value
    v.next()
    assert v.position == 1 and v.highlighted == v.uid + "n1"
    assert f"#{v.uid}n1 > polygon" in v.style_html.value
    assert f"#{v.uid}n0 > polygon" not in v.style_html.value
    assert 'class="mg-current"' in v.table.value
    assert re.search(r'class="mg-current"[^>]*><td>1</td><td>Tanh', v.table.value)
    # Nodes not yet computed are greyed out during the forward phase.
    assert f"#{v.uid}n4" in v.style_html.value and "opacity" in v.style_html.value
    v.previous()
    v.previous()  # clamps at 0
    assert v.position == 0
    v.position = 6  # backward at Add (node 3)
    assert v.current["phase"] == "backward" and v.current["op"] == "Add"
    assert "gradient arriving" in v.details.value
    v.position = 8  # backward at Tanh: its output gradient is torch's h.grad
    expected = f"{float(t['h'].grad.mean()):.4g}"
    assert v.current["op"] == "Tanh" and f"mean {expected}" in v.details.value
    v.position = 7  # Mul: its second input adds to the gradient Add already sent
    assert "accumulated" in v.details.value
    v.slider.value = 9  # the slider drives the same state as the buttons
    assert v.highlighted == v.uid + "n0" and "local gradient" in v.details.value
    assert "tanh" in v._details(v.steps[1]).lower()  # the gate's docstring formula
    v.next()
    assert v.position == 9


def test_viewer_static_form_and_non_scalar_output():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.randn(3, 2), requires_grad=True, name="x")
    y = mg.relu(x) * 2.0  # shape (3, 2): no implied seed gradient
    v = TapeViewer(y)
    assert "gradient of ones" in v.status.value
    v.position = v.slider.max
    tx = x.value.clone().requires_grad_()
    (torch.relu(tx) * 2.0).sum().backward()
    leaf = v.current["grad_inputs"][0]
    assert leaf["label"] == "x" and leaf["grad"]["norm"] == pytest.approx(float(tx.grad.norm()))
    svg = v.to_svg()
    assert svg.startswith("<svg") and "<style>" in svg and 'class="node"' in svg
    # the static form is this tape (x, then ReLU and Mul with their outputs) at this step:
    # the last backward step, at node 0, is the one highlighted
    firsts = re.findall(r'class="node">.*?<text[^>]*>(.*?)</text>', svg, re.DOTALL)
    assert sorted(firsts) == ["#0", "#0 ReLU", "#1", "#1 Mul", "x"]
    style = re.search(r"<style>(.*?)</style>", svg, re.DOTALL).group(1)
    assert f"#{v.uid}n0 > polygon" in style and f"#{v.uid}n1 > polygon" not in style
    assert "image/svg+xml" in v._repr_mimebundle_()


def test_viewer_on_empty_and_context_input():
    empty = TapeViewer(mg.Context())
    assert empty.steps == [] and empty.next_button.disabled
    assert "empty" in empty.status.value
    empty.next()
    assert empty.position == 0 and empty.highlighted is None
    assert "empty tape" in empty.to_svg()
    ctx, loss, _ = build()
    assert len(TapeViewer(ctx).steps) == 10  # a Context: its last output is the root


def test_viewer_on_a_huge_tape_folds_the_graph_but_steps_every_node():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.ones(3), requires_grad=True, name="x")
    y = x
    for _ in range(400):
        y = y * 1.001
    v = TapeViewer(y.sum(), max_nodes=60)
    assert len(v.steps) == 2 * 401
    v.position = 5
    assert "folded" in v.status.value
    v.position = 400
    assert v.highlighted == v.uid + "n400" and "folded" not in v.status.value
    assert v.svg.count('class="node"') == v.graph.node_count
