"""Checking a saved optimiser state before any of it is loaded.

``Optimizer.load_state_dict`` is all or nothing: these functions read the
saved param groups and per-parameter state, check every value the way the
optimiser checks its own (hyper-parameters through ``check_hyper_parameters``,
state tensors against their parameter's shape), and return what is to be
written. Only then does the optimiser write it.
"""

from __future__ import annotations

import torch

from minigrad.errors import CheckpointError, HyperParameterError, SetupError, format_shape
from minigrad.variable import Variable


def check_saved_groups(optimizer, saved_groups, where: str) -> list[dict]:
    """The settings of each saved param group, checked as the optimiser checks its own."""
    if not isinstance(saved_groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("params"), list) for g in saved_groups
    ):
        raise CheckpointError(
            f"{where}: 'param_groups' must be a list of dicts, each with a 'params' list\n"
            "help: pass what optimizer.state_dict() returned"
        )
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    saved_sizes = [len(g["params"]) for g in saved_groups]
    if sizes != saved_sizes:
        raise CheckpointError(
            f"{where}: saved param groups have {saved_sizes} parameters, this optimiser "
            f"has {sizes}\nhelp: build the model and optimiser exactly as when the state "
            "was saved"
        )
    checked = []
    for i, (group, saved) in enumerate(zip(optimizer.param_groups, saved_groups)):
        settings = {k: v for k, v in saved.items() if k != "params"}
        if isinstance(settings.get("betas"), list):
            settings["betas"] = tuple(settings["betas"])
        try:
            optimizer.check_group_keys(saved, ".load_state_dict", exact=True)
            full = optimizer.check_hyper_parameters({**group, **settings})
        except (HyperParameterError, SetupError) as error:
            raise CheckpointError(f"{where}: saved param group {i}: {error}") from None
        checked.append({k: v for k, v in full.items() if k != "params"})
    return checked


def check_saved_state(optimizer, saved_state, where: str) -> dict[int, dict]:
    """The saved per-parameter memory, each entry checked and moved next to its parameter."""
    if not isinstance(saved_state, dict):
        raise CheckpointError(
            f"{where}: 'state' must be a dict, got {type(saved_state).__name__}\n"
            "help: pass what optimizer.state_dict() returned"
        )
    params = optimizer.parameters()
    state = {}
    for key, entry in saved_state.items():
        if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key < len(params):
            raise CheckpointError(
                f"{where}: state entry {key!r} is not a parameter position "
                f"(0..{len(params) - 1})\nhelp: load a state saved on the same model"
            )
        if not isinstance(entry, dict) or set(entry) - set(optimizer.state_keys):
            raise CheckpointError(
                f"{where}: state entry {key} holds {entry!r:.60}, expected keys among "
                f"{list(optimizer.state_keys)}\n"
                "help: load a state saved by the same kind of optimiser on the same model"
            )
        state[key] = {
            name: _checked_entry(value, optimizer.state_keys[name], params[key], where, key, name)
            for name, value in entry.items()
        }
    return state


def _checked_entry(value, kind: str, param: Variable, where: str, position: int, name: str):
    """A saved state entry, checked, on the parameter's device (and dtype, if floating)."""
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(
                f"{where}: state[{position}][{name!r}] must be a step count >= 1, got "
                f"{value!r:.40}\nhelp: load a state saved by the same kind of optimiser"
            )
        return value
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise CheckpointError(
            f"{where}: state[{position}][{name!r}] must be a floating tensor, got "
            f"{type(value).__name__}\nhelp: load a state saved by the same kind of optimiser"
        )
    if value.shape != param.shape:
        raise CheckpointError(
            f"{where}: saved {name!r} of parameter {position} has shape "
            f"{format_shape(value.shape)}, the parameter has {format_shape(param.shape)}\n"
            "help: build the model exactly as when the state was saved"
        )
    return value.to(device=param.device, dtype=param.dtype).clone()
