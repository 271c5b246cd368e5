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

Every change is all or nothing: ``step`` checks every gradient before it
moves any parameter, ``load_state_dict`` checks the whole state before it
writes any of it, and setting ``lr`` checks the value first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from minigrad.errors import ArgumentTypeError, CheckpointError, SetupError, ShapeError, format_shape
from minigrad.nn.checks import check_at_least
from minigrad.nn.seed_names import OptimizerSeedNames
from minigrad.optim.saved_state import check_saved_groups, check_saved_state
from minigrad.variable import Variable

_LR_HINT = "the learning rate is a step size: use a small positive number such as 0.01"


class Optimizer(OptimizerSeedNames):
    """Base class of every optimiser. Subclasses implement ``update(group, todo)``.

    ``params`` may be a Module (anything with a ``.parameters()`` method), an
    iterable of Variables, or a list of dicts (param groups) each with a
    ``"params"`` entry and optional hyper-parameters that override
    ``defaults`` for that group. Only Variables with ``requires_grad`` and a
    ``.grad`` are changed by ``step()``; the others are kept (so positions stay
    stable when a layer is frozen) but skipped.
    """

    #: the per-parameter state entries this optimiser keeps: "tensor" or "count"
    state_keys: dict[str, str] = {}

    def __init__(self, params, defaults: dict):
        self.defaults = self.check_hyper_parameters(dict(defaults))
        self.param_groups: list[dict] = [self._make_group(g) for g in _as_groups(params)]
        seen: set[int] = set()
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) in seen:
                    raise SetupError(
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

    def check_group_keys(self, given: dict, where: str, exact: bool) -> None:
        known = set(self.defaults) | {"params"}
        unknown, missing = set(given) - known, known - set(given)
        if unknown or (exact and missing):
            found = f"unknown setting(s) {sorted(unknown)}" if unknown else ""
            found += "; " if unknown and exact and missing else ""
            found += f"missing setting(s) {sorted(missing)}" if exact and missing else ""
            raise SetupError(
                f"{self.name}{where}: param group has {found}\n"
                f"help: a group of {self.name} has {sorted(known)}"
            )

    def _make_group(self, given: dict) -> dict:
        self.check_group_keys(given, "", exact=False)
        group = {**self.defaults, **given, "params": _as_variables(given["params"], self.name)}
        if not group["params"]:
            raise SetupError(
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
        """Set the learning rate of every param group."""
        self.set_lrs([value] * len(self.param_groups))

    def set_lrs(self, lrs: list[float]) -> None:
        """Set each param group's learning rate (what a scheduler calls); all checked first."""
        if len(lrs) != len(self.param_groups):
            raise SetupError(
                f"{self.name}: got {len(lrs)} learning rates for {len(self.param_groups)} "
                "param groups\nhelp: give one learning rate per param group"
            )
        checked = [check_at_least(self.name, "lr", lr, 0.0, _LR_HINT) for lr in lrs]
        for group, lr in zip(self.param_groups, checked):
            group["lr"] = lr

    # -- the training-loop calls ---------------------------------------------
    def parameters(self) -> list[Variable]:
        """Every parameter, in position order (the keys of ``state``)."""
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self) -> None:
        """Forget every gradient (``p.grad = None``) before the next backward pass."""
        for p in self.parameters():
            p.grad = None

    def step(self) -> None:
        """Update every parameter that requires a gradient and has one.

        Every gradient is checked (shape, dtype, device) before the first
        parameter moves, so a bad one leaves the whole model as it was.
        """
        work, position, tracked = [], 0, False
        for group in self.param_groups:
            todo = []
            for p in group["params"]:
                grad = p.grad
                if grad is not None and p.requires_grad:
                    value = p.value
                    if (
                        grad.shape != value.shape
                        or grad.dtype != value.dtype
                        or grad.device != value.device
                    ):
                        _refuse_gradient(self.name, position, p)
                    tracked = tracked or value.requires_grad or grad.requires_grad
                    todo.append((p, position))
                position += 1
            if todo:
                work.append((group, todo))
        state = self.state
        work = [(group, [(p, state.setdefault(i, {})) for p, i in todo]) for group, todo in work]
        self.run_updates(work, tracked)

    def run_updates(self, work: list, tracked: bool) -> None:
        """``self.update(group, todo)`` for each ``(group, todo)`` in ``work``.

        Values are plain tensors, untracked by torch's autograd. Only when a
        value or gradient does carry it (``tracked``: a tensor with torch's
        ``requires_grad`` the learner put there) do the rules run inside
        ``torch.no_grad()``, which costs more than updating a small parameter
        (6 us against 3 us for an ``add_``, inside a training step).
        """
        if tracked and torch.is_grad_enabled():
            with torch.no_grad():
                self.run_updates(work, False)
            return
        for group, todo in work:
            self.update(group, todo)

    def update(self, group: dict, todo: list[tuple[Variable, dict]]) -> None:
        """Apply the update rule to each ``(parameter, its state dict)`` in one group."""
        raise NotImplementedError(f"{self.name} must implement update(group, todo)")

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> dict:
        """A snapshot: ``{"kind", "state": {position: {name: value}}, "param_groups": [...]}``.

        Only tensors, numbers, bools, strings, tuples, lists and dicts, so
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
        return {"kind": self.name, "state": state, "param_groups": groups}

    def check_state_dict(self, state_dict: dict) -> Callable[[], None]:
        """Check a saved state against this optimiser and return the function that loads it.

        Nothing is written until that function is called. The optimiser must
        be of the same kind and built on parameters of the same shapes, in
        the same order and groups.
        """
        where = f"{self.name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {
            "kind",
            "state",
            "param_groups",
        }:
            found = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else None
            raise CheckpointError(
                f"{where}: expected a dict with 'kind', 'state' and 'param_groups', got "
                f"{f'the keys {found}' if found is not None else type(state_dict).__name__}\n"
                "help: pass what a minigrad optimizer's state_dict() returned"
            )
        if state_dict["kind"] != self.name:
            raise CheckpointError(
                f"{where}: the state was saved by {state_dict['kind']!r}, this is {self.name}\n"
                f"help: build the same kind of optimiser as when the state was saved"
            )
        groups = check_saved_groups(self, state_dict["param_groups"], where)
        state = check_saved_state(self, state_dict["state"], where)

        def load() -> None:
            for group, settings in zip(self.param_groups, groups):
                group.update(settings)
            self.state = state

        return load

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyper-parameters and state saved by ``state_dict()`` (all or nothing).

        Tensors are moved to each parameter's device and floating state to its dtype.
        """
        self.check_state_dict(state_dict)()

    # -- printing -------------------------------------------------------------
    def describe_group(self, group: dict) -> str:
        """The settings of one group, as ``lr=0.1 momentum=0.9``; subclasses add theirs."""
        return f"lr={group['lr']}"

    def __str__(self) -> str:
        return f"{self.name}({'; '.join(self.describe_group(g) for g in self.param_groups)})"

    __repr__ = __str__


def _describe(p: Variable) -> str:
    return f"{p.name!r} of shape {tuple(p.shape)}" if p.name else f"of shape {tuple(p.shape)}"


def _refuse_gradient(owner: str, position: int, p: Variable) -> None:
    grad, value = p.grad, p.value
    raise ShapeError(
        f"{owner}.step: parameter {position} ({_describe(p)}) has a gradient of "
        f"{format_shape(grad.shape)} {grad.dtype} on {grad.device}, but the parameter is "
        f"{format_shape(value.shape)} {value.dtype} on {value.device}; no parameter was changed\n"
        "help: a gradient must match its parameter; set p.grad only from backprop, and call "
        "model.to(...) before backward, not between backward and step"
    )


def _as_groups(params) -> list[dict]:
    """The caller's ``params`` as a list of group dicts (without defaults yet)."""
    if isinstance(params, Variable):
        raise ArgumentTypeError(
            "optimizer: expected an iterable of Variables, got a single Variable\n"
            "help: wrap it in a list: SGD([w], lr=0.1)"
        )
    if callable(getattr(params, "parameters", None)):
        return [{"params": list(params.parameters())}]
    if not isinstance(params, Iterable):
        raise ArgumentTypeError(
            f"optimizer: expected a Module, an iterable of Variables or a list of param "
            f"groups, got {type(params).__name__}\n"
            "help: pass model.parameters()"
        )
    items = list(params)
    if items and all(isinstance(item, dict) for item in items):
        for item in items:
            if "params" not in item:
                raise SetupError(
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
            raise ArgumentTypeError(
                f"{owner}: expected minigrad Variables as parameters, got "
                f"{type(p).__name__}\nhelp: {hint}"
            )
    return result
