"""Gradient statistics per parameter, as plain numbers (what GradientFlow draws).

For a parameter p with gradient g, after an optimiser step that changed p
from p_before to p_after:

    mean |g|       average size of one element's gradient
    max |g|        the largest element (one exploding weight shows here first)
    ||g||          the L2 norm of the whole gradient
    update ratio   ||p_after - p_before|| / ||p_before||, how far one step moved
                   the weights relative to their size (about 1e-3 is healthy;
                   much smaller learns nothing, much larger is unstable)
"""

from __future__ import annotations

import math

import torch

from minigrad.variable import Variable


def named_parameters(source) -> list[tuple[str, Variable]]:
    """``(name, Variable)`` pairs from a model, a dict, or a list of Variables or pairs.

    A model is anything with ``named_parameters()`` (or ``parameters()``, whose
    Variables are then named by their ``.name`` or position).
    """
    if hasattr(source, "named_parameters"):
        return [(str(n), p) for n, p in source.named_parameters()]
    if isinstance(source, dict):
        return [(str(n), p) for n, p in source.items()]
    if hasattr(source, "parameters"):
        source = list(source.parameters())
    pairs = []
    for i, item in enumerate(source):
        if isinstance(item, Variable):
            pairs.append((item.name or f"param{i}", item))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            pairs.append((str(item[0]), item[1]))
        else:
            raise TypeError(
                f"named_parameters: expected Variables or (name, Variable) pairs, got "
                f"{type(item).__name__}\nhelp: pass the model itself, a dict name -> Variable, "
                "or model.named_parameters()"
            )
    return pairs


def gradient_stats(source, before: dict | None = None) -> list[dict]:
    """One dict per parameter: name, shape, mean_abs, max_abs, norm, weight_norm, update_ratio.

    ``before`` maps names to the parameter values before the last optimiser
    step (see :func:`snapshot`); without it, or when they were all zero,
    ``update_ratio`` is NaN. A
    parameter without a gradient gets ``missing = True`` and NaN statistics.
    """
    rows = []
    for name, p in named_parameters(source):
        value = p.value.detach().double()
        weight_norm = float(value.norm())
        row = {"name": name, "shape": tuple(p.shape), "weight_norm": weight_norm}
        g = p.grad
        if g is None:
            row.update(missing=True, mean_abs=math.nan, max_abs=math.nan, norm=math.nan)
        else:
            g = g.detach().double()
            row.update(
                missing=False,
                mean_abs=float(g.abs().mean()) if g.numel() else 0.0,
                max_abs=float(g.abs().max()) if g.numel() else 0.0,
                norm=float(g.norm()),
            )
        old = (before or {}).get(name)
        if old is None or float(old.norm()) == 0.0:
            # No earlier value, or weights that were all zero (a fresh bias):
            # the ratio is undefined, not infinite.
            row["update_ratio"] = math.nan
        else:
            old = old.double().to(value.device)
            row["update_ratio"] = float((value - old).norm()) / float(old.norm())
        rows.append(row)
    return rows


def snapshot(source) -> dict[str, torch.Tensor]:
    """A copy of every parameter's value, by name, to measure the next update against."""
    return {name: p.value.detach().clone() for name, p in named_parameters(source)}


def gradient_flags(row: dict, vanishing: float = 1e-7, exploding: float = 1e2) -> list[str]:
    """Warnings for one :func:`gradient_stats` row: "missing", "vanishing", "exploding"."""
    if row["missing"]:
        return ["missing"]
    flags = []
    if not math.isfinite(row["norm"]) or row["max_abs"] > exploding:
        flags.append("exploding")
    elif row["mean_abs"] < vanishing:
        flags.append("vanishing")
    return flags
