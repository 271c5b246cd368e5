"""The tape as plain data and as a printed table; which module recorded each node.

``ctx.records()`` gives one dict per node; ``print(ctx)`` prints them as a
table (:func:`records` and :func:`context_table` are those two methods, see
``minigrad/methods.py``). The widgets draw from these records, never from
private fields. ``mg.module_scopes(model)`` notes, while a model runs, which of
its sub-modules recorded each node (the widgets draw one cluster per module).

    Context: 3 nodes
      #  op    inputs  output  bytes  saved
      0  Mul   a, b    ()        8 B  a (), b ()
      1  Add   #0, c   ()        0 B  -
      2  Tanh  #1      ()        4 B  out ()
      saved in all: 12 B (a tensor several nodes saved counts once)

"bytes" is what the node's gate saved for its backward, and the last line
what the whole tape holds (``minigrad/memory.py``).

A tape that ``create_graph=True`` added a backward to lists it after the
forward nodes, each with ``backward_of``: the node whose backward made it
(a last column of the table says so).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from minigrad.errors import format_shape
from minigrad.memory import format_bytes, node_saved_bytes, saved_bytes
from minigrad.tape import default_context
from minigrad.variable import Variable


def _variable(kind: str, v: Variable) -> dict:
    """A Variable input: a leaf (needs a gradient) or an input (needs none)."""
    label = v.name or f"{kind}{format_shape(v.shape)}"
    return {"kind": kind, "label": label, "id": id(v), "name": v.name, "shape": tuple(v.shape)}


def describe_parent(parent, called_with=None) -> dict:
    """Where one input of a node came from, as plain data.

    ``called_with`` is what the op received in that position, when the tape
    kept it (``Context(keep_outputs=True)``): it names inputs that need no
    gradient ("input" for a Variable, "constant" for anything else).
    """
    if parent is None:
        if isinstance(called_with, Variable):
            return _variable("input", called_with)
        if isinstance(called_with, (int, float)):
            return {"kind": "constant", "label": f"{called_with:g}"}
        return {"kind": "constant", "label": "-"}
    source, slot = parent
    if source.is_leaf:
        variable = source.variable
        if variable is None:  # dropped by the learner: only its shape is known
            shape = source.payload.shapes[0]
            return {"kind": "leaf", "label": f"leaf{format_shape(shape)}", "id": None,
                    "name": None, "shape": tuple(shape)}  # fmt: skip
        return _variable("leaf", variable)
    label = f"#{source.index}" if len(source.payload) == 1 else f"#{source.index}[{slot}]"
    return {"kind": "node", "label": label, "index": source.index, "slot": slot}


def formula(gate) -> str:
    """The first paragraph of a gate's docstring: its maths."""
    doc = (type(gate).__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def _same_tensor(a, b) -> bool:
    """Whether two tensors are one: the same object, or views of the same memory alike."""
    if a is b:
        return True
    return (
        a.device == b.device and a.shape == b.shape and a.stride() == b.stride()
        and a.numel() > 0 and a.data_ptr() == b.data_ptr()
    )  # fmt: skip


def saved_names(node, inputs: list[dict]) -> dict[str, str]:
    """What each saved tensor is in the learner's program, by the gate's name for it.

    A gate names what it saves after its own arguments (``Mul`` saves ``a`` and
    ``b``), which may clash with the learner's names. A saved tensor that is
    one of the node's inputs gets that input's label (``x``, ``#2``), one that
    is its output gets the output's name (or ``#k``); anything else the gate
    computed keeps the gate's name.
    """
    gate = node.gate
    if gate is None:
        return {}
    known = []  # (tensor, the learner's label)
    for i, described in enumerate(inputs):
        called = node.inputs[i] if node.inputs else None
        if not isinstance(called, Variable) and node.parents[i] is not None:
            source, slot = node.parents[i]
            called = source.variable if source.is_leaf else source.payload.outputs()[slot]
        if isinstance(called, Variable):
            known.append((called.value, described["label"]))
    for slot, variable in enumerate(node.payload.outputs()):
        if variable is not None:
            default = f"#{node.index}" if len(node.payload) == 1 else f"#{node.index}[{slot}]"
            known.append((variable.value, variable.name or default))
    names = {}
    for name, tensor in gate.saved_tensors().items():
        names[name] = next((label for t, label in known if _same_tensor(t, tensor)), name)
    return names


def node_record(node) -> dict:
    """One node as a dict: index, op, inputs, output shapes and names, saved tensors, formula.

    ``saved`` maps the gate's names of its saved tensors to their shapes;
    ``saved_as`` maps the same names to the learner's (see :func:`saved_names`);
    ``saved_bytes`` is what they hold, in bytes (each storage once);
    ``backward_of`` is ``None``, or the node whose recorded backward this one is part of.
    """
    gate = node.gate
    outputs = node.payload.outputs()
    saved = (
        {} if gate is None else {name: tuple(t.shape) for name, t in gate.saved_tensors().items()}
    )
    inputs = [
        describe_parent(p, node.inputs[i] if node.inputs else None)
        for i, p in enumerate(node.parents)
    ]
    return {
        "index": node.index,
        "op": node.op,
        "inputs": inputs,
        "output_shapes": [tuple(s) for s in node.payload.shapes],
        "output_names": [v.name if v is not None else None for v in outputs],
        "saved": saved,
        "saved_as": saved_names(node, inputs),
        "saved_bytes": node_saved_bytes(node),
        "formula": formula(gate) if gate is not None else "",
        "backward_of": node.backward_of,
    }


# A row lists at most this many inputs or saved tensors (a checkpointed segment has dozens).
LISTED = 6


def listed(items: list[str]) -> str:
    """``a, b, c`` or, for a long list, its first few and how many more."""
    if len(items) <= LISTED + 1:
        return ", ".join(items)
    return ", ".join(items[:LISTED]) + f", ... {len(items) - LISTED} more"


def format_table(records: list[dict]) -> str:
    """Records as an aligned text table."""
    recorded = any(r.get("backward_of") is not None for r in records)
    header = ("#", "op", "inputs", "output", "bytes", "saved")
    rows = [header + (("backward of",) if recorded else ())]
    for r in records:
        inputs = listed([i["label"] for i in r["inputs"]])
        outputs = listed([format_shape(s) for s in r["output_shapes"]])
        saved = listed([f"{k} {format_shape(v)}" for k, v in r["saved"].items()]) or "-"
        size = format_bytes(r["saved_bytes"]) if "saved_bytes" in r else "-"
        row = (str(r["index"]), r["op"], inputs, outputs, size, saved)
        if recorded:
            row += ("" if r.get("backward_of") is None else f"#{r['backward_of']}",)
        rows.append(row)
    last = len(rows[0]) - 1  # left unpadded
    widths = [max(len(row[i]) for row in rows) for i in range(last)]
    lines = []
    for row in rows:
        # numbers (the index, the bytes) line up on the right
        cells = [row[i].rjust(widths[i]) if i in (0, 4) else row[i].ljust(widths[i])
                 for i in range(last)]  # fmt: skip
        lines.append(("  " + "  ".join(cells) + "  " + row[last]).rstrip())
    if any(i["kind"] == "constant" for r in records for i in r["inputs"]):
        lines.append("  (inputs: #k is node k's output; - is an input that needs no gradient)")
    return "\n".join(lines)


def records(context) -> list[dict]:
    """The tape as plain data, one dict a node (what ``print`` and the widgets show).

    This is ``ctx.records()``.
    """
    return [node_record(node) for node in context.nodes]


def context_table(context) -> str:
    """A title line, then the tape as a table: this is ``print(ctx)``."""
    title = f"Context {context.name!r}" if context.name else "Context"
    state = "" if context.is_recording() else ", not recording"
    header = f"{title}: {len(context.nodes)} nodes{state}"
    if not context.nodes:
        return header
    total = (
        f"  saved in all: {format_bytes(saved_bytes(context))} "
        "(a tensor several nodes saved counts once)"
    )
    return f"{header}\n{format_table(records(context))}\n{total}"


class ModuleScopes:
    """Which sub-module of a model recorded each node: ``scopes.module_of(node)``.

    Made by :func:`module_scopes`. A node recorded inside several nested
    modules belongs to the innermost (``"blocks.0.self_attn"``, not
    ``"blocks.0"``); one recorded by the model's own ``forward`` to none.
    Nodes are held weakly: the scopes keep no tape alive.
    """

    def __init__(self) -> None:
        self.names: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def module_of(self, node) -> str | None:
        return self.names.get(node)

    def __len__(self) -> int:
        return len(self.names)


@contextmanager
def module_scopes(model) -> Iterator[ModuleScopes]:
    """Inside the block, note which sub-module of ``model`` records each node::

        with mg.module_scopes(model) as scopes:
            loss = mg.cross_entropy(model(x), y)
        widgets.draw_tape(loss, params=model, modules=scopes)   # one cluster per module

    Each sub-module's ``forward`` is wrapped for the block only (nothing is
    left behind, even on an error): it counts the tape's nodes before and
    after the call. Outside such a block a model records exactly as before,
    at no cost.
    """
    scopes = ModuleScopes()
    tapes = {p.context for p in model.parameters()}
    wrapped = []

    def wrap(name: str, forward):
        def scoped_forward(*args, **kwargs):
            before = {tape: len(tape.nodes) for tape in tapes | {default_context()}}
            out = forward(*args, **kwargs)
            for tape, start in before.items():
                for node in tape.nodes[start:]:
                    scopes.names.setdefault(node, name)  # inner modules finish first
            return out

        return scoped_forward

    try:
        for name, module in model.named_modules():
            if name:
                object.__setattr__(module, "forward", wrap(name, module.forward))
                wrapped.append(module)
        yield scopes
    finally:
        for module in wrapped:
            object.__delattr__(module, "forward")
