"""A tape replayed one node at a time, as plain data (what the TapeViewer steps through).

``trace(root)`` reads a retained tape twice and writes down what happens:

* forward, node by node in tape order: the value each op computed;
* backward, node by node in reverse: the gradient arriving at the node's
  output (complete, i.e. summed over every use), the local gradients its
  gate hands to each input, and whether an input already held a gradient
  from another use, in which case the new one is *added* (accumulation).

The backward half is backprop's own walk (:func:`minigrad.backprop.reverse_walk`
and :func:`~minigrad.backprop.leaf_gradients`), summarised instead of
written: the same hooks run, the same zeros fill an unused output, the same
checks refuse a gradient of the wrong shape. No ``.grad`` is touched and no
node released, but the walk needs a tape that is still there: build it in
``mg.Context(keep_outputs=True)`` (so every value can be shown) and call
``trace`` before ``backward``, or after ``backward(retain_graph=True)``.

Every tensor is reduced to a :func:`summarize` dict of plain Python numbers
(every element of a small tensor, statistics of a large one), so the result
can be printed, compared and drawn without torch.

A tape on which ``create_graph=True`` recorded a backward holds two programs:
the function, then its backward. Traced from a root computed from the
recorded gradients, the forward steps run through both, and each step of the
second says ``backward_of``: the node of the first whose backward made it.
"""

from __future__ import annotations

from minigrad.backprop import leaf_gradients, reverse_walk, seed_gradient
from minigrad.errors import ArgumentTypeError, TapeError
from minigrad.inspect import describe_parent
from minigrad.variable import Variable

SHOWN_IN_FULL = 8  # a tensor with at most this many elements is shown value by value


def _nested(values) -> str:
    """``[[1, -0.5], [2, 3]]``: nested lists of numbers, 4 significant digits each."""
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return f"{values:.4g}"


def summarize(tensor) -> dict | None:
    """A tensor as plain numbers: shape, mean, std, min, max, norm (``None`` stays ``None``).

    A tensor of at most ``SHOWN_IN_FULL`` elements also carries ``values``
    (its elements, as nested lists). ``text`` is a short human form: the
    number itself for a scalar, every element for a small tensor, otherwise
    ``mean ± std``.

    >>> import torch
    >>> summarize(torch.tensor([1.0, 3.0]))["text"]
    '[1, 3]'
    >>> summarize(torch.arange(12.0))["text"]
    'μ 5.5 ± 3.61'
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
    if n <= SHOWN_IN_FULL:
        summary["values"] = t.tolist()
        summary["text"] = _nested(summary["values"])
    else:
        summary["text"] = f"μ {mean:.3g} ± {std:.3g}"
    return summary


def trace(root: Variable, grad=None) -> list[dict]:
    """Forward then backward steps over the tape that produced ``root``, as plain dicts.

    Each step has ``step``, ``phase`` ("forward" or "backward"), ``index`` and
    ``op`` of the node. A forward step adds ``values`` (one summary per
    output, ``None`` if that Variable was freed). A backward step adds
    ``grad_output`` (the gradient arriving at each output), ``grad_inputs``
    (one per input: its ``label``, ``kind``, the local gradient ``grad`` sent
    to it, ``accumulated`` = it already had a gradient that this one is added
    to, and ``total``: its gradient so far, this node's share included).
    Nodes no gradient reaches are skipped in the backward phase, as backprop
    skips them.

    ``grad`` is the seed gradient, needed only when ``root`` has more than
    one element (as for ``backward``).
    """
    if not isinstance(root, Variable):
        raise ArgumentTypeError(
            f"trace: expected a minigrad Variable, got {type(root).__name__}\n"
            "help: pass the output of minigrad ops, e.g. trace(loss)"
        )
    if root.node is None:
        return []
    if root.node.released:
        raise TapeError(
            "trace: the tape behind this Variable has been emptied by backprop\n"
            "help: call trace before backward(), or use backward(retain_graph=True)"
        )
    steps: list[dict] = []
    for node in root.context.nodes[: root.node.index + 1]:
        values = [summarize(v.value) if v is not None else None for v in node.payload.outputs()]
        steps.append(
            {"step": len(steps), "phase": "forward", "index": node.index, "op": node.op,
             "values": values, "backward_of": node.backward_of}
        )  # fmt: skip

    sums: dict = {}  # the walk's own running sums, read after each step
    reached = set()  # (target, slot) pairs some gradient has already reached
    for node, grads, sent in reverse_walk(root, seed_gradient(root, grad, "trace"), sums):
        inputs = []
        for position, parent in enumerate(node.parents):
            g = sent[position]
            called_with = node.inputs[position] if node.inputs else None
            described = describe_parent(parent, called_with)
            if parent is None or g is None:  # no gradient travels to this input
                inputs.append({"label": described["label"], "kind": described["kind"],
                               "grad": None, "accumulated": False, "total": None})  # fmt: skip
                continue
            target, slot = parent
            accumulated = parent in reached
            reached.add(parent)
            inputs.append(
                {
                    "label": described["label"],
                    "kind": described["kind"],
                    "target": None if target.is_leaf else [target.index, slot],
                    "grad": summarize(g),
                    "accumulated": accumulated,
                    "total": summarize(sums[target][slot]),
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
    leaf_gradients(sums)  # the walk's last step: the leaves' hooks and checks, as in backprop
    return steps
