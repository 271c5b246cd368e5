"""A tape replayed one node at a time, as plain data (what the TapeViewer steps through).

``trace(root)`` walks a retained tape twice and writes down what happens:

* forward, node by node in tape order: the value each op computed;
* backward, node by node in reverse: the gradient arriving at the node's
  output (complete, i.e. summed over every use), the local gradients its
  gate hands to each input, and whether an input already held a gradient
  from another use, in which case the new one is *added* (accumulation).

It repeats backprop's loop (``minigrad/backprop.py``) without touching any
``.grad`` and without releasing a node, so it needs a tape that is still
there: build it in ``mg.Context(keep_outputs=True)`` (so every value can be
shown) and call ``trace`` before ``backward``, or after
``backward(retain_graph=True)``.

Every tensor is reduced to a :func:`summarize` dict of plain Python numbers,
so the result can be printed, compared and drawn without torch.
"""

from __future__ import annotations

import torch

from minigrad.errors import TapeError, format_shape
from minigrad.inspect import describe_parent
from minigrad.variable import Variable


def summarize(tensor) -> dict | None:
    """A tensor as plain numbers: shape, mean, std, min, max, norm (``None`` stays ``None``).

    ``text`` is a short human form: the number itself for one element,
    otherwise ``mean ± std``.

    >>> summarize(torch.tensor([1.0, 3.0]))["text"]
    'μ 2 ± 1.41'
    """
    if tensor is None:
        return None
    t = tensor.detach().double().cpu()
    n = t.numel()
    if n == 0:
        return {"shape": tuple(tensor.shape), "numel": 0, "text": "empty"}
    mean = float(t.mean())
    std = float(t.std()) if n > 1 else 0.0
    summary = {
        "shape": tuple(tensor.shape),
        "numel": n,
        "mean": mean,
        "std": std,
        "min": float(t.min()),
        "max": float(t.max()),
        "norm": float(t.norm()),
        "mean_abs": float(t.abs().mean()),
    }
    summary["text"] = f"{mean:.4g}" if n == 1 else f"μ {mean:.3g} ± {std:.3g}"
    return summary


def _target(parent) -> tuple:
    """A hashable key for where a gradient goes: ('leaf', id) or ('node', index, slot)."""
    if isinstance(parent, Variable):
        return ("leaf", id(parent))
    node, slot = parent
    return ("node", node.index, slot)


def _label(parent) -> str:
    if isinstance(parent, Variable):
        return parent.name or f"leaf{format_shape(parent.shape)}"
    node, slot = parent
    return f"#{node.index}" if len(node.payload) == 1 else f"#{node.index}[{slot}]"


def trace(root: Variable, grad=None) -> list[dict]:
    """Forward then backward steps over the tape that produced ``root``, as plain dicts.

    Each step has ``step``, ``phase`` ("forward" or "backward"), ``index`` and
    ``op`` of the node. A forward step adds ``values`` (one summary per
    output, ``None`` if that Variable was freed). A backward step adds
    ``grad_output`` (the gradient arriving at each output), ``grad_inputs``
    (one per input: its ``label``, ``kind``, the local gradient ``grad`` sent
    to it, ``accumulated`` = it already had a gradient that this one is added
    to, and ``total``: its gradient so far). Nodes no gradient reaches are
    skipped in the backward phase, as backprop skips them.

    ``grad`` is the seed gradient, needed only when ``root`` has more than
    one element (as for ``backward``).
    """
    if not isinstance(root, Variable):
        raise TypeError(f"trace expects a Variable, got {type(root).__name__}")
    if root.node is None:
        return []
    if root.node.released or root.node.gate is None:
        raise TapeError(
            "trace: the tape behind this Variable has been emptied by backprop\n"
            "help: call trace before backward(), or use backward(retain_graph=True)"
        )
    tape = root.context.nodes[: root.node.index + 1]
    steps: list[dict] = []
    for node in tape:
        values = [summarize(v.value) if v is not None else None for v in node.payload.outputs()]
        steps.append(
            {"step": len(steps), "phase": "forward", "index": node.index, "op": node.op,
             "values": values}
        )  # fmt: skip

    if grad is None:
        if root.value.numel() != 1:
            raise TapeError(
                f"trace: the output has shape {format_shape(root.shape)}, not a single number\n"
                "help: pass the seed gradient, e.g. trace(y, grad=torch.ones_like(y.value))"
            )
        grad = torch.ones_like(root.value)
    elif isinstance(grad, Variable):
        grad = grad.value

    pending: dict[tuple, torch.Tensor] = {_target((root.node, root.output_index)): grad}
    for node in reversed(tape):
        grads = [pending.pop(("node", node.index, s), None) for s in range(len(node.payload))]
        if all(g is None for g in grads):
            continue
        if len(grads) == 1:
            grad_output = grads[0]
        else:  # an output nobody used sends back zeros, as in backprop
            grad_output = tuple(
                g if g is not None else torch.zeros(node.payload.shapes[i], dtype=grad.dtype)
                for i, g in enumerate(grads)
            )
        local = node.gate.backward(grad_output)
        inputs = []
        for position, (parent, g) in enumerate(zip(node.parents, local)):
            if parent is None or g is None:  # no gradient travels to this input
                called_with = node.inputs[position] if node.inputs else None
                described = describe_parent(parent, called_with)
                inputs.append({"label": described["label"], "kind": described["kind"],
                               "grad": None, "accumulated": False, "total": None})  # fmt: skip
                continue
            key = _target(parent)
            held = pending.get(key)
            total = g if held is None else held + g
            pending[key] = total
            inputs.append(
                {
                    "label": _label(parent),
                    "kind": "leaf" if key[0] == "leaf" else "node",
                    "target": list(key[1:]) if key[0] == "node" else None,
                    "grad": summarize(g),
                    "accumulated": held is not None,
                    "total": summarize(total),
                }
            )
        steps.append(
            {
                "step": len(steps),
                "phase": "backward",
                "index": node.index,
                "op": node.op,
                "grad_output": [summarize(g) for g in grads],
                "grad_inputs": inputs,
            }
        )
    return steps
