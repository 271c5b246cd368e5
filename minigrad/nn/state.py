"""Copying values into a module's Variables, all or nothing.

``load_state_dict``, ``set_params`` and ``update`` all copy named values into
Variables in place. Each first checks *everything* (names missing or
unexpected, values that are None or not tensors, shapes, dtypes) and only then
copies, so a state that does not fit changes nothing::

    pairs = check_values(table, values, "load_state_dict", ...)   # may raise; writes nothing
    copy_values(pairs)                                             # cannot fail halfway

The dtype must match exactly: copying float64 values into a float32 model
would round them silently (cast one side first, e.g. ``model.to(torch.float64)``).
Devices may differ (a checkpoint read on the CPU loads into a model on the GPU).
"""

from __future__ import annotations

import numpy as np
import torch

from minigrad.errors import CheckpointError, format_shape
from minigrad.variable import Variable


def _as_tensor(value):
    """The tensor inside ``value``, or None when it holds none."""
    if isinstance(value, Variable):
        return value.value.detach()
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(value)
    return None


def check_values(
    table: dict[str, Variable],
    values,
    where: str,
    missing_ok: bool,
    unexpected_ok: bool,
    required: list[str] | None = None,
    hint: str = "load a state saved from the same architecture and dtype (model.to(dtype) "
    "casts a model)",
) -> tuple[list[tuple[Variable, torch.Tensor]], list[str], list[str]]:
    """``(pairs to copy, missing names, unexpected names)``, or a CheckpointError listing
    every problem at once.

    ``table`` maps names to the Variables that may be written; ``required``
    (default: all of them) are the names that must be present unless
    ``missing_ok``.
    """
    if not isinstance(values, dict):
        raise CheckpointError(
            f"{where}: expected a dict of name -> tensor, got {type(values).__name__}\n"
            "help: pass what model.state_dict() returned"
        )
    required = list(table) if required is None else required
    missing = [name for name in required if name not in values]
    unexpected = [name for name in values if name not in table]
    problems, pairs = [], []
    if missing and not missing_ok:
        problems.append(f"missing keys: {missing}")
    if unexpected and not unexpected_ok:
        problems.append(f"unexpected keys: {unexpected}")
    for name, value in values.items():
        if name not in table:
            continue
        variable, tensor = table[name], _as_tensor(value)
        if tensor is None:
            problems.append(f"{name}: expected a tensor, got {type(value).__name__} {value!r:.40}")
        elif tuple(tensor.shape) != tuple(variable.shape):
            problems.append(
                f"{name}: checkpoint {format_shape(tensor.shape)}, "
                f"model {format_shape(variable.shape)} (shape mismatch)"
            )
        elif tensor.dtype != variable.dtype:
            problems.append(
                f"{name}: checkpoint {tensor.dtype}, model {variable.dtype} (dtype mismatch)"
            )
        else:
            pairs.append((variable, tensor))
    if problems:
        raise CheckpointError(
            f"{where}: the values do not fit, so nothing was changed:\n  "
            + "\n  ".join(problems)
            + f"\nhelp: {hint}"
        )
    return pairs, missing, unexpected


def copy_values(pairs: list[tuple[Variable, torch.Tensor]]) -> None:
    """Copy each checked tensor into its Variable's value, in place (the tensor object stays)."""
    for variable, tensor in pairs:
        variable.value.copy_(tensor)
