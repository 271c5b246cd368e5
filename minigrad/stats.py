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

from minigrad.variable import Variable, tensor_of


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


def parameter_stats(name: str, value: torch.Tensor, grad, before=None) -> dict:
    """One parameter's row: name, shape, missing, and the statistics above.

    The row's keys: ``mean_abs``, ``max_abs``, ``norm`` (of the gradient),
    ``weight_norm`` and ``update_ratio``. ``value`` is the parameter after
    the step, ``grad`` its gradient (``None``: ``missing``, NaN statistics),
    ``before`` its value before the step (``None``, or all zeros as a fresh
    bias: the update ratio is NaN, undefined rather than infinite). Sums run
    in float32 at least; the numbers come back to Python in one transfer.
    """
    value = value.detach()
    # float16/bfloat16 would round the sums: accumulate those in float32.
    wide = {} if value.dtype in (torch.float32, torch.float64) else {"dtype": torch.float32}
    norm = torch.linalg.vector_norm
    numbers = [norm(value, **wide)]
    kind = numbers[0].dtype
    if grad is not None:
        g = grad.detach()
        if g.numel():
            size = g.abs()
            numbers += [size.mean(**wide), size.amax(), norm(g, **wide)]
        else:
            numbers += [torch.zeros((), dtype=kind, device=value.device)] * 3
    if before is not None:
        before = before.detach().to(value.device)
        numbers += [norm(before, **wide), norm(value - before, **wide)]
    floats = torch.stack(numbers).tolist()  # (stack promotes a mixed dtype)
    row = {"name": name, "shape": tuple(value.shape), "weight_norm": floats.pop(0)}
    if grad is None:
        row.update(missing=True, mean_abs=math.nan, max_abs=math.nan, norm=math.nan)
    else:
        mean_abs, max_abs, norm = floats[:3]
        floats = floats[3:]
        row.update(missing=False, mean_abs=mean_abs, max_abs=max_abs, norm=norm)
    if before is None or floats[0] == 0.0:
        row["update_ratio"] = math.nan
    else:
        row["update_ratio"] = floats[1] / floats[0]
    return row


def many_parameter_stats(names: list[str], values: list, grads: list, befores: list) -> list[dict]:
    """:func:`parameter_stats` for many parameters at once: the same rows, faster.

    The readable formula is :func:`parameter_stats`, one parameter at a time,
    about ten small torch calls each. When every parameter is float32 or
    float64 on one device, with a gradient and a "before", the same sums run
    as torch's multi-tensor norms (one call per statistic for all of them)
    and come back in one transfer: mean |g| is the 1-norm over the count,
    max |g| the inf-norm. tests/test_widgets_training.py proves the two equal.
    """
    tensors = [*values, *grads, *befores]
    fast = (
        hasattr(torch, "_foreach_norm")
        and all(t is not None and t.numel() for t in tensors)
        and len({(t.device, t.dtype) for t in tensors}) == 1
        and values[0].dtype in (torch.float32, torch.float64)
    )
    if not fast:
        return [parameter_stats(*row) for row in zip(names, values, grads, befores)]
    norms = [
        torch._foreach_norm(values, 2),
        torch._foreach_norm(grads, 1),
        torch._foreach_norm(grads, math.inf),
        torch._foreach_norm(grads, 2),
        torch._foreach_norm(befores, 2),
        torch._foreach_norm(torch._foreach_sub(values, befores), 2),
    ]
    table = torch.stack([torch.stack(column) for column in norms]).tolist()
    rows = []
    for j, (name, value) in enumerate(zip(names, values)):
        weight, l1, biggest, l2, old, moved = (column[j] for column in table)
        ratio = math.nan if old == 0.0 else moved / old
        rows.append({"name": name, "shape": tuple(value.shape), "weight_norm": weight,
                     "missing": False, "mean_abs": l1 / value.numel(), "max_abs": biggest,
                     "norm": l2, "update_ratio": ratio})  # fmt: skip
    return rows


def gradient_stats(source, before: dict | None = None) -> list[dict]:
    """One :func:`parameter_stats` row per parameter of ``source`` (a model, dict or list).

    ``before`` maps names to the parameter values before the last optimiser
    step (see :func:`snapshot`); without it, ``update_ratio`` is NaN.
    """
    before = before or {}
    return [
        # tensor_of: after backward(create_graph=True) a gradient is a Variable
        parameter_stats(name, p.value, tensor_of(p.grad), before.get(name))
        for name, p in named_parameters(source)
    ]


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
