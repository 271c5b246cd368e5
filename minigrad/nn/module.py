"""Module: a piece of a network that owns Variables and says how to go forward.

A module holds

* parameters: leaf Variables that training learns (``requires_grad`` is
  nimxla's ``calcGrad``; a frozen parameter has it off);
* buffers: Variables that are state but not learned, such as batch norm's
  running statistics. Those that ``forward`` updates while training are the
  module's ``outputs`` (nimxla's name);
* sub-modules, each under a name, so the whole network is a tree.

Two ways to build one, both give the same tree:

PyTorch style: subclass, assign layers and Variables as attributes in
``__init__`` (``__setattr__`` registers them under the attribute's name), and
write ``forward(self, x)``::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(mg.relu(self.fc1(x)))

nimxla style: ``model.add(fc1, fc2)`` or ``model.set_vars(w, b)`` registers
existing modules and Variables, ``Sequential`` chains modules.

The forward convention: ``forward(self, x)`` takes the input only and reads
``self.training`` (set by ``train()`` / ``eval()`` for the whole tree).
``model(x)`` calls it; ``model(x, training=True)`` is nimxla's
``forward(x, training)``: it runs that one call in the given mode.

Names are dotted paths from the root: ``"fc1.weight"``, ``"bn.running_mean"``.
``variables`` maps each to its Variable, in registration order, parameters
before buffers before sub-modules at every level.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Iterator
from typing import NamedTuple

import torch

from minigrad.errors import CheckpointError, ShapeError, format_shape
from minigrad.variable import Variable


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` left out."""

    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class of every layer and model. See the module docstring."""

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_output_buffers", set())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "last_output_shape", None)

    # -- registering --------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        """``self.fc = Linear(...)`` registers a sub-module, ``self.w = Variable`` a parameter."""
        if "_modules" not in self.__dict__ and isinstance(value, (Module, Variable)):
            raise AttributeError(
                f"cannot assign {type(value).__name__} {name!r} before Module.__init__() ran\n"
                "help: call super().__init__() first in your module's __init__"
            )
        if isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif isinstance(value, Variable) and value.is_leaf:
            if name in self._buffers:
                self._buffers[name] = value
            else:
                self._forget(name)
                self._parameters[name] = value
            if value.name is None:
                value.name = name
        elif isinstance(value, torch.Tensor) and name in self._buffers:
            # Assigning a tensor to a buffer replaces its value, keeping the Variable.
            self._buffers[name].value = value
        else:
            if "_modules" in self.__dict__:
                self._forget(name)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails: look in the registries.
        registries = ("_parameters", "_buffers", "_modules")
        for registry in registries:
            table = self.__dict__.get(registry)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if not self._forget(name):
            object.__delattr__(self, name)

    def _forget(self, name: str) -> bool:
        """Remove ``name`` from every registry (an attribute being re-assigned)."""
        found = False
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                found = True
        self._output_buffers.discard(name)
        if name in self.__dict__:
            object.__delattr__(self, name)
        return found

    def _check_new_name(self, name: str, what: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what}: a name must be a non-empty string, got {name!r}")
        taken = name in self._parameters or name in self._buffers or name in self._modules
        if taken or (name in self.__dict__) or hasattr(type(self), name):
            raise ValueError(
                f"{what}: the name {name!r} is already used in {type(self).__name__}\n"
                "help: give every variable and sub-module of a module its own name"
            )

    def register_parameter(self, name: str, variable: Variable | None) -> None:
        """Add a learnable Variable under ``name`` (an error if the name is taken)."""
        self._check_new_name(name, "register_parameter")
        if variable is not None and not isinstance(variable, Variable):
            raise TypeError(
                f"register_parameter: expected a Variable, got {type(variable).__name__}\n"
                "help: wrap the tensor: mg.tensor(values, requires_grad=True)"
            )
        if variable is None:  # an optional parameter that is off, e.g. bias=False
            object.__setattr__(self, name, None)
        else:
            self._parameters[name] = variable
            if variable.name is None:
                variable.name = name

    def name_variables(self) -> Module:
        """Set each Variable's ``.name`` to its dotted path, so the tape shows "fc1.weight"."""
        for name, variable in self.variables.items():
            variable.name = name
        return self

    def register_buffer(self, name: str, value, output: bool = False) -> Variable:
        """Add state that is not learned; ``output=True`` if forward updates it when training.

        The value is kept as a Variable with ``requires_grad=False``, so that
        ``variables`` holds all of a module's state, as nimxla's does.
        """
        self._check_new_name(name, "register_buffer")
        variable = value if isinstance(value, Variable) else Variable(value, False)
        variable.requires_grad = False
        if variable.name is None:
            variable.name = name
        self._buffers[name] = variable
        if output:
            self._output_buffers.add(name)
        return variable

    def register_module(self, name: str, module: Module) -> None:
        """Add a sub-module under ``name`` (an error if the name is taken)."""
        self._check_new_name(name, "register_module")
        if not isinstance(module, Module):
            raise TypeError(f"register_module: expected a Module, got {type(module).__name__}")
        self._modules[name] = module

    # nimxla's names
    def add(self, *modules: Module, **named: Module) -> Module:
        """Add sub-modules: positional ones are named by position ("0", "1", ...)."""
        for module in modules:
            self.register_module(str(len(self._modules)), module)
        for name, module in named.items():
            self.register_module(name, module)
        return self

    def set_vars(self, *variables: Variable) -> Module:
        """Add Variables as parameters, each under its own ``.name``."""
        for variable in variables:
            if not isinstance(variable, Variable):
                raise TypeError(f"set_vars: expected Variables, got {type(variable).__name__}")
            if not variable.name:
                raise ValueError(
                    "set_vars: this Variable has no name\n"
                    "help: create it with a name, e.g. mg.tensor(w, requires_grad=True, name='w')"
                )
            self.register_parameter(variable.name, variable)
        return self

    # -- walking the tree ---------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Every module in the tree, this one first (named ``prefix``), depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from self._modules.items()

    def children(self) -> Iterator[Module]:
        yield from self._modules.values()

    def _named(self, kind: str) -> Iterator[tuple[str, Variable]]:
        for prefix, module in self.named_modules():
            for name, variable in getattr(module, kind).items():
                yield (f"{prefix}.{name}" if prefix else name), variable

    def named_parameters(self) -> Iterator[tuple[str, Variable]]:
        """(dotted name, Variable) for every parameter; a shared one appears once."""
        seen = set()
        for name, variable in self._named("_parameters"):
            if id(variable) not in seen:
                seen.add(id(variable))
                yield name, variable

    def parameters(self) -> Iterator[Variable]:
        """Every parameter Variable (what an optimiser updates)."""
        for _, variable in self.named_parameters():
            yield variable

    def named_buffers(self) -> Iterator[tuple[str, Variable]]:
        yield from self._named("_buffers")

    def buffers(self) -> Iterator[Variable]:
        for _, variable in self.named_buffers():
            yield variable

    @property
    def variables(self) -> OrderedDict[str, Variable]:
        """nimxla's table: dotted name -> Variable, parameters and buffers of the whole tree."""
        table: OrderedDict[str, Variable] = OrderedDict()
        for prefix, module in self.named_modules():
            for kind in ("_parameters", "_buffers"):
                for name, variable in getattr(module, kind).items():
                    full = f"{prefix}.{name}" if prefix else name
                    if full in table:
                        raise ValueError(
                            f"variables: two variables are both named {full!r}\n"
                            "help: a Variable registered with a dotted name clashes with a "
                            "sub-module's; rename one of them"
                        )
                    table[full] = variable
        return table

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
        return [v for v in self.variables.values() if v.requires_grad]

    def var_names(self) -> list[str]:
        """Names of the learnable Variables, in order."""
        return [name for name, v in self.variables.items() if v.requires_grad]

    def grad_names(self) -> list[str]:
        """``"<name>_grad"`` for each learnable Variable: the keys compile_train returns."""
        return [f"{name}_grad" for name in self.var_names()]

    def parameter_count(self, learnable_only: bool = False) -> int:
        """How many numbers the parameters hold."""
        return sum(v.numel() for v in self.parameters() if v.requires_grad or not learnable_only)

    # -- running ------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} has no forward\n"
            "help: define forward(self, x) in your subclass; read self.training for the mode"
        )

    def __call__(self, *args, training: bool | None = None, **kwargs):
        """Run ``forward``; ``training=`` runs this one call in that mode (nimxla style)."""
        if training is None or training == self.training:
            out = self.forward(*args, **kwargs)
        else:
            saved = [(m, m.training) for m in self.modules()]
            self.train(training)
            try:
                out = self.forward(*args, **kwargs)
            finally:
                for module, mode in saved:
                    object.__setattr__(module, "training", mode)
        shape = getattr(out, "shape", None)
        object.__setattr__(self, "last_output_shape", tuple(shape) if shape is not None else None)
        return out

    def train(self, mode: bool = True) -> Module:
        """Training mode for this module and every sub-module (dropout on, batch statistics)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode for the whole tree: ``train(False)``."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (``.grad = None``)."""
        for variable in self.parameters():
            variable.grad = None

    def to(self, device=None, dtype: torch.dtype | None = None) -> Module:
        """Move (and/or cast) every variable's value in place and return ``self``.

        The Variable objects stay the same, so an optimiser that holds them
        keeps working. Gradients move along.
        """
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        for variable in self.variables.values():
            # Integer state (none here yet) must not be cast to a float dtype.
            cast = dtype if (dtype is not None and variable.value.is_floating_point()) else None
            variable.value = variable.value.to(device=device, dtype=cast)
            if variable.grad is not None:
                variable.grad = variable.grad.to(device=device, dtype=cast)
        return self

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every module of the tree (children first) and return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- nimxla's parameter tables -------------------------------------------
    def get_params(self, params: dict | None = None) -> dict:
        """Add every variable's value to ``params`` (name -> tensor) and return it."""
        params = {} if params is None else params
        for name, variable in self.variables.items():
            params[name] = variable.value
        return params

    def set_params(self, params: dict) -> None:
        """Copy values from ``params`` (name -> tensor) into the variables of those names."""
        table = self.variables
        unknown = [name for name in params if name not in table]
        if unknown:
            raise KeyError(
                f"set_params: no variables named {unknown} in {type(self).__name__}\n"
                f"help: the names are {list(table)}"
            )
        for name, value in params.items():
            _copy_into(table[name], value, name)

    def update(self, params: dict) -> None:
        """Set every output (e.g. running stats) from ``params``, as compile_train returns them."""
        table = self.variables
        missing = [name for name in self.outputs if name not in params]
        if missing:
            raise KeyError(
                f"update: no values for the outputs {missing}\n"
                "help: pass the `outputs` dict returned by a compile_train step"
            )
        for name in self.outputs:
            _copy_into(table[name], params[name], name)

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> OrderedDict[str, torch.Tensor]:
        """name -> tensor for every variable (the live tensors: clone them for a snapshot)."""
        return OrderedDict((name, v.value) for name, v in self.variables.items())

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> LoadResult:
        """Copy the values of ``state_dict`` into this model's variables, in place.

        ``strict`` (the default) refuses missing and unexpected names; a shape
        that does not fit is refused either way.
        """
        table = self.variables
        state_dict = {name: _as_tensor(value) for name, value in state_dict.items()}
        missing = [name for name in table if name not in state_dict]
        unexpected = [name for name in state_dict if name not in table]
        wrong = [
            f"{name}: checkpoint {format_shape(value.shape)}, "
            f"model {format_shape(table[name].shape)}"
            for name, value in state_dict.items()
            if name in table and tuple(value.shape) != tuple(table[name].shape)
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if wrong:
            problems.append("shape mismatches: " + "; ".join(wrong))
        if problems:
            raise CheckpointError(
                f"load_state_dict: the state does not fit {type(self).__name__}:\n  "
                + "\n  ".join(problems)
                + "\nhelp: load a state saved from the same architecture, or pass strict=False "
                "to skip missing and unexpected keys"
            )
        for name, value in state_dict.items():
            if name in table:
                _copy_into(table[name], value, name)
        return LoadResult(missing, unexpected)

    def __deepcopy__(self, memo: dict) -> Module:
        """``copy.deepcopy(model)``: new Variables with copied values, on the *same* tapes.

        Copying a Variable's context too would put the copy's parameters on a
        private tape, and every op mixing them with a new input would fail.
        """
        for variable in self.variables.values():
            memo.setdefault(id(variable.context), variable.context)
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            object.__setattr__(new, key, copy.deepcopy(value, memo))
        return new

    # -- printing -------------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown in ``repr``, e.g. ``in_features=64, out_features=10``."""
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        if self._modules:
            for name, child in self._modules.items():
                body = repr(child).replace("\n", "\n  ")
                lines.append(f"  ({name}): {body}")
            return "\n".join(lines) + "\n)"
        return lines[0] + ")"

    def summary(self, input_shape, dtype: torch.dtype | None = None, device=None) -> str:
        """Run one sample input of ``input_shape`` (with the batch) and return the table.

        It runs in evaluation mode and records nothing, so no state changes.
        """
        from minigrad.nn.summary import run_sample

        run_sample(self, input_shape, dtype, device)
        return self.info

    @property
    def info(self) -> str:
        """A table: each layer, its output shape (from the last forward) and parameter count."""
        from minigrad.nn.summary import format_summary

        return format_summary(self)

    def __str__(self) -> str:
        return self.info


def _as_tensor(value) -> torch.Tensor:
    return value.value if isinstance(value, Variable) else torch.as_tensor(value)


def _copy_into(variable: Variable, value, name: str) -> None:
    """Copy ``value`` into ``variable.value`` in place (the tensor object stays)."""
    value = _as_tensor(value)
    if tuple(value.shape) != tuple(variable.shape):
        raise ShapeError(
            f"{name}: expected a value of shape {format_shape(variable.shape)}, got "
            f"{format_shape(value.shape)}\nhelp: the value must come from the same layer"
        )
    variable.value.copy_(value.detach())
