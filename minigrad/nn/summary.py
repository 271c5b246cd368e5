"""The table a Module prints: each layer, its output shape and its parameter count.

The parameter counts need nothing but the model. The output shapes need a
forward pass: ``model.summary(input_shape)`` runs one sample batch, watching
each sub-module's ``forward`` while it runs, and keeps the shapes it saw for
later tables. An ordinary ``model(x)`` records nothing, so the forward path
of training carries no bookkeeping for this table; before any ``summary``
the shapes show as "-".
"""

from __future__ import annotations

import torch

from minigrad.tape import no_grad
from minigrad.variable import Variable


def _watch(module, shapes: dict, name: str):
    """Wrap ``module.forward`` so each call stores its output's shape in ``shapes[name]``."""
    forward = module.forward  # the bound method, or an instance attribute (nimxla style)

    def watched(*args, **kwargs):
        out = forward(*args, **kwargs)
        shape = getattr(out, "shape", None)
        shapes[name] = tuple(shape) if shape is not None else None
        return out

    return watched


def record_output_shapes(module, input_shape, dtype=None, device=None) -> None:
    """Run one batch of zeros through ``module`` in eval mode, recording nothing on a tape.

    Every module of the tree keeps the shape its forward returned, for the table.
    """
    first = next(iter(module.state_dict().values()), None)
    if dtype is None:
        dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    if device is None:
        device = first.device if first is not None else None
    sample = Variable(torch.zeros(tuple(input_shape), dtype=dtype, device=device))
    shapes: dict[str, tuple | None] = {}
    tree = list(module.named_modules())
    own = [(sub, sub.__dict__.get("forward")) for _, sub in tree]
    try:
        for name, sub in tree:
            object.__setattr__(sub, "forward", _watch(sub, shapes, name))
        with no_grad():
            module(sample, training=False)
    finally:
        for sub, forward in own:
            if forward is None:
                object.__delattr__(sub, "forward")
            else:
                object.__setattr__(sub, "forward", forward)
    for name, sub in tree:
        object.__setattr__(sub, "_summary_shape", shapes.get(name))


def _shape(shape) -> str:
    if shape is None:
        return "-"
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def summary_rows(module) -> list[dict]:
    """One dict per module of the tree: name, type, output shape, own parameter count.

    Plain data, for a widget or a test; ``format_summary`` prints it.
    """
    rows = []
    for name, sub in module.named_modules():
        depth = name.count(".") + 1 if name else 0
        rows.append(
            {
                "name": name or "(model)",
                "depth": depth,
                "type": type(sub).__name__,
                "output_shape": sub.__dict__.get("_summary_shape"),
                "params": sum(v.numel() for v in sub._parameters.values()),
            }
        )
    return rows


def format_summary(module) -> str:
    """The table as text (what ``str(model)`` and ``model.info`` give)."""
    rows = summary_rows(module)
    cells = [
        (
            "  " * max(r["depth"] - 1, 0) + r["name"],
            r["type"],
            _shape(r["output_shape"]),
            f"{r['params']:,}",
        )
        for r in rows
    ]
    header = ("layer", "type", "output shape", "params")
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(4)]

    def line(row):
        left = "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths[:3]))
        return f"{left}  {row[3].rjust(widths[3])}"

    rule = "-" * len(line(header))
    total = module.parameter_count()
    learnable = module.parameter_count(learnable_only=True)
    state = sum(v.numel() for v in module.buffers())
    footer = f"parameters: {total:,} ({learnable:,} learnable)"
    if state:
        footer += f", state (buffers): {state:,} values"
    return "\n".join([line(header), rule, *(line(c) for c in cells), rule, footer])
