"""minigrad's tape as a plain graph description: what draw_tape and TapeViewer draw.

Everything here reads public pieces only: ``ctx.records()`` (one dict per
node), ``node.parents`` (to reach the leaf Variables and their values: a
leaf's edge points at its ``Leaf``, whose ``variable`` it is),
``node.payload.outputs()`` (the output Variables, kept alive by
``Context(keep_outputs=True)``) and :func:`minigrad.trace.summarize`.
"""

from __future__ import annotations

import minigrad as mg
from minigrad.stats import named_parameters
from minigrad.trace import summarize


def tape_of(source) -> tuple[list, mg.Variable | None]:
    """The nodes to draw and the root Variable (if any), from a Context or a Variable."""
    if isinstance(source, mg.Context):
        return list(source.nodes), None
    if isinstance(source, mg.Variable):
        if source.node is None:
            return [], source
        if source.node.released:
            raise mg.TapeError(
                "draw_tape: this Variable's tape was emptied by backprop\n"
                "help: draw before backward(), or call backward(retain_graph=True)"
            )
        return list(source.context.nodes[: source.node.index + 1]), source
    raise TypeError(
        f"expected a minigrad Context or Variable, got {type(source).__name__}\n"
        "help: pass the tape (ctx) or the output Variable (e.g. the loss)"
    )


def _is_parameter(variable, params: set | None) -> bool:
    if params is not None:
        return id(variable) in params
    name = (variable.name or "").lower()
    return variable.requires_grad and ("weight" in name or "bias" in name or "." in name)


def _module_of(name: str | None) -> str | None:
    """``"fc1"`` for a parameter named ``"fc1.weight"``; ``None`` without a dot."""
    if not name or "." not in name:
        return None
    return name.rsplit(".", 1)[0]


def tape_graph(
    source, max_nodes: int | None = 300, params=None, summaries: bool = True, modules=None
) -> dict:
    """The tape as ``{"ops", "leaves", "edges", "folded", "root"}`` of plain values.

    ``ops`` holds each drawn node's record (``ctx.records()``) plus
    ``outputs`` (name, shape, value and gradient summaries, ``is_output``)
    and ``module`` (the sub-module that recorded it: from ``modules``, a
    :func:`minigrad.module_scopes` record, or else the one sub-module whose
    parameters it takes, if any).
    Past ``max_nodes`` ops, the earliest ones are folded: ``folded`` says how
    many, and edges from them start at ``"fold"``.
    """
    scopes = modules
    nodes, root = tape_of(source)
    # With the model given, parameters get their dotted paths ("0.weight"),
    # which also says which sub-module each belongs to.
    param_names = None if params is None else {id(p): n for n, p in named_parameters(params)}
    param_ids = None if param_names is None else set(param_names)
    folded = 0
    if max_nodes is not None and len(nodes) > max_nodes:
        folded = len(nodes) - max_nodes
        nodes = nodes[folded:]
    first = nodes[0].index if nodes else 0
    from minigrad.inspect import node_record

    used = set()  # (index, slot) of outputs some drawn node consumes
    leaves: dict[int, dict] = {}
    ops = []
    edges = []
    for node in nodes:
        record = node_record(node)
        modules = set()
        for position, (parent, described) in enumerate(zip(node.parents, record["inputs"])):
            if described["kind"] in ("leaf", "input"):  # input: a Variable needing no grad
                # A leaf's edge points at its Leaf, which holds the Variable (weakly:
                # on a plain tape a leaf the learner dropped is drawn by its shape).
                variable = (
                    node.inputs[position] if described["kind"] == "input" else parent[0].variable
                )
                key = id(variable) if variable is not None else id(parent[0])
                if variable is None and key not in leaves:
                    leaves[key] = {"id": key, "name": None, "label": described["label"],
                                   "shape": described["shape"], "parameter": False,
                                   "requires_grad": True, "value": None, "grad": None,
                                   "module": None}  # fmt: skip
                if key not in leaves:
                    name = (param_names or {}).get(key, variable.name)
                    leaves[key] = {
                        "id": key,
                        "name": name,
                        "label": name or described["label"],
                        "shape": tuple(variable.shape),
                        "parameter": _is_parameter(variable, param_ids),
                        "requires_grad": variable.requires_grad,
                        "value": summarize(variable.value) if summaries else None,
                        "grad": summarize(variable.grad) if summaries else None,
                        "module": _module_of(name),
                    }
                if leaves[key]["module"]:
                    modules.add(leaves[key]["module"])
                edges.append({"from": ("leaf", key), "to": node.index, "input": position})
            elif described["kind"] == "node":
                used.add((described["index"], described["slot"]))
                start = (
                    ("fold",)
                    if described["index"] < first
                    else ("var", described["index"], described["slot"])
                )
                edges.append({"from": start, "to": node.index, "input": position})
        outputs = []
        for slot, variable in enumerate(node.payload.outputs()):
            outputs.append(
                {
                    "slot": slot,
                    "name": record["output_names"][slot],
                    "shape": record["output_shapes"][slot],
                    "value": summarize(variable.value)
                    if summaries and variable is not None
                    else None,
                    "grad": summarize(variable.grad)
                    if summaries and variable is not None
                    else None,
                }
            )
        record["outputs"] = outputs
        recorded_in = scopes.module_of(node) if scopes is not None else None
        record["module"] = recorded_in or (modules.pop() if len(modules) == 1 else None)
        ops.append(record)
    for record in ops:
        for out in record["outputs"]:
            out["is_output"] = (record["index"], out["slot"]) not in used
    # Edges out of the fold node: one per (fold, consumer) pair is enough.
    seen = set()
    unique = []
    for e in edges:
        key = (e["from"], e["to"]) if e["from"] == ("fold",) else id(e)
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return {
        "ops": ops,
        "leaves": list(leaves.values()),
        "edges": unique,
        "folded": folded,
        "root": None if root is None else (root.node.index if root.node else None),
    }
