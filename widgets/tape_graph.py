"""draw_tape: the tape as a Graphviz graph, micrograd-style but for whole networks.

Variables are boxes (name, shape, value and gradient summaries), ops are
ellipses between them. Colours: yellow for leaves that need a gradient,
green for parameters, orange for outputs (values no later op uses).
Parameters named ``module.weight`` put their ops into one cluster per
sub-module. Past ``max_nodes`` ops the earliest fold into one "... N more"
node, so a 10,000-op tape still draws in a second.
"""

from __future__ import annotations

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


def _escape(text) -> str:
    """Text for a Graphviz record label, whose fields are split by | and { }."""
    text = str(text)
    for ch in '\\{}|<>"':
        text = text.replace(ch, "\\" + ch)
    return text


def _box(title: str, shape, value, grad, direction: str = "TB") -> str:
    fields = [_escape(title), _escape(tuple(shape))]
    if value is not None:
        fields.append("value " + _escape(value["text"]))
    if grad is not None:
        fields.append("grad " + _escape(grad["text"]))
    row = "|".join(fields)
    # A record's fields run across the rank direction; braces turn them so
    # that a box always reads left to right.
    return row if direction == "TB" else "{" + row + "}"


def op_id(index: int) -> str:
    return f"n{index}"


def var_id(index: int, slot: int) -> str:
    return f"v{index}_{slot}"


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
) -> TapeGraph:
    """A TapeGraph from :func:`widgets.records.tape_graph` data.

    ``id_prefix`` goes in front of every SVG element id, so that two drawings
    on one page never share ids (TapeViewer highlights nodes by id).
    ``direction`` is Graphviz's rankdir: "TB" (top to bottom, the default,
    fits a notebook's width) or "LR".
    """
    if direction not in ("TB", "LR"):
        raise ValueError(f"direction must be 'TB' or 'LR', got {direction!r}")
    g = TapeGraph(name="tape", graph_attr={"rankdir": direction, "fontsize": "10"})
    g.attr("node", fontsize="10", fontname="Helvetica", style="filled")
    g.attr("edge", arrowsize="0.6")
    count = 0
    clusters: dict[str, graphviz.Digraph] = {}
    collapsed: dict[str, list] = {}

    def holder(module):
        if module is None:
            return g
        if module not in clusters:
            clusters[module] = graphviz.Digraph(name=f"cluster_{module}")
            clusters[module].attr(label=module, style="rounded,dashed", color="#888888")
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
        holder(module).node(
            f"l{leaf['id']}",
            _box(leaf["label"], leaf["shape"], leaf["value"], leaf["grad"], direction),
            shape="record",
            fillcolor=COLOURS[kind],
            id=f"{id_prefix}l{leaf['id']}",
            tooltip=kind,
        )
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
            saved = ", ".join(f"{k} {tuple(v)}" for k, v in record["saved"].items())
            label += f"\nsaved: {saved} ({format_bytes(record['saved_bytes'])})"
        if collapse_modules and module is not None:
            collapsed.setdefault(module, []).append(record["op"])
        else:
            holder(module).node(
                op_id(i),
                label,
                shape="ellipse",
                fillcolor=COLOURS["op"],
                id=f"{id_prefix}{op_id(i)}",
            )
            count += 1
        for out in record["outputs"]:
            title = out["name"] or (
                f"#{i}" if len(record["outputs"]) == 1 else f"#{i}[{out['slot']}]"
            )
            kind = "output" if out["is_output"] else "variable"
            if collapse_modules and module is not None and not out["is_output"]:
                continue
            g.node(
                var_id(i, out["slot"]),
                _box(title, out["shape"], out["value"], out["grad"], direction),
                shape="record",
                fillcolor=COLOURS[kind],
                id=f"{id_prefix}{var_id(i, out['slot'])}",
            )
            count += 1
            g.edge(where(op_id(i), module), var_id(i, out["slot"]))
    for module, members in collapsed.items():
        g.node(
            f"m_{module}",
            f"{module}\n{len(members)} ops/params",
            shape="box3d",
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
            start = where(f"l{e['from'][1]}", modules_of_leaf[e["from"][1]])
        elif kind == "fold":
            start = "fold"
        else:
            _, index, slot = e["from"]
            start = var_id(index, slot)
            if collapse_modules and modules_of.get(index) is not None:
                start = where(start, modules_of[index])
        if start == to or (start, to) in drawn:
            continue
        drawn.add((start, to))
        g.edge(start, to)
    for sub in clusters.values():
        g.subgraph(sub)
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
) -> TapeGraph:
    """Draw a tape (a Context) or everything that led to a Variable, as a Graphviz graph.

    The result displays itself in a notebook (SVG) and has ``.source``
    (DOT text), ``.svg()`` and ``node_count``. ``show_saved`` lists the
    tensors each op kept for backward; ``params`` (a model or its
    parameters) says which leaves are parameters (otherwise names with
    "weight", "bias" or a dot count as parameters); ``collapse_modules``
    draws each sub-module as one box; ``direction`` is "TB" or "LR". Values
    and gradients show when the Variables are alive: build the tape in
    ``mg.Context(keep_outputs=True)``.
    """
    data = tape_graph(source, max_nodes=max_nodes, params=params)
    return build_graph(data, show_saved, id_prefix, collapse_modules, direction)
