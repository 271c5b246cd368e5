"""Module: a piece of a network that owns Variables and says how to go forward.

A module holds

* parameters: leaf Variables that training learns (a frozen parameter has
  ``requires_grad`` off);
* buffers: Variables that are state but not learned, such as batch norm's
  running statistics (``register_buffer(..., output=True)`` marks those that
  ``forward`` updates while training);
* sub-modules, each under a name, so the whole network is a tree.

Subclass it, assign layers and Variables as attributes in ``__init__``
(``__setattr__`` registers them under the attribute's name), and write
``forward(self, x)``::

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(64, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc2(mg.relu(self.fc1(x)))

``forward`` takes the input only and reads ``self.training`` (set for the
whole tree by ``train()`` / ``eval()``). ``model(x)`` calls it;
``model(x, training=True)`` runs that one call in the given mode.

Names are dotted paths from the root: ``"fc1.weight"``, ``"bn.running_mean"``,
in registration order, parameters before buffers before sub-modules at every
level. This file speaks torch's names; nimxla's (``variables``, ``add``,
``set_vars``, ``var_names``, ``get_params`` ...) are aliases gathered in
``seed_names.py``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch

from minigrad.errors import SetupError
from minigrad.nn.checks import check_flag
from minigrad.nn.registry import Registry
from minigrad.nn.seed_names import ModuleSeedNames
from minigrad.nn.state import check_values, copy_values
from minigrad.variable import Variable


class LoadResult(NamedTuple):
    """What ``load_state_dict(strict=False)`` left out."""

    missing_keys: list
    unexpected_keys: list


class Module(Registry, ModuleSeedNames):
    """Base class of every layer and model. See the module docstring."""

    def name_variables(self) -> Module:
        """Set each Variable's ``.name`` to its dotted path, so the tape shows "fc1.weight"."""
        for name, variable in self.named_state():
            variable.name = name
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

    def _named(self, registry: str) -> Iterator[tuple[str, Variable]]:
        for prefix, module in self.named_modules():
            for name, variable in getattr(module, registry).items():
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

    def named_state(self) -> list[tuple[str, Variable]]:
        """(dotted name, Variable) for all the state: each module's parameters, then buffers."""
        state, names = [], set()
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, variable in registry.items():
                    full = f"{prefix}.{name}" if prefix else name
                    if full in names:
                        raise SetupError(
                            f"two variables are both named {full!r}\n"
                            "help: a Variable registered with a dotted name clashes with a "
                            "sub-module's; rename one of them"
                        )
                    names.add(full)
                    state.append((full, variable))
        return state

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
        """Run ``forward``; ``training=`` runs this one call in that mode."""
        if training is None or training is self.training:
            return self.forward(*args, **kwargs)
        check_flag(type(self).__name__, "training", training, "pass training=True or False")
        saved = [(m, m.training) for m in self.modules()]
        self.train(training)
        try:
            return self.forward(*args, **kwargs)
        finally:
            for module, mode in saved:
                object.__setattr__(module, "training", mode)

    def train(self, mode: bool = True) -> Module:
        """Training mode for this module and every sub-module (dropout on, batch statistics)."""
        check_flag("train", "mode", mode, "train() or train(False); eval() is train(False)")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
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
        keeps working. Gradients move along. Only floating values are cast.
        """
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        for _, variable in self.named_state():
            cast = dtype if (dtype is not None and variable.value.is_floating_point()) else None
            variable.value = variable.value.to(device=device, dtype=cast)
            if variable.grad is not None:
                variable.grad = variable.grad.to(device=device, dtype=cast)
        return self

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn(module)`` on every module of the tree (children first) and return self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> OrderedDict[str, torch.Tensor]:
        """name -> tensor for every variable (the live tensors: clone them for a snapshot)."""
        return OrderedDict((name, v.value) for name, v in self.named_state())

    def check_state_dict(self, state_dict: dict, strict: bool = True) -> Callable[[], LoadResult]:
        """Check ``state_dict`` against this model and return the function that loads it.

        Nothing is written until that function is called, so a checkpoint can
        check every part (model, optimiser, scheduler) before it changes any.
        """
        where = f"{type(self).__name__}.load_state_dict"
        table = dict(self.named_state())
        pairs, missing, unexpected = check_values(
            table,
            state_dict,
            where,
            missing_ok=not strict,
            unexpected_ok=not strict,
            hint="load a state saved from the same architecture and dtype (model.to(dtype) "
            "casts a model), or pass strict=False to skip missing and unexpected keys",
        )

        def load() -> LoadResult:
            copy_values(pairs)
            return LoadResult(missing, unexpected)

        return load

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> LoadResult:
        """Copy the values of ``state_dict`` into this model's variables, in place.

        All or nothing: names (``strict``, the default, refuses missing and
        unexpected ones), shapes and dtypes are checked before anything is
        copied.
        """
        return self.check_state_dict(state_dict, strict)()

    def __deepcopy__(self, memo: dict) -> Module:
        """``copy.deepcopy(model)``: new Variables with copied values, on the *same* tapes.

        Copying a Variable's context too would put the copy's parameters on a
        private tape, and every op mixing them with a new input would fail.
        """
        for _, variable in self.named_state():
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

        It runs in evaluation mode and records nothing, so no state changes;
        the output shapes it saw stay in the table ``str(model)`` prints.
        """
        from minigrad.nn.summary import format_summary, record_output_shapes

        record_output_shapes(self, input_shape, dtype, device)
        return format_summary(self)

    def __str__(self) -> str:
        """The summary table: each layer, its output shape (after ``summary``), its parameters."""
        from minigrad.nn.summary import format_summary

        return format_summary(self)
