"""Recording the kernels a step runs: every torch call, in order, with the gate that made it.

A Gate computes with plain torch calls. Run one training step under a
:class:`KernelRecorder` and each of those calls is written down (the
function, its arguments, its result) as it runs for real, together with the
gate it came from. That list is the step with the tape taken away: the same
kernels in the same order, forward, then backward in reverse tape order.
``minigrad/program.py`` writes it out as a straight-line Python function.

torch shows a :class:`torch.overrides.TorchFunctionMode` every call of a
torch function or tensor method made inside it, ``torch.ops.aten.*`` and
factory functions (``torch.zeros``) too. A function torch writes in Python
(``F.nll_loss``) is seen once, as itself: what it calls inside is not
recorded again. Random draws (dropout's ``bernoulli_``) are calls like any
other, so a replay draws fresh numbers from the same generator, in the same
order as an eager step.

Two things a straight line cannot replay are refused, with a CompileError
that names the gate:

* Python that reads a tensor's *values* (``t.item()``, ``bool(t)``,
  ``t.tolist()``, ``torch.equal``): the branch it chose would be frozen.
  Reading shapes, dtypes and devices is fine: the program checks its
  inputs' on every call, and everything else follows from them.
* ops whose output *shape* depends on the values (``nonzero``,
  ``masked_select``, indexing with a boolean mask).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import torch
from torch.overrides import TorchFunctionMode

from minigrad.errors import CompileError
from minigrad.gate import Gate

# Calls that return facts about a tensor's layout, not its values: not kernels, not refused.
METADATA = frozenset(
    "dim ndimension size numel nelement stride storage_offset element_size is_contiguous "
    "is_floating_point is_complex is_signed get_device data_ptr __len__ __hash__ type "
    "is_pinned is_shared is_inference has_names dim_order untyped_storage".split()
)

# Ops whose output shape depends on the values of their input.
VALUE_SHAPED = frozenset(
    "nonzero argwhere masked_select unique unique_consecutive bincount".split()
)


# Calls whose result depends only on their arguments' shapes and Python values, never on
# tensor data or the random generator: a program makes them once (see _constants).
FACTORIES = frozenset(
    "full zeros ones tensor arange eye linspace scalar_tensor zeros_like ones_like full_like "
    "new_zeros new_ones new_full new_tensor".split()
)


class Kernel(NamedTuple):
    """One recorded torch call: ``result = func(*args, **kwargs)``.

    ``result`` is a tensor, a tuple of tensors, or ``None`` (a call run for
    its effect, such as ``t[key] = value``). ``gate`` is the Gate whose
    ``forward`` or ``backward`` (``method``) made the call, or ``None`` with
    ``method`` the function of minigrad that did (``seed_gradient``).
    ``section`` is what the recording was doing: ``"forward"``, ``"backward"`` ...
    """

    func: object
    args: tuple
    kwargs: dict
    result: object
    section: str
    gate: Gate | None
    method: str


class KernelRecorder(TorchFunctionMode):
    """``with KernelRecorder("compile_train") as recorder:`` records every torch call inside.

    Set ``recorder.section`` to label what follows (``"backward"``).
    ``recorder.kernels`` is the list, in order. ``recorder.arriving`` maps
    each gate to the gradient its backward received. The recorder keeps
    every tensor it saw alive until it is dropped, so no two of them can
    share an ``id``.
    """

    def __init__(self, caller: str):
        super().__init__()
        self.caller = caller
        self.section = "forward"
        self.kernels: list[Kernel] = []
        self.arriving: dict[int, torch.Tensor] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in VALUE_SHAPED or _masks(name, args) or _where_of_one(func, args, kwargs):
            raise self._refusal(func, "an op whose output shape depends on the values")
        result = func(*args, **kwargs)
        if _is_property(func) or name in METADATA:
            if not isinstance(result, torch.Tensor):
                return result  # a shape, a dtype, a device: fixed by the inputs' own
        elif not _is_tensors(result) and result is not None:
            raise self._refusal(func, "a tensor's values read into Python")
        gate, method, arriving = _origin()
        if arriving is not None and id(gate) not in self.arriving:
            self.arriving[id(gate)] = arriving
        self.kernels.append(Kernel(func, args, kwargs, result, self.section, gate, method))
        return result

    def _refusal(self, func, what: str) -> CompileError:
        gate, method, _ = _origin()
        where = f"{gate.name}.{method}" if gate is not None else f"minigrad's {method}"
        call = getattr(func, "__name__", repr(func))
        return CompileError(
            f"{self.caller}: {where} calls {call}: {what}, so the step cannot become a "
            "straight-line program (it would replay the choice made on this batch, or a shape "
            "fixed by it, on every batch)\n"
            "help: compute with tensor ops only (torch.where instead of an if on a value), or "
            "train this model with an eager loop (loss.backward(); opt.step())"
        )


def _is_property(func) -> bool:
    """True for the getter of a tensor attribute (``t.shape``, ``t.T``): ``func.__self__`` says."""
    return getattr(func, "__name__", "") == "__get__"


def _is_tensors(result) -> bool:
    if isinstance(result, torch.Tensor):
        return True
    if not isinstance(result, (tuple, list)):
        return False  # (aten's backward kernels return None for a gradient not asked for)
    return all(r is None or isinstance(r, torch.Tensor) for r in result)


def _masks(name: str, args) -> bool:
    """``t[mask]`` with a boolean mask: as many rows as the mask has True values."""
    if name != "__getitem__" or len(args) < 2:
        return False
    key = args[1] if isinstance(args[1], tuple) else (args[1],)
    return any(isinstance(k, torch.Tensor) and k.dtype is torch.bool for k in key)


def _where_of_one(func, args, kwargs) -> bool:
    """``torch.where(condition)`` alone is ``nonzero``; with two values it is element-wise."""
    return getattr(func, "__name__", "") == "where" and len(args) + len(kwargs) == 1


# What a kernel made outside any gate is for, by the function of backprop that made it.
BACKPROP_LABELS = {
    "seed_gradient": "backprop: the seed, d loss / d loss = 1",
    "reverse_walk": "backprop: two gradients of one value summed",
    "backprop": "backprop: a leaf's gradients summed",
}


def _origin():
    """``(gate, "forward" or "backward", grad_output)`` of the innermost Gate method running.

    Found on the Python stack (only while recording, so speed does not
    matter). Outside any gate: ``(None, where, None)``, ``where`` the
    innermost function outside torch (``Net.forward``, or backprop's own).
    """
    frame = sys._getframe(2)
    helper = None
    while frame is not None:
        code = frame.f_code
        if code.co_name in ("forward", "backward"):
            owner = frame.f_locals.get("self")
            if isinstance(owner, Gate):
                arriving = frame.f_locals.get("grad_output") if code.co_name == "backward" else None
                return owner, code.co_name, arriving
        module = frame.f_globals.get("__name__", "")
        if helper is None and not module.startswith(("torch", "minigrad.recording")):
            name = getattr(code, "co_qualname", code.co_name)  # (Python 3.11+: Net.forward)
            helper = BACKPROP_LABELS.get(name, name) if module == "minigrad.backprop" else name
        frame = frame.f_back
    return None, helper or "step", None


def made_once(kernels: list[Kernel], results: list[torch.Tensor]) -> set[int]:
    """The positions of factory calls (``torch.ones_like(loss)``) whose tensor nothing changes.

    Such a call gives the same values on every call of the program, so it is
    made once and held. Nothing may write to its memory later (through it or
    through a view of it: the recording has the real tensors, so sharing is
    seen in their storage), and no result may share it (the caller could).
    """
    written = {_storage(_writes(k)) for k in kernels if _writes(k) is not None}
    returned = {_storage(t) for t in results}
    found = set()
    for position, kernel in enumerate(kernels):
        if getattr(kernel.func, "__name__", "") not in FACTORIES:
            continue
        result = kernel.result
        if isinstance(result, torch.Tensor) and result.numel():
            memory = _storage(result)
            if memory not in written and memory not in returned:
                found.add(position)
    return found


def _storage(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def _writes(kernel: Kernel):
    """The tensor an in-place kernel writes to (``a`` in ``a.mul_(b)``, ``a[k] = v``), else None."""
    name = getattr(kernel.func, "__name__", "")
    if "out" in kernel.kwargs:
        return kernel.kwargs["out"]
    if kernel.result is None or (name.endswith("_") and not name.endswith("__")):
        return kernel.args[0] if kernel.args else None
    if name == "__setitem__":
        return kernel.args[0]
    return None
