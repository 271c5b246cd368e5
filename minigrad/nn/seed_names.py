"""nimxla's names, kept as aliases so that code written against the seed still runs.

minigrad speaks torch's dialect (``named_parameters``, ``state_dict``,
``opt.lr``). nimxla, the library whose ``nn`` module minigrad is modelled on,
names the same things differently. Every such name is here, in one place, and
nowhere else; ``docs/seed-map.md`` lists each one beside its torch-style
equivalent. Each alias is a line or two on top of the torch-style API:

================================  ==========================================
nimxla                            what it is in the torch dialect
================================  ==========================================
``model.variables``               ``OrderedDict(model.named_state())``
``model.outputs``                 names of buffers registered with ``output=True``
``model.learnable_vars()``        parameters with ``requires_grad``
``model.var_names()``             their names
``model.grad_names()``            their names + ``"_grad"`` (compile_train's keys)
``model.get_params()``            ``dict(model.state_dict())``
``model.set_params(params)``      ``load_state_dict(params, strict=False)``, unknown names refused
``model.update(outputs)``         copy the outputs (running statistics) in
``model.add(*modules)``           ``register_module("0", ...)``, ``"1"``, ...
``model.set_vars(*variables)``    ``register_parameter(v.name, v)`` for each
``model.info``                    ``str(model)``
``opt.learning_rate()``           ``opt.lr``
``opt.set_learning_rate(lr)``     ``opt.lr = lr``
``sched.init(epoch)``             ``sched.set_epoch(epoch)``
================================  ==========================================

The classes below are mixins: ``Module``, ``Optimizer`` and ``Scheduler``
inherit them, so ``model.var_names()`` works on every model.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from minigrad.errors import ArgumentTypeError, SetupError
from minigrad.nn.registry import Registry
from minigrad.nn.state import check_values, copy_values
from minigrad.variable import Variable


class ModuleSeedNames:
    """nimxla's ``Module`` fields and procedures, for :class:`minigrad.nn.Module`."""

    @property
    def variables(self) -> OrderedDict[str, Variable]:
        """nimxla's table: dotted name -> Variable, parameters and buffers of the whole tree."""
        return OrderedDict(self.named_state())

    @property
    def outputs(self) -> list[str]:
        """Names of the state that forward updates while training (e.g. running stats)."""
        names = []
        for prefix, module in self.named_modules():
            for name in module._buffers:
                if name in module._output_buffers:
                    names.append(f"{prefix}.{name}" if prefix else name)
        return names

    def learnable_vars(self) -> list[Variable]:
        """The Variables whose gradient training computes (``requires_grad`` set)."""
        return [v for _, v in self.named_state() if v.requires_grad]

    def var_names(self) -> list[str]:
        """Names of the learnable Variables, in order."""
        return [name for name, v in self.named_state() if v.requires_grad]

    def grad_names(self) -> list[str]:
        """``"<name>_grad"`` for each learnable Variable: the keys compile_train returns."""
        return [f"{name}_grad" for name in self.var_names()]

    def get_params(self, params: dict | None = None) -> dict[str, torch.Tensor]:
        """Add every variable's value to ``params`` (name -> tensor) and return it."""
        params = {} if params is None else params
        params.update(self.state_dict())
        return params

    def set_params(self, params: dict) -> None:
        """Copy values from ``params`` into the variables of those names (all or nothing)."""
        pairs, _, _ = check_values(
            self.variables,
            params,
            "set_params",
            missing_ok=True,
            unexpected_ok=False,
            hint=f"the names are {list(self.variables)}",
        )
        copy_values(pairs)

    def update(self, params: dict) -> None:
        """Set every output (e.g. running stats) from ``params``, as compile_train returns them."""
        table = self.variables
        outputs = {name: table[name] for name in self.outputs}
        pairs, _, _ = check_values(
            outputs,
            params,
            "update",
            missing_ok=False,
            unexpected_ok=True,
            hint="pass the `outputs` dict returned by a compile_train step",
        )
        copy_values(pairs)

    def add(self, *modules, **named):
        """Add sub-modules: positional ones are named by position ("0", "1", ...).

        All or nothing: every name is checked before any module is added.
        """
        start = len(self._modules)
        entries = [(str(start + i), m) for i, m in enumerate(modules)] + list(named.items())
        for name, module in entries:
            if not isinstance(module, Registry):
                raise ArgumentTypeError(
                    f"add: {name!r} is a {type(module).__name__}, not a Module\n"
                    "help: pass layers such as nn.Linear(4, 8), or your own Module subclasses"
                )
        _check_all_new(self, entries, "add")
        for name, module in entries:
            self.register_module(name, module)
        return self

    def set_vars(self, *variables: Variable):
        """Add Variables as parameters, each under its own ``.name`` (all or nothing)."""
        for variable in variables:
            if not isinstance(variable, Variable):
                raise ArgumentTypeError(
                    f"set_vars: expected Variables, got {type(variable).__name__}\n"
                    "help: wrap the tensor: mg.tensor(w, requires_grad=True, name='w')"
                )
            if not variable.name:
                raise SetupError(
                    "set_vars: this Variable has no name\n"
                    "help: create it with a name, e.g. mg.tensor(w, requires_grad=True, name='w')"
                )
        entries = [(v.name, v) for v in variables]
        _check_all_new(self, entries, "set_vars")
        for name, variable in entries:
            self.register_parameter(name, variable)
        return self

    @property
    def info(self) -> str:
        """The summary table (``str(model)``)."""
        return str(self)


def _check_all_new(module, entries: list, what: str) -> None:
    """Refuse a name that is taken, or given twice, before anything is registered."""
    seen = set()
    for name, _ in entries:
        module._check_new_name(name, what)
        if name in seen:
            raise SetupError(
                f"{what}: the name {name!r} is given twice\n"
                "help: give every variable and sub-module of a module its own name"
            )
        seen.add(name)


class OptimizerSeedNames:
    """nimxla's ``learningRate`` and ``setLearningRate``, for :class:`minigrad.optim.Optimizer`."""

    def learning_rate(self) -> float:
        """The learning rate; the same as ``opt.lr``."""
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        """Set the learning rate of every param group; the same as ``opt.lr = lr``."""
        self.lr = lr


class SchedulerSeedNames:
    """nimxla's ``init(scheduler, epoch)``, for :class:`minigrad.optim.Scheduler`."""

    def init(self, epoch: int) -> None:
        """Jump to ``epoch`` (after a checkpoint is loaded); the same as ``set_epoch``."""
        self.set_epoch(epoch)
