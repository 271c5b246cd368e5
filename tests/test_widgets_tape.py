"""draw_tape, minigrad.trace and TapeViewer, headless: state after each interaction.

Every value and gradient the graph shows is checked against torch.autograd
on the same computation (intermediate gradients through retain_grad), read
back from the DOT source or the drawn SVG, not only from the viewer's data.
"""

from __future__ import annotations

import collections
import html
import re

import pytest
import torch

import minigrad as mg
from minigrad.trace import summarize, trace
from widgets import TapeViewer, draw_tape, render
from widgets.tape_graph import TapeGraph
from widgets.tape_viewer import GRAPH_HEIGHT


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


def neuron():
    """Lesson 2's neuron, o = tanh(sum(x * w) + b), and torch's gradients of it."""
    ctx = mg.Context(keep_outputs=True, name="neuron")
    x = ctx.variable([2.0, 0.0], name="x")
    w = ctx.variable([-3.0, 1.0], requires_grad=True, name="w")
    b = ctx.variable(6.88, requires_grad=True, name="b")
    o = ((x * w).sum() + b).tanh()
    tx, tw, tb = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0], requires_grad=True), (
        torch.tensor(6.88, requires_grad=True)
    )  # fmt: skip
    products = tx * tw
    products.retain_grad()
    total = products.sum()
    total.retain_grad()
    z = total + tb
    z.retain_grad()
    torch.tanh(z).backward()
    return ctx, o, {"w": tw, "b": tb, "products": products, "sum": total, "z": z}


def graph_of(source: str) -> tuple[dict, list]:
    """The DOT text read back: {node name: its title} and every arrow as (title, title).

    A value's title is the bold name in its box; an op's is its label's first line.
    """
    labels = {}
    for name, label in re.findall(r'^\s*(\w+) \[label=(<<.*?>>|"[^"]*")', source, re.MULTILINE):
        bold = re.search(r"<B>(.*?)</B>", label)
        labels[name] = html.unescape(bold.group(1)) if bold else label.strip('"').split("\n")[0]
    edges = re.findall(r"^\s*(\w+) -> (\w+)", source, re.MULTILINE)
    return labels, [(labels[a], labels[b]) for a, b in edges]


def cells(source: str, title: str) -> list[str]:
    """The cells of the box titled ``title``: name and shape, data, grad (unescaped)."""
    for label in re.findall(r"label=(<<.*?>>)", source):
        if f"<B>{html.escape(title)}</B>" in label:
            return [html.unescape(re.sub("<[^>]+>", "", c)).strip()  # (less the room after it)
                    for c in re.findall(r"<TD[^>]*>(.*?)</TD>", label)]  # fmt: skip
    raise AssertionError(f"no box titled {title!r}")


def shown(number: float) -> str:
    return f"{number:.4g}"


def listed(values) -> str:
    return "[" + ", ".join(shown(float(v)) for v in values) + "]"


# build()'s tape, drawn by hand: each op an oval "#i Op" and its output a box "#i";
# h = tanh(linear(x)) is #1, used by Mul twice (two arrows) and by Add once.
CHAIN = [
    ("#1", "#2 Mul"), ("#1", "#2 Mul"), ("#2 Mul", "#2"), ("#2", "#3 Add"), ("#1", "#3 Add"),
    ("#3 Add", "#3"), ("#3", "#4 Sum"), ("#4 Sum", "#4"), ("#1 Tanh", "#1"),
]  # fmt: skip
FULL_EDGES = CHAIN + [
    ("x", "#0 Linear"), ("fc.weight", "#0 Linear"), ("fc.bias", "#0 Linear"),
    ("#0 Linear", "#0"), ("#0", "#1 Tanh"),
]  # fmt: skip


def test_draw_tape_boxes_ops_colours_and_cluster():
    ctx, loss, t = build()
    g = draw_tape(loss)
    assert isinstance(g, TapeGraph)
    src = g.source
    # 5 ops (Linear, Tanh, Mul, Add, Sum), their 5 output boxes, 2 parameter leaves,
    # and the data x (needs no gradient, kept because the tape keeps its inputs).
    assert g.node_count == 13
    # ops are ovals, values are boxes (HTML tables): two shapes that never look alike
    assert src.count("shape=ellipse") == 5 and src.count("shape=plain") == 8
    assert "fc.weight" in src and "(5, 3)" in src and "cluster_fc" in src
    assert src.count('BGCOLOR="#c9f0c9"') == 2  # parameters
    assert src.count('BGCOLOR="#ffcf9e"') == 1  # the output
    labels, edges = graph_of(src)
    assert sorted(labels.values()) == sorted(
        ["x", "fc.weight", "fc.bias", "#0 Linear", "#0", "#1 Tanh", "#1", "#2 Mul", "#2",
         "#3 Add", "#3", "#4 Sum", "#4"]
    )  # fmt: skip
    assert collections.Counter(edges) == collections.Counter(FULL_EDGES)
    # The boxes show torch's values: the loss itself, x's mean and (unbiased) spread.
    assert cells(src, "#4") == ["#4 ()", f"data {shown(t['loss'].item())}", "grad –"]
    x_text = f"data μ {float(t['x'].mean()):.3g} ± {float(t['x'].std()):.3g}"
    assert cells(src, "x")[1] == x_text
    svg = g.svg()
    assert svg.startswith("<svg") and svg.count('class="node"') == 13
    assert "image/svg+xml" in g._repr_mimebundle_()


def test_value_boxes_show_data_and_grad_in_full_for_small_tensors():
    ctx, o, t = neuron()
    src = draw_tape(o).source
    assert cells(src, "x") == ["x (2,)", "data [2, 0]", "grad –"]
    assert cells(src, "w") == ["w (2,)", "data [-3, 1]", "grad –"]
    products = listed(torch.tensor([2.0, 0.0]) * torch.tensor([-3.0, 1.0]))
    assert cells(src, "#0")[1] == f"data {products}"
    o.backward(retain_graph=True)  # the leaves now hold torch's gradients
    src = draw_tape(o).source
    assert cells(src, "w")[2] == f"grad {listed(t['w'].grad)}"
    assert cells(src, "b")[2] == f"grad {shown(t['b'].grad.item())}"
    # more than 8 elements: a summary, not every number
    assert summarize(torch.arange(9.0))["text"] == "μ 4 ± 2.74"
    assert summarize(torch.arange(8.0).reshape(2, 4))["text"] == "[[0, 1, 2, 3], [4, 5, 6, 7]]"


def test_a_value_used_twice_gets_two_arrows():
    ctx = mg.Context(keep_outputs=True)
    a = ctx.variable(3.0, requires_grad=True, name="a")
    y = a * a
    g = draw_tape(y)
    labels, edges = graph_of(g.source)
    assert edges.count(("a", "#0 Mul")) == 2
    svg = g.svg()
    assert svg.count('class="edge"') == 3  # a -> Mul twice, Mul -> its output


def test_draw_tape_saved_names_and_collapsed_modules():
    ctx, loss, _ = build()
    src = draw_tape(loss, show_saved=True).source
    # Linear saved its input x; Tanh its output #1; Mul both its factors, h = #1
    assert "saved: x (4, 3)" in src and "saved: #1 (4, 5)" in src
    assert "saved: #1 (4, 5), #1 (4, 5)" in src
    assert "saved:" not in draw_tape(loss).source
    collapsed = draw_tape(loss, collapse_modules=True)
    assert "box3d" in collapsed.source and collapsed.node_count < draw_tape(loss).node_count
    # module fc (its Linear, fc.weight, fc.bias and Linear's output) becomes one box
    labels, edges = graph_of(collapsed.source)
    assert sorted(labels.values()) == sorted(
        ["x", "fc", "#1 Tanh", "#1", "#2 Mul", "#2", "#3 Add", "#3", "#4 Sum", "#4"]
    )
    assert collapsed.node_count == 10 and "fc\n3 ops/params" in collapsed.source
    assert collections.Counter(edges) == collections.Counter(
        CHAIN + [("x", "fc"), ("fc", "#1 Tanh")]
    )


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


def grad_cell(viewer, box: str) -> str:
    """The gradient text drawn in a box of the viewer's graph right now, read from its SVG."""
    found = re.search(rf'id="{viewer.uid}{box}_grad"[^>]*>([^<]*)</text>', viewer.graph_html.value)
    assert found, f"no gradient cell for {box}"
    return html.unescape(found.group(1))


def box_of(viewer, title: str) -> str:
    """The SVG id (without the viewer's prefix) of the box titled ``title``."""
    labels, _ = graph_of(viewer.graph.source)
    return next(name for name, label in labels.items() if label == title)


def test_viewer_draws_the_arriving_gradient_on_the_graph():
    ctx, o, t = neuron()
    v = TapeViewer(o)
    boxes = {title: box_of(v, title) for title in ("w", "b", "#0", "#1", "#2", "#3")}
    assert v.n_forward == 4 and len(v.steps) == 8
    for position in range(4):  # forward: no gradient anywhere yet
        v.position = position
        assert {grad_cell(v, box) for box in boxes.values()} == {"grad –"}
    expected = [  # after each backward step, what each box holds: torch's gradients
        {"#3": "1"},
        {"#3": "1", "#2": shown(t["z"].grad.item())},
        {"#2": shown(t["z"].grad.item()), "#1": shown(t["sum"].grad.item()),
         "b": shown(t["b"].grad.item())},
        {"#0": listed(t["products"].grad)},
        {"#0": listed(t["products"].grad), "w": listed(t["w"].grad)},
    ]  # fmt: skip
    arriving = ["#3", "#2", "#1", "#0"]  # the output of the op at each backward step
    for k in range(4):
        v.position = 4 + k
        for title, text in {**expected[k], **expected[k + 1]}.items():
            if title in expected[k + 1] or k == 0:
                assert grad_cell(v, boxes[title]) == f"grad {text}", (k, title)
        # the arriving gradient is marked on its box, in red, in this step's style block
        assert v.frame["arriving"] == [boxes[arriving[k]]]
        assert f"#{v.uid}{boxes[arriving[k]]}_grad" in v.style_html.value
    assert v.slider.label == "backward 4 of 4" and grad_cell(v, boxes["w"]) == (
        f"grad {listed(t['w'].grad)}"
    )
    # the arrows that carry the gradient back at the last step: Mul's input w (position 1)
    assert v.frame["arrows"] == ["e0_1"] and f"#{v.uid}e0_1 path" in v.style_html.value
    assert f'id="{v.uid}e0_1"' in v.graph_html.value


def test_viewer_shows_accumulation_on_a_value_used_twice():
    ctx = mg.Context(keep_outputs=True)
    a = ctx.variable(3.0, requires_grad=True, name="a")
    y = a * a + a
    v = TapeViewer(y)
    box = box_of(v, "a")
    v.position = v.n_forward  # backward at Add: a receives 1 from "+ a"
    assert grad_cell(v, box) == "grad 1"
    assert v.frame["receiving"] == [(box_of(v, "#0"), False), (box, False)]
    v.next()  # backward at Mul: both of its inputs are a, each adds a = 3
    assert grad_cell(v, box) == "grad 7"  # 1 + 3 + 3 = 2a + 1, as torch says:
    ta = torch.tensor(3.0, requires_grad=True)
    (ta * ta + ta).backward()
    assert grad_cell(v, box) == f"grad {shown(ta.grad.item())}"
    assert v.frame["receiving"] == [(box, True), (box, True)]
    assert v.frame["arrows"] == ["e0_0", "e0_1"]  # two arrows light up, one per use
    assert v.details.value.count("added to what a already held") == 2


def test_viewer_controls_one_numbering_ends_and_phase_buttons():
    ctx, loss, t = build()
    v = TapeViewer(loss)
    assert len(v.steps) == 10 and len(v.slider.options) == 10
    for position in range(10):
        v.position = position
        where = "forward" if position < 5 else "backward"
        number = position + 1 if position < 5 else position - 4
        label = f"{where} {number} of 5"
        assert v.slider.label == label and v.slider.index == position
        assert v.status.value.startswith(f"<b>{label}</b>")  # the status says the same
        assert v.prev_button.disabled == (position == 0)
        assert v.next_button.disabled == (position == 9)
    assert (v.forward_button.description, v.backward_button.description) == (
        "forward", "backward",
    )  # fmt: skip
    v.backward_button.click()
    assert v.position == 5 and v.current["phase"] == "backward" and v.backward_button.disabled
    v.forward_button.click()
    assert v.position == 0 and v.forward_button.disabled
    v.slider.index = 3  # the slider drives the trait ...
    assert v.position == 3 and v.highlighted == v.uid + "n3"
    v.position = 99  # ... the trait stays on the tape
    assert v.position == 9 and v.slider.index == 9


def test_viewer_details_use_the_learners_words_and_names():
    ctx = mg.Context(keep_outputs=True)
    # The learner's names collide with Mul's own argument names, swapped:
    b = ctx.variable([1.0, 2.0], requires_grad=True, name="b")
    a = ctx.variable([3.0, 4.0], requires_grad=True, name="a")
    y = (b * a).sum()
    v = TapeViewer(y)
    v.position = 0
    assert list(v.records[0]["saved"]) == ["a", "b"]  # the gate's own names ...
    # ... are not shown: Mul's a is the learner's b and its b the learner's a
    assert "saved for backward: b (2,), a (2,)" in v.details.value
    row = r"<td>0</td><td>Mul</td><td>b, a</td><td>\(2,\)</td><td>b, a</td>"
    assert re.search(row, v.table.value)
    assert "output #0 = (2,) [3, 8]" in v.details.value  # every element, as torch has them
    v.position = len(v.steps) - 1  # backward at Mul
    tb, ta = (
        torch.tensor([1.0, 2.0], requires_grad=True),
        torch.tensor([3.0, 4.0], requires_grad=True),
    )
    (tb * ta).sum().backward()
    assert "local gradient" not in v.details.value
    assert f"gradient sent to input 0 (b): (2,) {listed(tb.grad)}" in v.details.value
    assert f"gradient sent to input 1 (a): (2,) {listed(ta.grad)}" in v.details.value
    assert "gradient arriving at #0: (2,) [1, 1]" in v.details.value


def test_viewer_layout_graph_and_details_side_by_side():
    ctx, loss, _ = build()
    v = TapeViewer(loss)
    controls, status, style, body, _ = v.children  # (the last: a style block only)
    graph, side = body.children
    assert graph is v.graph_html and v.details in side.children and v.table in side.children
    assert graph.layout.max_height == f"{GRAPH_HEIGHT}px" and GRAPH_HEIGHT <= 600
    svg = re.search(r"<svg[^>]*>", graph.value).group(0)
    assert f"max-height:{GRAPH_HEIGHT - 10}px" in svg and "max-width:100%" in svg
    # labels stay crisp: no rule of any step strokes text
    for position in range(len(v.steps)):
        v.position = position
        for selectors, body_ in re.findall(r"([^{}]+)\{([^}]*)\}", v.style_html.value):
            if "stroke" in body_:
                targets = [s.strip() for s in selectors.replace("<style>", "").split(",")]
                assert all(s.endswith(("polygon", "ellipse", "path")) for s in targets), targets


def test_viewer_static_form_and_non_scalar_output():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.randn(3, 2), requires_grad=True, name="x")
    y = mg.relu(x) * 2.0  # shape (3, 2): no implied seed gradient
    v = TapeViewer(y)
    assert "gradient of ones" in v.status.value
    v.position = len(v.steps) - 1
    tx = x.value.clone().requires_grad_()
    (torch.relu(tx) * 2.0).sum().backward()
    leaf = v.current["grad_inputs"][0]
    assert leaf["label"] == "x" and leaf["grad"]["norm"] == pytest.approx(float(tx.grad.norm()))
    svg = v.to_svg()
    assert svg.startswith("<svg") and "<style>" in svg and 'class="node"' in svg
    # the static form is this tape at this step: the last backward step, at node 0, is
    # highlighted, and x's box shows its gradient
    style = re.search(r"<style>(.*?)</style>", svg, re.DOTALL).group(1)
    assert f"#{v.uid}n0 > polygon" in style.split("stroke: #d00000")[0].rsplit("}", 1)[-1]
    assert f'id="{v.uid}{box_of(v, "x")}_grad"' in svg
    assert v.describe() == "TapeViewer: backward 2 of 2, node #0 ReLU"
    assert "image/svg+xml" in v._repr_mimebundle_()


def test_viewer_on_empty_and_context_input():
    empty = TapeViewer(mg.Context())
    assert empty.steps == [] and empty.next_button.disabled and empty.prev_button.disabled
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
    assert v.svg().count('class="node"') == v.graph.node_count
