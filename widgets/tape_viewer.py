"""TapeViewer: step through a tape, forward (values) and then backward (gradients).

Forward, step k highlights node k and shows the value it computed; nodes not
yet computed are greyed out. Backward walks the same nodes in reverse: each
step shows the gradient arriving at the node's output, the local gradient
its gate sends to each input, and marks an input whose gradient is *added*
to one that arrived earlier (a value used twice gets the sum of both).

The steps come from :func:`minigrad.trace.trace` (plain data, computed once);
moving the slider only swaps a small CSS block that recolours the drawn
graph, so one step costs well under a millisecond of Python on a 200-node tape.
"""

from __future__ import annotations

import html
import itertools

import ipywidgets as ipw
import torch

import minigrad as mg
from minigrad.errors import format_shape
from minigrad.inspect import node_record
from minigrad.memory import format_bytes
from minigrad.trace import trace
from widgets.records import tape_of
from widgets.render import GraphvizMissing, missing_html
from widgets.static import StaticForm
from widgets.tape_graph import draw_tape, op_id, var_id

_ids = itertools.count()

EMPTY_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="20">'
    '<text y="15">empty tape</text></svg>'
)
TABLE_WINDOW = 12  # rows shown either side of the current one


class TapeViewer(StaticForm, ipw.VBox):
    """Step through the tape that produced ``root`` (a Variable, or a Context's last output).

    ``viewer.next()`` / ``viewer.previous()`` / ``viewer.position = k`` move;
    ``viewer.current`` is the step shown (a :func:`minigrad.trace.trace` dict),
    ``viewer.highlighted`` the SVG id of the highlighted node. For an output
    with several elements the seed gradient is ones (as ``y.sum().backward()``)
    unless ``grad`` is given. Build the tape in ``mg.Context(keep_outputs=True)``
    so that every value can be shown, and call this before ``backward()`` (or
    after ``backward(retain_graph=True)``).
    """

    static_mime = "image/svg+xml"

    def __init__(self, root, grad=None, max_nodes: int | None = 300, params=None):
        super().__init__()
        self.add_class("mg-tape-viewer")
        self.uid = f"mgtv{next(_ids)}_"
        if isinstance(root, mg.Context):
            root = _last_output(root)
        nodes, _ = tape_of(root) if root is not None else ([], None)
        self.records = [node_record(n) for n in nodes]
        self.note = ""
        if root is not None and root.node is not None and grad is None and root.numel() != 1:
            grad = torch.ones_like(root.value)
            self.note = (
                f"the output has shape {format_shape(root.shape)}: backward starts from a "
                "gradient of ones (as y.sum().backward() would)"
            )
        self.steps = trace(root, grad) if root is not None else []
        self.graph = (
            draw_tape(root, max_nodes=max_nodes, params=params, id_prefix=self.uid)
            if (root is not None)
            else None
        )
        self._drawn = {r["index"] for r in self._graph_ops()}
        self._outputs = {r["index"]: len(r["output_shapes"]) for r in self.records}
        try:
            self.svg = self.graph.svg() if self.graph is not None and nodes else ""
            graph_html = f'<div class="mg-tape-svg">{self.svg}</div>'
        except GraphvizMissing as error:
            self.svg = ""
            graph_html = missing_html(str(error))

        last = max(len(self.steps) - 1, 0)
        self.slider = ipw.IntSlider(0, min=0, max=last, description="step", continuous_update=True)
        self.play = ipw.Play(value=0, min=0, max=last, interval=700, description="play")
        ipw.jslink((self.play, "value"), (self.slider, "value"))
        self.prev_button = ipw.Button(description="previous", icon="step-backward")
        self.next_button = ipw.Button(description="next", icon="step-forward")
        self.prev_button.add_class("mg-prev")
        self.next_button.add_class("mg-next")
        self.prev_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        for control in (self.slider, self.play, self.prev_button, self.next_button):
            control.disabled = not self.steps
        self.status = ipw.HTML()
        self.status.add_class("mg-status")
        self.style_html = ipw.HTML()
        self.graph_html = ipw.HTML(graph_html)
        self.graph_html.add_class("mg-tape-graph")
        self.graph_html.layout.overflow = "auto"  # a wide tape scrolls instead of being cut off
        self.graph_html.layout.max_width = "100%"
        self.table = ipw.HTML()
        self.table.add_class("mg-tape-table")
        self.details = ipw.HTML()
        self.details.add_class("mg-node-details")
        self.details.layout.min_width = "340px"
        controls = ipw.HBox([self.prev_button, self.next_button, self.play, self.slider])
        lower = ipw.HBox([self.table, self.details])
        self.children = [controls, self.status, self.style_html, self.graph_html, lower]
        self.slider.observe(lambda change: self._show(), names="value")
        self._show()

    # -- moving ---------------------------------------------------------------
    @property
    def position(self) -> int:
        return self.slider.value

    @position.setter
    def position(self, value: int) -> None:
        self.slider.value = max(0, min(int(value), self.slider.max))

    def next(self) -> None:
        self.position = self.position + 1

    def previous(self) -> None:
        self.position = self.position - 1

    @property
    def current(self) -> dict | None:
        return self.steps[self.position] if self.steps else None

    @property
    def highlighted(self) -> str | None:
        """The SVG id of the op node highlighted now (``None`` on an empty tape)."""
        step = self.current
        return None if step is None else self.uid + op_id(step["index"])

    # -- drawing --------------------------------------------------------------
    def _graph_ops(self) -> list:
        if self.graph is None:
            return []
        return [r for r in self.records if r["index"] >= self.graph.folded]

    def _ids(self, index: int) -> list[str]:
        ids = [self.uid + op_id(index)]
        ids += [self.uid + var_id(index, s) for s in range(self._outputs.get(index, 1))]
        return ids

    def _css(self, step: dict) -> str:
        """A style block that recolours the drawn graph for this step."""
        forward = step["phase"] == "forward"
        rules = []
        if forward:
            later = [i for i in self._drawn if i > step["index"]]
            dim = [f"#{x}" for i in later for x in self._ids(i)]
            if dim:
                rules.append(", ".join(dim) + " { opacity: 0.25; }")
        else:
            done = [
                s["index"]
                for s in self.steps[len(self.records) : self.position]
                if s["index"] in self._drawn
            ]
            marked = [f"#{x} > *" for i in done for x in self._ids(i)]
            if marked:
                rules.append(", ".join(marked) + " { stroke: #c0392b; }")
        current = [f"#{x} > polygon, #{x} > ellipse" for x in self._ids(step["index"])]
        colour = "#ffe066" if forward else "#ffb3a7"
        rules.append(
            ", ".join(current) + f" {{ stroke: #d00000; stroke-width: 3px; fill: {colour}; }}"
        )
        return "<style>" + "\n".join(rules) + "</style>"

    def _show(self) -> None:
        step = self.current
        if step is None:
            self.status.value = "<b>The tape is empty</b>: nothing was recorded, nothing to step."
            self.style_html.value = ""
            self.table.value = ""
            self.details.value = ""
            return
        n_forward = len(self.records)
        phase = step["phase"]
        where = (
            f"forward {step['step'] + 1} of {n_forward}"
            if phase == "forward"
            else f"backward {step['step'] - n_forward + 1} of {len(self.steps) - n_forward}"
        )
        note = f"<br><i>{html.escape(self.note)}</i>" if self.note else ""
        hidden = (
            ""
            if step["index"] in self._drawn
            else " (folded into '... more' in the graph: raise max_nodes to see it)"
        )
        self.status.value = (
            f"<b>{where}</b>: node #{step['index']} {html.escape(step['op'])}{hidden}{note}"
        )
        self.style_html.value = self._css(step)
        self.table.value = self._table(step["index"])
        self.details.value = self._details(step)

    def _table(self, current: int) -> str:
        lo = max(0, current - TABLE_WINDOW)
        hi = min(len(self.records), current + TABLE_WINDOW + 1)
        rows = []
        for r in self.records[lo:hi]:
            inputs = ", ".join(i["label"] for i in r["inputs"])
            out = ", ".join(format_shape(s) for s in r["output_shapes"])
            saved = ", ".join(r["saved"]) or "-"
            size = format_bytes(r["saved_bytes"])
            mark = ' class="mg-current" style="background:#ffe066"' if r["index"] == current else ""
            rows.append(
                f"<tr{mark}><td>{r['index']}</td><td>{html.escape(r['op'])}</td>"
                f"<td>{html.escape(inputs)}</td><td>{out}</td><td>{html.escape(saved)}</td>"
                f"<td>{size}</td></tr>"
            )
        more = f"<caption>rows {lo}-{hi - 1} of {len(self.records)}</caption>"
        head = "".join(f"<th>{h}</th>" for h in ("#", "op", "inputs", "output", "saved", "bytes"))
        head = f"<tr>{head}</tr>"
        cells = "<style>.mg-table td, .mg-table th {padding: 1px 8px; text-align: left}</style>"
        return (
            f'{cells}<table class="mg-table" style="font-size:12px;border-collapse:collapse">'
            f"{more}{head}{''.join(rows)}</table>"
        )

    def _details(self, step: dict) -> str:
        r = self.records[step["index"]]
        lines = [f"<b>#{r['index']} {html.escape(r['op'])}</b>"]
        if r["formula"]:
            lines.append(f"<code>{html.escape(r['formula'])}</code>")
        ins = ", ".join(
            html.escape(i["label"] + (f" {format_shape(i['shape'])}" if "shape" in i else ""))
            for i in r["inputs"]
        )
        lines.append(f"inputs: {ins}")
        saved = ", ".join(f"{k} {format_shape(v)}" for k, v in r["saved"].items()) or "-"
        lines.append(f"saved for backward: {html.escape(saved)} ({format_bytes(r['saved_bytes'])})")
        if step["phase"] == "forward":
            for s, value in enumerate(step["values"]):
                text = "(freed: use Context(keep_outputs=True))" if value is None else _long(value)
                lines.append(f"output {s}: {html.escape(text)}")
        else:
            for s, g in enumerate(step["grad_output"]):
                text = "-" if g is None else _long(g)
                lines.append(f'<span class="mg-grad">gradient arriving at output {s}: '
                             f"{html.escape(text)}</span>")  # fmt: skip
            for i, g in enumerate(step["grad_inputs"]):
                if g["grad"] is None:
                    lines.append(f"local gradient to input {i}: none needed")
                    continue
                text = (
                    f"local gradient to input {i} ({html.escape(g['label'])}): {_long(g['grad'])}"
                )
                if g["accumulated"]:
                    text += (
                        f' <b class="mg-accumulated" style="color:#c0392b">accumulated: added to '
                        f"the gradient already there, total now {_long(g['total'])}</b>"
                    )
                lines.append(text)
        return '<div style="font-size:12px">' + "<br>".join(lines) + "</div>"

    # -- static form ------------------------------------------------------------
    def to_svg(self) -> str:
        if not self.svg:
            return EMPTY_SVG
        css = self._css(self.current) if self.current else ""
        style = css.replace("<style>", "<style>/*<![CDATA[*/").replace(
            "</style>", "/*]]>*/</style>"
        )
        head_end = self.svg.find(">") + 1
        return self.svg[:head_end] + style + self.svg[head_end:]


def _long(summary: dict) -> str:
    if summary.get("numel", 0) <= 1:
        return summary["text"]
    return (
        f"{format_shape(summary['shape'])} mean {summary['mean']:.4g}, std {summary['std']:.3g}, "
        f"min {summary['min']:.4g}, max {summary['max']:.4g}"
    )


def _last_output(ctx: mg.Context):
    """The first output of a Context's last node (the usual root), or None if it is empty."""
    if not ctx.nodes:
        return None
    return ctx.nodes[-1].payload.outputs()[0]
