"""The table a Module prints: each layer, its output shape and its parameter count.

Output shapes come from the last forward call (every ``module(x)`` records
the shape it returned), so the table can be printed before any forward (the
shapes then show as "-") and ``model.summary(input_shape)`` fills them in by
running one sample batch.
"""

from __future__ import annotations

import torch

from minigrad.tape import no_grad
from minigrad.variable import Variable


def run_sample(module, input_shape, dtype=None, device=None) -> None:
    """Run one batch of zeros through ``module`` in eval mode, recording nothing."""
    first = next(iter(module.variables.values()), None)
    if dtype is None:
        dtype = first.dtype if first is not None else torch.float32
    if device is None:
        device = first.device if first is not None else None
    sample = Variable(torch.zeros(tuple(input_shape), dtype=dtype, device=device))
    with no_grad():
        module(sample, training=False)


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
                "output_shape": sub.last_output_shape,
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
