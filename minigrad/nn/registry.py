"""Registry: the three tables a Module keeps, filled by plain attribute assignment.

Every module keeps its parameters, buffers and sub-modules in three ordered
tables, each under a name. ``self.fc = Linear(...)`` in ``__init__`` lands in
the sub-module table and ``self.w = mg.tensor(..., requires_grad=True)`` in the
parameter table, because ``__setattr__`` looks at what is assigned;
``register_parameter``, ``register_buffer`` and ``register_module`` do the
same by name. Reading ``self.fc`` finds it again through ``__getattr__``.
This is Python plumbing; ``module.py`` builds the Module on top of it.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from minigrad.errors import ArgumentTypeError, SetupError
from minigrad.variable import Variable


class Registry:
    """Parameters, buffers and sub-modules by name (the base of :class:`Module`)."""

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_output_buffers", set())
        object.__setattr__(self, "training", True)

    # -- registering --------------------------------------------------------
    def __setattr__(self, name: str, value) -> None:
        """``self.fc = Linear(...)`` registers a sub-module, ``self.w = Variable`` a parameter."""
        if "_modules" not in self.__dict__ and isinstance(value, (Registry, Variable)):
            raise SetupError(
                f"cannot assign {type(value).__name__} {name!r} before Module.__init__() ran\n"
                "help: call super().__init__() first in your module's __init__"
            )
        if isinstance(value, Registry):
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
        for registry in ("_parameters", "_buffers", "_modules"):
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
            raise SetupError(
                f"{what}: a name must be a non-empty string, got {name!r}\n"
                "help: name it after what it is, e.g. 'weight' or 'fc1'"
            )
        taken = name in self._parameters or name in self._buffers or name in self._modules
        if taken or (name in self.__dict__) or hasattr(type(self), name):
            raise SetupError(
                f"{what}: the name {name!r} is already used in {type(self).__name__}\n"
                "help: give every variable and sub-module of a module its own name"
            )

    def register_parameter(self, name: str, variable: Variable | None) -> None:
        """Add a learnable Variable under ``name`` (an error if the name is taken)."""
        if variable is not None and not isinstance(variable, Variable):
            raise ArgumentTypeError(
                f"register_parameter: expected a Variable, got {type(variable).__name__}\n"
                "help: wrap the tensor: mg.tensor(values, requires_grad=True)"
            )
        self._check_new_name(name, "register_parameter")
        if variable is None:  # an optional parameter that is off, e.g. bias=False
            object.__setattr__(self, name, None)
        else:
            self._parameters[name] = variable
            if variable.name is None:
                variable.name = name

    def register_buffer(self, name: str, value, output: bool = False) -> Variable:
        """Add state that is not learned; ``output=True`` if forward updates it when training.

        The value is kept as a Variable with ``requires_grad=False``, so that
        ``state_dict`` and ``to`` treat parameters and buffers alike.
        """
        if not isinstance(value, (Variable, torch.Tensor)):
            raise ArgumentTypeError(
                f"register_buffer: expected a tensor or a Variable, got {type(value).__name__}\n"
                "help: e.g. self.register_buffer('running_mean', torch.zeros(n))"
            )
        self._check_new_name(name, "register_buffer")
        variable = value if isinstance(value, Variable) else Variable(value, False)
        variable.requires_grad = False
        if variable.name is None:
            variable.name = name
        self._buffers[name] = variable
        if output:
            self._output_buffers.add(name)
        return variable

    def register_module(self, name: str, module: Registry) -> None:
        """Add a sub-module under ``name`` (an error if the name is taken)."""
        if not isinstance(module, Registry):
            raise ArgumentTypeError(
                f"register_module: expected a Module, got {type(module).__name__}\n"
                "help: wrap a function in a Module subclass whose forward calls it"
            )
        self._check_new_name(name, "register_module")
        self._modules[name] = module
