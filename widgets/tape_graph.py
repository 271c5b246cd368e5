"""draw_tape: the tape as a Graphviz graph, micrograd-style but for whole networks.

Values are boxes, as micrograd's ``draw_dot`` draws them: the name and
shape, then ``data`` and ``grad`` (every element of a tensor of up to 8, a
mean ± std otherwise). Ops are ovals between them, so the two never look
alike. An op that uses a value twice (``a * a``) gets two arrows from it, one
per input, so accumulation can be seen. Colours: yellow for leaves that need
a gradient, green for parameters, orange for outputs (values no later op
uses). Ops go into one cluster per sub-module: the module that recorded them
(from ``mg.module_scopes``), or else the one whose parameters
(``module.weight``) they take; clusters nest as the modules do (``blocks.0``
holds ``blocks.0.self_attn``). Past ``max_nodes`` ops the earliest fold into one "... N more"
node, so a 10,000-op tape still draws in a second.

Every element has an SVG id (``id_prefix`` + ``n3`` for op 3, ``v3_0`` for
its first output, ``l<id>`` for a leaf, ``e3_1`` for the arrow into op 3's
second input), which is how TapeViewer restyles the drawing step by step.
"""

from __future__ import annotations

import html

import graphviz

from minigrad.memory import format_bytes
from widgets.records import tape_graph
from widgets.render import GraphvizMissing, missing_html, render_svg

COLOURS = {
    "op": "#dbe8ff",
    "leaf": "#fff2b3",
    "parameter": "#c9f0c9",
    "output": "#ffcf9e",
    "variable": "#ffffff",
    "fold": "#eeeeee",
}
NO_GRAD = "–"  # a gradient not computed (yet)
# Past this many ops, Graphviz's layout (its network simplex and crossing passes) grows
# steeply when a few values feed ops all along the tape; bounded passes keep a 300-op
# drawing to seconds. Smaller tapes, the lessons', get the full layout.
BIG_GRAPH = 60
QUICK_LAYOUT = {"nslimit": "0.05", "nslimit1": "0.05", "mclimit": "0.05"}


def _escape(text) -> str:
    """Text for a Graphviz HTML-like label."""
    return html.escape(str(text), quote=True)


def value_label(title: str, shape, value, grad, fill: str, grad_text: str | None = None) -> str:
    """A value's box, as an HTML-like label: ``title (shape)``, then ``data ...``, ``grad ...``.

    The three cells are stacked, so that boxes side by side in a top-to-bottom
    graph stay narrow. ``grad_text`` replaces the gradient's own text
    (TapeViewer reserves the room for the longest gradient it will show).
    """
    data = "data " + (value["text"] if value is not None else "(freed)")
    if grad_text is None:
        grad_text = "grad " + (grad["text"] if grad is not None else NO_GRAD)
    cells = [
        f"<B>{_escape(title)}</B> {_escape(tuple(shape))}",
        _escape(data),
        _escape(grad_text),
    ]
    # Graphviz measures text with Helvetica's widths; a browser may draw it in a wider
    # font (DejaVu Sans on Linux). Some trailing room keeps the text inside its cell.
    cells = [cell + "&#160;" * (1 + len(cell) // 8) for cell in cells]
    rows = "".join(f'<TR><TD ALIGN="LEFT">{cell}</TD></TR>' for cell in cells)
    return (
        f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="2" '
        f'BGCOLOR="{fill}">{rows}</TABLE>>'
    )


def op_id(index: int) -> str:
    return f"n{index}"


def var_id(index: int, slot: int) -> str:
    return f"v{index}_{slot}"


def leaf_id(key) -> str:
    return f"l{key}"


def edge_id(index: int, position: int) -> str:
    """The arrow into input ``position`` of op ``index``."""
    return f"e{index}_{position}"


class TapeGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that draws itself in a notebook with whatever layout program exists.

    ``node_count`` is the number of drawn nodes; ``svg()`` lays it out.
    Without Graphviz the notebook shows how to install it instead of an error.
    """

    node_count: int = 0
    folded: int = 0

    def svg(self) -> str:
        return render_svg(self.source)

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        try:
            return {"image/svg+xml": self.svg()}
        except GraphvizMissing as error:
            return {"text/html": missing_html(str(error)), "text/plain": str(error)}


def build_graph(
    data: dict,
    show_saved: bool = False,
    id_prefix: str = "",
    collapse_modules: bool = False,
    direction: str = "TB",
    grad_texts: dict[str, str] | None = None,
) -> TapeGraph:
    """A TapeGraph from :func:`widgets.records.tape_graph` data.

    ``id_prefix`` goes in front of every SVG element id, so that two drawings
    on one page never share ids (TapeViewer highlights nodes by id).
    ``direction`` is Graphviz's rankdir: "TB" (top to bottom, the default,
    fits a notebook's width) or "LR". ``grad_texts`` (box id -> text) sets
    the gradient cell of some boxes (see :func:`value_label`).
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', got {direction!r}")
    grad_texts = grad_texts or {}
    g = TapeGraph(name="tape", graph_attr={"rankdir": direction, "fontsize": "10",
                                           "ranksep": "0.2", "nodesep": "0.2"})  # fmt: skip
    if len(data["ops"]) > BIG_GRAPH:
        g.attr("graph", **QUICK_LAYOUT)
    g.attr("node", fontsize="10", fontname="Helvetica")
    g.attr("edge", arrowsize="0.6")
    count = 0
    clusters: dict[str, graphviz.Digraph] = {}
    collapsed: dict[str, list] = {}

    def holder(module):
        if module is None:
            return g
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):  # the enclosing modules' clusters too
            name = ".".join(parts[:depth])
            if name not in clusters:
                clusters[name] = graphviz.Digraph(name=f"cluster_{name}")
                clusters[name].attr(label=name, style="rounded,dashed", color="#888888")
        return clusters[module]

    def where(node_name: str, module) -> str:
        if collapse_modules and module is not None:
            return f"m_{module}"
        return node_name

    for leaf in data["leaves"]:
        kind = "parameter" if leaf["parameter"] else "leaf"
        module = leaf["module"]
        if collapse_modules and module is not None:
            collapsed.setdefault(module, []).append(leaf["label"])
            continue
        name = leaf_id(leaf["id"])
        label = value_label(leaf["label"], leaf["shape"], leaf["value"], leaf["grad"],
                            COLOURS[kind], grad_texts.get(name))  # fmt: skip
        holder(module).node(name, label, shape="plain", id=f"{id_prefix}{name}", tooltip=kind)
        count += 1
    if data["folded"]:
        g.node(
            "fold",
            f"... {data['folded']} more",
            shape="box",
            style="filled,dashed",
            fillcolor=COLOURS["fold"],
            id=f"{id_prefix}fold",
        )
        count += 1
    for record in data["ops"]:
        i = record["index"]
        module = record["module"]
        label = f"#{i} {record['op']}"
        if show_saved and record["saved"]:
            named = record.get("saved_as", {})
            saved = ", ".join(f"{named.get(k, k)} {tuple(v)}" for k, v in record["saved"].items())
            label += f"\nsaved: {saved} ({format_bytes(record['saved_bytes'])})"
        if collapse_modules and module is not None:
            collapsed.setdefault(module, []).append(record["op"])
        else:
            holder(module).node(op_id(i), label, shape="ellipse", style="filled",
                                fillcolor=COLOURS["op"], margin="0.05,0.02", height="0.3",
                                id=f"{id_prefix}{op_id(i)}")  # fmt: skip
            count += 1
        for out in record["outputs"]:
            title = out["name"] or (
                f"#{i}" if len(record["outputs"]) == 1 else f"#{i}[{out['slot']}]"
            )
            kind = "output" if out["is_output"] else "variable"
            if collapse_modules and module is not None and not out["is_output"]:
                continue
            name = var_id(i, out["slot"])
            label = value_label(title, out["shape"], out["value"], out["grad"], COLOURS[kind],
                                grad_texts.get(name))  # fmt: skip
            # beside the op that made it, inside its module
            holder(module).node(name, label, shape="plain", id=f"{id_prefix}{name}")
            count += 1
            g.edge(where(op_id(i), module), name, id=f"{id_prefix}o{i}_{out['slot']}")
    for module, members in collapsed.items():
        g.node(
            f"m_{module}",
            f"{module}\n{len(members)} ops/params",
            shape="box3d",
            style="filled",
            fillcolor=COLOURS["parameter"],
            id=f"{id_prefix}m_{module}",
        )
        count += 1
    modules_of = {r["index"]: r["module"] for r in data["ops"]}
    modules_of_leaf = {leaf["id"]: leaf["module"] for leaf in data["leaves"]}
    drawn = set()
    for e in data["edges"]:
        kind = e["from"][0]
        to = where(op_id(e["to"]), modules_of[e["to"]])
        if kind == "leaf":
            start = where(leaf_id(e["from"][1]), modules_of_leaf[e["from"][1]])
        elif kind == "fold":
            start = "fold"
        else:
            _, index, slot = e["from"]
            start = var_id(index, slot)
            if collapse_modules and modules_of.get(index) is not None:
                start = where(start, modules_of[index])
        # One arrow per input: a value used twice by one op gets two. Inside a
        # collapsed module, or out of the fold, one arrow says enough.
        key = (start, to) if start == "fold" or to.startswith("m_") or start.startswith("m_") \
            else (start, to, e["input"])  # fmt: skip
        if start == to or key in drawn:
            continue
        drawn.add(key)
        g.edge(start, to, id=f"{id_prefix}{edge_id(e['to'], e['input'])}")
    # Innermost first: a cluster is copied into its parent when added, so it must be complete.
    for name in sorted(clusters, key=lambda n: -n.count(".")):
        parent = name.rsplit(".", 1)[0] if "." in name else None
        (clusters[parent] if parent in clusters else g).subgraph(clusters[name])
    g.node_count = count
    g.folded = data["folded"]
    return g


def draw_tape(
    source,
    max_nodes: int | None = 300,
    show_saved: bool = False,
    params=None,
    collapse_modules: bool = False,
    id_prefix: str = "",
    direction: str = "TB",
    modules=None,
) -> TapeGraph:
    """Draw a tape (a Context) or everything that led to a Variable, as a Graphviz graph.

    The result displays itself in a notebook (SVG) and has ``.source``
    (DOT text), ``.svg()`` and ``node_count``. ``show_saved`` lists the
    tensors each op kept for backward, by the learner's names for them;
    ``params`` (a model or its parameters) says which leaves are parameters
    (otherwise names with "weight", "bias" or a dot count as parameters);
    ``collapse_modules`` draws each sub-module as one box; ``direction`` is
    "TB" or "LR"; ``modules`` (from ``mg.module_scopes(model)``) says which
    sub-module recorded each op, so that every op of a module sits in its
    cluster. Values and gradients show when the Variables are alive: build
    the tape in ``mg.Context(keep_outputs=True)``.
    """
    data = tape_graph(source, max_nodes=max_nodes, params=params, modules=modules)
    return build_graph(data, show_saved, id_prefix, collapse_modules, direction)
