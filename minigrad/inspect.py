"""The tape as plain data and as a printed table.

``ctx.records()`` gives one dict per node; ``print(ctx)`` prints them as a
table (:func:`records` and :func:`context_table` are those two methods, see
``minigrad/methods.py``). The widgets draw from these records, never from
private fields.

    Context: 3 nodes
      #  op    inputs  output  bytes  saved
      0  Mul   a, b    ()        8 B  a (), b ()
      1  Add   #0, c   ()        0 B  -
      2  Tanh  #1      ()        4 B  out ()
      saved in all: 12 B (a tensor several nodes saved counts once)

"bytes" is what the node's gate saved for its backward, and the last line
what the whole tape holds (``minigrad/memory.py``).
"""

from __future__ import annotations

from minigrad.errors import format_shape
from minigrad.memory import format_bytes, node_saved_bytes, saved_bytes
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


def node_record(node) -> dict:
    """One node as a dict: index, op, inputs, output shapes and names, saved tensors, formula.

    ``saved`` maps each saved tensor's name to its shape; ``saved_bytes`` is
    what they hold, in bytes (each storage once).
    """
    gate = node.gate
    outputs = node.payload.outputs()
    saved = (
        {} if gate is None else {name: tuple(t.shape) for name, t in gate.saved_tensors().items()}
    )
    return {
        "index": node.index,
        "op": node.op,
        "inputs": [
            describe_parent(p, node.inputs[i] if node.inputs else None)
            for i, p in enumerate(node.parents)
        ],
        "output_shapes": [tuple(s) for s in node.payload.shapes],
        "output_names": [v.name if v is not None else None for v in outputs],
        "saved": saved,
        "saved_bytes": node_saved_bytes(node),
        "formula": formula(gate) if gate is not None else "",
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
    rows = [("#", "op", "inputs", "output", "bytes", "saved")]
    for r in records:
        inputs = listed([i["label"] for i in r["inputs"]])
        outputs = listed([format_shape(s) for s in r["output_shapes"]])
        saved = listed([f"{k} {format_shape(v)}" for k, v in r["saved"].items()]) or "-"
        size = format_bytes(r["saved_bytes"]) if "saved_bytes" in r else "-"
        rows.append((str(r["index"]), r["op"], inputs, outputs, size, saved))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        # numbers (the index, the bytes) line up on the right
        cells = [cell.rjust(w) if i in (0, 4) else cell.ljust(w) for i, (cell, w) in
                 enumerate(zip(row, widths))]  # fmt: skip
        lines.append("  " + "  ".join(cells) + "  " + row[5])
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
