"""Optimizer: the base class that holds parameters, hyper-parameters and state.

An optimiser changes each parameter a little after every batch, using the
gradient backprop left in ``p.grad``::

    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        loss = mg.cross_entropy(model(x), y)
        opt.zero_grad()      # p.grad = None, so gradients do not pile up
        loss.backward()      # fills p.grad
        opt.step()           # p <- p - lr * (something made from p.grad)

The split follows torch.optim: the *update rule* of each algorithm is a plain
function on tensors (``sgd_update``, ``adam_update``) with its maths in the
docstring; the class only remembers things between steps:

* ``param_groups``: a list of dicts, each ``{"params": [...], "lr": ...,
  <other hyper-parameters>}``. Usually there is one group; several groups let
  parts of a model use different settings (no weight decay on biases, say).
* ``state``: per-parameter memory (momentum buffers, Adam's moments), keyed
  by the parameter's *position* in the optimiser (0, 1, 2 ... across all
  groups), so a saved state fits a fresh model built the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from minigrad.errors import CheckpointError
from minigrad.optim.validate import HyperParameterError, check_at_least
from minigrad.variable import Variable


class Optimizer:
    """Base class of every optimiser. Subclasses implement ``update(group, params)``.

    ``params`` may be a Module (anything with a ``.parameters()`` method), an
    iterable of Variables, or a list of dicts (param groups) each with a
    ``"params"`` entry and optional hyper-parameters that override
    ``defaults`` for that group. Only Variables with ``requires_grad`` and a
    ``.grad`` are changed by ``step()``; the others are kept (so positions stay
    stable when a layer is frozen) but skipped.
    """

    #: names of the per-parameter state entries this optimiser keeps
    state_keys: tuple[str, ...] = ()

    def __init__(self, params, defaults: dict):
        self.defaults = self.check_hyper_parameters(dict(defaults))
        self.param_groups: list[dict] = [self._make_group(g) for g in _as_groups(params)]
        seen: set[int] = set()
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) in seen:
                    raise ValueError(
                        f"{self.name}: the same Variable {_describe(p)} appears twice\n"
                        "help: give each parameter to one param group only"
                    )
                seen.add(id(p))
        # state[i] holds the memory of the i-th parameter (in group order).
        self.state: dict[int, dict] = {}

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- hyper-parameters -----------------------------------------------------
    def check_hyper_parameters(self, settings: dict) -> dict:
        """``settings`` with numbers made floats; HyperParameterError for a bad value.

        Subclasses extend it with their own hyper-parameters.
        """
        return {**settings, "lr": check_at_least(self.name, "lr", settings["lr"], 0.0, _LR_HINT)}

    def _make_group(self, given: dict) -> dict:
        unknown = set(given) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise HyperParameterError(
                f"{self.name}: param group has unknown setting(s) {sorted(unknown)}\n"
                f"help: a group may set {sorted(self.defaults)}"
            )
        group = {**self.defaults, **given, "params": _as_variables(given["params"], self.name)}
        if not group["params"]:
            raise ValueError(
                f"{self.name}: got an empty list of parameters\n"
                "help: pass model.parameters() of a model that has parameters"
            )
        return self.check_hyper_parameters(group)

    @property
    def lr(self) -> float:
        """The learning rate (of the first param group)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        """Set the learning rate of every param group (a scheduler calls this)."""
        value = check_at_least(self.name, "lr", value, 0.0, _LR_HINT)
        for group in self.param_groups:
            group["lr"] = value

    def learning_rate(self) -> float:
        """The learning rate (nimxla's ``learningRate``); the same as ``opt.lr``."""
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        """Set the learning rate (nimxla's ``setLearningRate``); the same as ``opt.lr = lr``."""
        self.lr = lr

    # -- the training-loop calls ---------------------------------------------
    def parameters(self) -> list[Variable]:
        """Every parameter, in position order (the keys of ``state``)."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        """Forget every gradient (``p.grad = None``) before the next backward pass."""
        for p in self.parameters():
            p.grad = None

    def step(self) -> None:
        """Update every parameter that requires a gradient and has one."""
        position = 0
        # Parameters are plain tensors; no_grad only guards against a value
        # that somehow carries torch's own autograd history.
        with torch.no_grad():
            for group in self.param_groups:
                todo = []
                for p in group["params"]:
                    if p.requires_grad and p.grad is not None:
                        todo.append((p, self.state.setdefault(position, {})))
                    position += 1
                if todo:
                    self.update(group, todo)

    def update(self, group: dict, todo: list[tuple[Variable, dict]]) -> None:
        """Apply the update rule to each ``(parameter, its state dict)`` in one group."""
        raise NotImplementedError(f"{self.name} must implement update(group, todo)")

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> dict:
        """A snapshot: ``{"state": {position: {name: tensor or number}}, "param_groups": [...]}``.

        Only tensors, numbers, bools, tuples, lists and dicts, so
        ``torch.save`` / ``torch.load(weights_only=True)`` can carry it across
        a restart. Tensors are copies: later steps do not change the snapshot.
        """
        groups = []
        position = 0
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = list(range(position, position + len(group["params"])))
            position += len(group["params"])
            groups.append(saved)
        state = {
            i: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in entry.items()}
            for i, entry in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict()``.

        The optimiser must have been built on the same parameters, in the same
        order and groups. Tensors are moved to each parameter's device and
        floating state to its dtype.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise CheckpointError(
                f"{self.name}.load_state_dict: expected a dict with 'state' and 'param_groups'\n"
                "help: pass what optimizer.state_dict() returned"
            )
        saved_groups = state_dict["param_groups"]
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g.get("params", ())) for g in saved_groups]
        if sizes != saved_sizes:
            raise CheckpointError(
                f"{self.name}.load_state_dict: saved param groups have {saved_sizes} "
                f"parameters, this optimiser has {sizes}\n"
                "help: build the model and optimiser exactly as when the state was saved"
            )
        params = self.parameters()
        state = {}
        for key, entry in state_dict["state"].items():
            position = int(key)
            if not 0 <= position < len(params) or not set(entry) <= set(self.state_keys):
                raise CheckpointError(
                    f"{self.name}.load_state_dict: state entry {key!r} with keys "
                    f"{sorted(entry)} does not fit (expected positions 0..{len(params) - 1} "
                    f"and keys among {list(self.state_keys)})\n"
                    "help: load a state saved by the same kind of optimiser on the same model"
                )
            state[position] = {
                k: _to_like(v, params[position], self.name, k) for k, v in entry.items()
            }
        for group, saved in zip(self.param_groups, saved_groups):
            settings = {k: v for k, v in saved.items() if k != "params"}
            if isinstance(settings.get("betas"), list):
                settings["betas"] = tuple(settings["betas"])
            group.update(self.check_hyper_parameters({**group, **settings}))
        self.state = state

    # -- printing -------------------------------------------------------------
    def describe_group(self, group: dict) -> str:
        """The settings of one group, as ``lr=0.1 momentum=0.9``; subclasses add theirs."""
        return f"lr={group['lr']}"

    def __str__(self) -> str:
        return f"{self.name}({'; '.join(self.describe_group(g) for g in self.param_groups)})"

    __repr__ = __str__


_LR_HINT = "the learning rate is a step size: use a small positive number such as 0.01"


def _describe(p: Variable) -> str:
    return f"{p.name!r} of shape {tuple(p.shape)}" if p.name else f"of shape {tuple(p.shape)}"


def _as_groups(params) -> list[dict]:
    """The caller's ``params`` as a list of group dicts (without defaults yet)."""
    if isinstance(params, Variable):
        raise TypeError(
            "optimizer: expected an iterable of Variables, got a single Variable\n"
            "help: wrap it in a list: SGD([w], lr=0.1)"
        )
    if callable(getattr(params, "parameters", None)):
        return [{"params": list(params.parameters())}]
    if not isinstance(params, Iterable):
        raise TypeError(
            f"optimizer: expected a Module, an iterable of Variables or a list of param "
            f"groups, got {type(params).__name__}\n"
            "help: pass model.parameters()"
        )
    items = list(params)
    if items and all(isinstance(item, dict) for item in items):
        for item in items:
            if "params" not in item:
                raise ValueError(
                    f"optimizer: param group {sorted(item)} has no 'params' entry\n"
                    "help: write each group as {'params': [...], 'lr': ...}"
                )
        return [dict(item) for item in items]
    return [{"params": items}]


def _as_variables(params, owner: str) -> list[Variable]:
    if isinstance(params, Variable):
        return [params]
    if callable(getattr(params, "parameters", None)):
        params = params.parameters()
    result = list(params)
    for p in result:
        if not isinstance(p, Variable):
            hint = (
                "wrap the tensor: mg.tensor(t, requires_grad=True)"
                if isinstance(p, torch.Tensor)
                else "pass minigrad Variables, e.g. model.parameters()"
            )
            raise TypeError(
                f"{owner}: expected minigrad Variables as parameters, got "
                f"{type(p).__name__}\nhelp: {hint}"
            )
    return result


def _to_like(value, param: Variable, owner: str, key: str):
    """A saved state entry on the parameter's device (and dtype, if floating)."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_floating_point():
        if value.shape != param.shape:
            raise CheckpointError(
                f"{owner}.load_state_dict: saved {key!r} has shape {tuple(value.shape)}, "
                f"the parameter has {tuple(param.shape)}\n"
                "help: build the model exactly as when the state was saved"
            )
        return value.to(device=param.device, dtype=param.dtype).clone()
    return value.to(device=param.device).clone()
