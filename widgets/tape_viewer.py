"""TapeViewer: step through a tape, forward (values) and then backward (gradients).

The graph is draw_tape's: values as boxes with their ``data`` and ``grad``,
ops as ovals. Forward, step k highlights op k and the value it computed;
ops not yet run are greyed out. Backward walks the same ops in reverse, and
the graph itself shows the gradients: the box of the op's output shows the
gradient that arrives there (red), the arrows to the inputs that receive a
share light up, and each input's box shows its gradient so far (green; a
value used twice gets the second share *added*, purple). The details beside
the graph say the same in words and numbers.

The steps come from :func:`minigrad.trace.trace` (plain data, computed
once), the gradient each box shows at each step from :func:`gradient_frames`.
The graph is laid out once; a step fills the gradient cells into the drawn
SVG and swaps a small style block, so it costs about a millisecond of Python.
The state is the synced trait ``position`` (0 to ``len(steps) - 1``); the
slider, the buttons and ``next()`` / ``previous()`` all move it.
"""

from __future__ import annotations

import html
import itertools
import re

import ipywidgets as ipw
import torch
import traitlets

import minigrad as mg
from minigrad.errors import format_shape
from minigrad.inspect import node_record
from minigrad.memory import format_bytes
from minigrad.trace import trace
from widgets.records import tape_graph, tape_of
from widgets.render import GraphvizMissing, missing_html
from widgets.static import StaticForm
from widgets.tape_graph import NO_GRAD, build_graph, edge_id, leaf_id, op_id, var_id

_ids = itertools.count()

EMPTY_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="20">'
    '<text y="15">empty tape</text></svg>'
)
TABLE_WINDOW = 5  # rows shown either side of the current one
GRAPH_HEIGHT = 600  # px: the graph and the details beside it fit a 1280x800 window
ARRIVING, RECEIVING, ADDED = "#c0392b", "#1e7b34", "#8e44ad"


def gradient_frames(steps: list[dict], records: list[dict]) -> list[dict]:
    """For each step: the gradient every value box shows, and what this step touches.

    A frame is ``{"grads": {box id: text}, "arriving": [box ids], "receiving":
    [(box id, accumulated)], "arrows": [edge ids]}``. Forward steps show no
    gradient; a backward step at op k sets k's output boxes to the gradient
    arriving there, and each input box that receives a share to its total so
    far (the trace's ``total``, so a second use shows the sum).
    """
    shown: dict[str, str] = {}
    frames = []
    for step in steps:
        frame = {"arriving": [], "receiving": [], "arrows": []}
        if step["phase"] == "backward":
            k = step["index"]
            for slot, arrived in enumerate(step["grad_output"]):
                if arrived is not None:
                    shown[var_id(k, slot)] = arrived["text"]
                    frame["arriving"].append(var_id(k, slot))
            for position, sent in enumerate(step["grad_inputs"]):
                if sent["grad"] is None:
                    continue
                source = records[k]["inputs"][position]
                if source["kind"] == "leaf":
                    box = leaf_id(source["id"])
                else:
                    box = var_id(source["index"], source["slot"])
                shown[box] = sent["total"]["text"]
                frame["receiving"].append((box, sent["accumulated"]))
                frame["arrows"].append(edge_id(k, position))
        frame["grads"] = dict(shown)
        frames.append(frame)
    return frames


def _longest_grad_texts(frames: list[dict]) -> dict[str, str]:
    """Per box, the longest gradient cell it will show: the room the layout must leave."""
    longest: dict[str, str] = {}
    for frame in frames:
        for box, text in frame["grads"].items():
            text = f"grad {text}"
            if len(text) > len(longest.get(box, f"grad {NO_GRAD}")):
                longest[box] = text
    return longest


class TapeViewer(StaticForm, ipw.VBox):
    """Step through the tape that produced ``root`` (a Variable, or a Context's last output).

    ``viewer.next()`` / ``viewer.previous()`` / ``viewer.position = k`` move;
    ``viewer.current`` is the step shown (a :func:`minigrad.trace.trace` dict),
    ``viewer.highlighted`` the SVG id of the highlighted op, ``viewer.frame``
    the gradients the graph shows (see :func:`gradient_frames`). For an output
    with several elements the seed gradient is ones (as ``y.sum().backward()``)
    unless ``grad`` is given. Build the tape in ``mg.Context(keep_outputs=True)``
    so that every value can be shown, and call this before ``backward()`` (or
    after ``backward(retain_graph=True)``). ``params`` (the model) and ``modules``
    (``mg.module_scopes(model)``) group the drawing into one cluster per module.
    """

    static_mime = "image/svg+xml"
    position = traitlets.Int(0).tag(sync=True)

    def __init__(self, root, grad=None, max_nodes: int | None = 300, params=None, modules=None):
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
        self.frames = gradient_frames(self.steps, self.records)
        self.n_forward = sum(s["phase"] == "forward" for s in self.steps)
        self.graph = None
        self._parts, self._slots = [], []
        if root is not None and nodes:
            data = tape_graph(root, max_nodes=max_nodes, params=params, modules=modules)
            self.graph = build_graph(data, id_prefix=self.uid,
                                     grad_texts=_longest_grad_texts(self.frames))  # fmt: skip
        self._drawn = {r["index"] for r in self._graph_ops()}
        self._outputs = {r["index"]: len(r["output_shapes"]) for r in self.records}
        try:
            if self.graph is not None:
                self._parts, self._slots = self._gradient_slots(_fit(self.graph.svg()))
            graph_html = ""
        except GraphvizMissing as error:
            graph_html = missing_html(str(error))

        labels = [self._where(s) for s in self.steps] or ["empty tape"]
        self.slider = ipw.SelectionSlider(options=list(zip(labels, range(len(labels)))),
                                          description="step", continuous_update=True)  # fmt: skip
        self.slider.layout.width = "360px"
        self.slider.style.description_width = "36px"
        self.slider.add_class("mg-slider")
        self.play = ipw.Play(value=0, min=0, max=len(labels) - 1, interval=800, show_repeat=False)
        self.play.layout.width = "90px"
        ipw.jslink((self.play, "value"), (self.slider, "index"))
        ipw.link((self, "position"), (self.slider, "index"))
        self.forward_button = ipw.Button(description="forward", icon="fast-backward",
                                         tooltip="go to the first forward step")  # fmt: skip
        self.backward_button = ipw.Button(description="backward", icon="fast-forward",
                                          tooltip="go to the first backward step")  # fmt: skip
        self.prev_button = ipw.Button(description="previous", icon="step-backward")
        self.next_button = ipw.Button(description="next", icon="step-forward")
        buttons = (self.forward_button, self.backward_button, self.prev_button, self.next_button)
        for button, css in zip(buttons, ("mg-forward", "mg-backward", "mg-prev", "mg-next")):
            button.add_class(css)
            button.layout.width = "auto"
        self.forward_button.on_click(lambda _: setattr(self, "position", 0))
        self.backward_button.on_click(lambda _: setattr(self, "position", self.n_forward))
        self.prev_button.on_click(lambda _: self.previous())
        self.next_button.on_click(lambda _: self.next())
        self.status = ipw.HTML()
        self.status.add_class("mg-status")
        self.style_html = ipw.HTML()
        self.graph_html = ipw.HTML(graph_html)
        self.graph_html.add_class("mg-tape-graph")
        self.graph_html.layout = ipw.Layout(flex="3 1 0%", max_height=f"{GRAPH_HEIGHT}px",
                                            overflow="auto", min_width="0")  # fmt: skip
        self.details = ipw.HTML()
        self.details.add_class("mg-node-details")
        self.table = ipw.HTML()
        self.table.add_class("mg-tape-table")
        side = ipw.VBox([self.details, self.table],
                        layout=ipw.Layout(flex="2 1 0%", min_width="300px"))  # fmt: skip
        side.add_class("mg-tape-side")
        controls = ipw.HBox([*buttons, self.play, self.slider])
        body = ipw.HBox([self.graph_html, side], layout=ipw.Layout(width="100%"))
        self.children = [controls, self.status, self.style_html, body]
        self.mark_as_minigrad()
        self.observe(lambda _: self._show(), names="position")
        self._show()

    # -- moving ---------------------------------------------------------------
    @traitlets.validate("position")
    def _within_the_tape(self, proposal) -> int:
        return max(0, min(int(proposal["value"]), max(len(self.steps) - 1, 0)))

    def next(self) -> None:
        self.position = self.position + 1

    def previous(self) -> None:
        self.position = self.position - 1

    @property
    def current(self) -> dict | None:
        return self.steps[self.position] if self.steps else None

    @property
    def frame(self) -> dict | None:
        """What the graph shows now: each box's gradient, the boxes and arrows this step touches."""
        return self.frames[self.position] if self.frames else None

    @property
    def highlighted(self) -> str | None:
        """The SVG id of the op node highlighted now (``None`` on an empty tape)."""
        step = self.current
        return None if step is None else self.uid + op_id(step["index"])

    # -- drawing --------------------------------------------------------------
    def _where(self, step: dict) -> str:
        """The one numbering, used by the slider and the status line: "backward 3 of 4"."""
        if step["phase"] == "forward":
            return f"forward {step['step'] + 1} of {self.n_forward}"
        backward = len(self.steps) - self.n_forward
        return f"backward {step['step'] - self.n_forward + 1} of {backward}"

    def _graph_ops(self) -> list:
        if self.graph is None:
            return []
        return [r for r in self.records if r["index"] >= self.graph.folded]

    def _ids(self, index: int) -> list[str]:
        ids = [self.uid + op_id(index)]
        ids += [self.uid + var_id(index, s) for s in range(self._outputs.get(index, 1))]
        return ids

    def _gradient_slots(self, svg: str) -> tuple[list[str], list[str]]:
        """The SVG cut at every box's gradient text: the static parts and the box between them."""
        parts, slots, end = [], [], 0
        cell = re.compile(r"(<text)([^>]*>)grad [^<]*(</text>)")
        for group in re.finditer(r'<g id="([^"]+)" class="node">.*?</g>', svg, re.DOTALL):
            box = group.group(1)[len(self.uid) :]
            found = cell.search(svg, group.start(), group.end())
            if not found:
                continue
            parts.append(svg[end : found.start()] + f'<text class="mg-grad" id="{self.uid}{box}'
                         f'_grad"{found.group(2)}')  # fmt: skip
            slots.append(box)
            end = found.start(3)
        parts.append(svg[end:])
        return parts, slots

    def svg(self) -> str:
        """The drawn graph at this step: every box's gradient cell filled in."""
        if not self._parts:
            return ""
        grads = self.frame["grads"] if self.frame else {}
        texts = [html.escape(f"grad {grads.get(box, NO_GRAD)}") for box in self._slots]
        return "".join(p + t for p, t in zip(self._parts, [*texts, ""]))

    def _css(self, step: dict) -> str:
        """A style block that restyles the drawn graph for this step.

        Only shapes and gradient cells change colour: text is never stroked, so
        it stays crisp.
        """
        uid = self.uid
        shapes = lambda ids: [f"#{x} > polygon, #{x} > ellipse" for x in ids]  # noqa: E731
        cells = lambda boxes: [f"#{uid}{box}_grad" for box in boxes]  # noqa: E731
        rules = []
        if step["phase"] == "forward":  # what has not run yet is greyed out
            later = [i for i in self._drawn if i > step["index"]]
            dim = [f"#{x}" for i in later for x in self._ids(i)]
            dim += [f"[id^='{uid}{arrow}{i}_']" for i in later for arrow in "eo"]
            rules.append((dim, "opacity: 0.25"))
            current = "fill: #ffe066"
        else:
            done = [s["index"] for s in self.steps[self.n_forward : self.position]]
            rules.append((shapes([x for i in done if i in self._drawn for x in self._ids(i)]),
                          "stroke: #c0392b"))  # fmt: skip
            frame = self.frame
            bold = "font-weight: bold; fill: "
            received = [box for box, added in frame["receiving"] if not added]
            added = [box for box, added in frame["receiving"] if added]
            rules += [
                (cells(frame["arriving"]), bold + ARRIVING),
                (cells(received), bold + RECEIVING),
                (cells(added), bold + ADDED),
                ([f"#{uid}{arrow} path" for arrow in frame["arrows"]],
                 f"stroke: {ARRIVING}; stroke-width: 2.5px"),
                ([f"#{uid}{arrow} polygon" for arrow in frame["arrows"]],
                 f"fill: {ARRIVING}; stroke: {ARRIVING}"),
            ]  # fmt: skip
            current = "fill: #ffc9c0"
        rules.append((shapes(self._ids(step["index"])),
                      f"stroke: #d00000; stroke-width: 2.5px; {current}"))  # fmt: skip
        body = "\n".join(f"{', '.join(sel)} {{ {decl}; }}" for sel, decl in rules if sel)
        return f"<style>{body}</style>"

    def _show(self) -> None:
        step = self.current
        at_start, at_end = self.position == 0, self.position >= len(self.steps) - 1
        self.prev_button.disabled = self.forward_button.disabled = at_start or not self.steps
        self.next_button.disabled = at_end
        self.backward_button.disabled = not self.steps or self.position == self.n_forward
        self.play.disabled = self.slider.disabled = len(self.steps) < 2
        if step is None:
            self.status.value = "<b>The tape is empty</b>: nothing was recorded, nothing to step."
            self.style_html.value = self.table.value = self.details.value = ""
            return
        note = f"<br><i>{html.escape(self.note)}</i>" if self.note else ""
        hidden = (
            ""
            if step["index"] in self._drawn
            else " (folded into '... more' in the graph: raise max_nodes to see it)"
        )
        doing = (
            "computes its output"
            if step["phase"] == "forward"
            else "the gradient that arrived at its output goes back to its inputs"
        )
        if step.get("backward_of") is not None:  # the second program: a recorded backward
            doing += f" (part of the recorded backward of node #{step['backward_of']})"
        self.status.value = (
            f"<b>{self._where(step)}</b>: node #{step['index']} {html.escape(step['op'])}, "
            f"{doing}{hidden}{note}"
        )
        self.style_html.value = self._css(step)
        if self._parts:
            self.graph_html.value = f'<div class="mg-tape-svg">{self.svg()}</div>'
        self.table.value = self._table(step["index"])
        self.details.value = self._details(step)
        self.picture_changed()

    def _table(self, current: int) -> str:
        lo = max(0, current - TABLE_WINDOW)
        hi = min(len(self.records), current + TABLE_WINDOW + 1)
        rows = []
        for r in self.records[lo:hi]:
            inputs = ", ".join(i["label"] for i in r["inputs"])
            out = ", ".join(format_shape(s) for s in r["output_shapes"])
            saved = ", ".join(r["saved_as"].get(k, k) for k in r["saved"]) or "-"
            size = format_bytes(r["saved_bytes"])
            mark = ' class="mg-current" style="background:#ffe066"' if r["index"] == current else ""
            rows.append(
                f"<tr{mark}><td>{r['index']}</td><td>{html.escape(r['op'])}</td>"
                f"<td>{html.escape(inputs)}</td><td>{out}</td><td>{html.escape(saved)}</td>"
                f"<td>{size}</td></tr>"
            )
        more = f"<caption>the tape: rows {lo}-{hi - 1} of {len(self.records)}</caption>"
        head = "".join(f"<th>{h}</th>" for h in ("#", "op", "inputs", "output", "saved", "bytes"))
        head = f"<tr>{head}</tr>"
        cells = "<style>.mg-table td, .mg-table th {padding: 1px 6px; text-align: left}</style>"
        return (
            f'{cells}<table class="mg-table" style="font-size:12px;border-collapse:collapse">'
            f"{more}{head}{''.join(rows)}</table>"
        )

    def _details(self, step: dict) -> str:
        r = self.records[step["index"]]
        out_names = [
            name or (f"#{r['index']}" if len(r["output_shapes"]) == 1 else f"#{r['index']}[{s}]")
            for s, name in enumerate(r["output_names"])
        ]
        lines = [f"<b>#{r['index']} {html.escape(r['op'])}</b>"]
        if r["formula"]:
            lines.append(f"<code>{html.escape(r['formula'])}</code>")
        ins = ", ".join(
            html.escape(i["label"] + (f" {format_shape(i['shape'])}" if "shape" in i else ""))
            for i in r["inputs"]
        )
        lines.append(f"inputs: {ins}")
        if r.get("backward_of") is not None:
            lines.append(f"recorded by create_graph, in the backward of node #{r['backward_of']}")
        saved = ", ".join(
            f"{r['saved_as'].get(k, k)} {format_shape(v)}" for k, v in r["saved"].items()
        )
        size = format_bytes(r["saved_bytes"])
        lines.append(f"saved for backward: {html.escape(saved or '-')} ({size})")
        if step["phase"] == "forward":
            for s, value in enumerate(step["values"]):
                text = "(freed: use Context(keep_outputs=True))" if value is None else _long(value)
                lines.append(f"output {html.escape(out_names[s])} = {html.escape(text)}")
        else:
            for s, g in enumerate(step["grad_output"]):
                text = html.escape(
                    f"gradient arriving at {out_names[s]}: {'-' if g is None else _long(g)}"
                )
                lines.append(
                    f'<span class="mg-grad-arriving" style="color:{ARRIVING}">{text}</span>'
                )
            for i, g in enumerate(step["grad_inputs"]):
                name = html.escape(r["inputs"][i]["label"])
                if g["grad"] is None:
                    lines.append(f"gradient sent to input {i} ({name}): none needed")
                    continue
                text = f"gradient sent to input {i} ({name}): {html.escape(_long(g['grad']))}"
                if g["accumulated"]:
                    text += (
                        f' <b class="mg-accumulated" style="color:{ADDED}">added to what {name} '
                        f"already held (after this step: {html.escape(_long(g['total']))})</b>"
                    )
                lines.append(f'<span class="mg-grad-sent">{text}</span>')
        return '<div style="font-size:12px;line-height:1.5">' + "<br>".join(lines) + "</div>"

    # -- static form ------------------------------------------------------------
    def describe(self) -> str:
        step = self.current
        if step is None:
            return "TapeViewer: empty tape"
        return f"TapeViewer: {self._where(step)}, node #{step['index']} {step['op']}"

    def to_svg(self) -> str:
        drawn = self.svg()
        if not drawn:
            return EMPTY_SVG
        css = self._css(self.current) if self.current else ""
        style = css.replace("<style>", "<style>/*<![CDATA[*/").replace(
            "</style>", "/*]]>*/</style>"
        )
        head_end = drawn.find(">") + 1
        return drawn[:head_end] + style + drawn[head_end:]


def _fit(svg: str) -> str:
    """Let the drawing shrink to the space it has, never grow past its own size."""
    match = re.match(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if not match:
        return svg
    width, height = (float(v) * 4 / 3 for v in match.groups())  # pt -> px
    return (
        f'<svg width="{width:.0f}" height="{height:.0f}" style="max-width:100%;'
        f'height:auto;max-height:{GRAPH_HEIGHT - 10}px"' + svg[match.end() :]
    )


def _long(summary: dict) -> str:
    """A summary in words: every element of a small tensor, statistics of a large one."""
    if summary.get("numel", 0) <= 1:
        return summary["text"]
    if "values" in summary:
        return f"{format_shape(summary['shape'])} {summary['text']}"
    return (
        f"{format_shape(summary['shape'])} mean {summary['mean']:.4g}, std {summary['std']:.3g}, "
        f"min {summary['min']:.4g}, max {summary['max']:.4g}"
    )


def _last_output(ctx: mg.Context):
    """The first output of a Context's last node (the usual root), or None if it is empty."""
    if not ctx.nodes:
        return None
    return ctx.nodes[-1].payload.outputs()[0]
