"""Spelling a recorded torch call as Python source: values, index keys, operators, names.

``minigrad/program.py`` names the tensors of a recording and orders its
lines; this file turns one recorded call into the text of one line. A Python
number, dtype, device or slice is written as a literal; a tensor by the name
the program gave it; an object the source cannot spell (a cached tensor made
outside the step, a generator) is *held*: put in the program's namespace
under a name, with a note in the program's header. ``a.add(b)`` is written
``a + b``, ``t[key] = v`` as an assignment, and a Python function that passes
all its arguments to torch (``F.nll_loss``) loses those equal to their defaults.
"""

from __future__ import annotations

import inspect
import math
import types

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.recording import Kernel

# Tensor methods written as operators: ``a.add(b)`` is ``a + b``.
INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "matmul": "@", "pow": "**"}
INFIX.update({f"__{name}__": op for name, op in (("add", "+"), ("sub", "-"), ("mul", "*"))})
INFIX.update({"__truediv__": "/", "__matmul__": "@", "__pow__": "**"})
INFIX.update({f"__{name}__": op for name, op in (("eq", "=="), ("ne", "!="), ("lt", "<"))})
INFIX.update({f"__{name}__": op for name, op in (("le", "<="), ("gt", ">"), ("ge", ">="))})
REFLECTED = {"__radd__": "+", "__rsub__": "-", "__rmul__": "*", "__rtruediv__": "/"}
REFLECTED.update({"__rdiv__": "/", "__rmatmul__": "@", "__rpow__": "**"})
# Where a torch function is found by name, in the order tried.
NAMESPACES = (("torch", torch), ("F", F), ("torch.special", torch.special))


class Spelling:
    """Spells values and calls; ``names`` maps id(tensor) -> its name in the program."""

    def __init__(self):
        self.names: dict[int, str] = {}
        self.taken: set[str] = {"torch", "F"}
        self.constants: dict[str, object] = {}
        self.constant_notes: list[str] = []

    def fresh(self, wish: str) -> str:
        raise NotImplementedError  # the program chooses its names

    def hold(self, value, kind: str, note: str) -> str:
        """A name in the program's namespace for an object the source cannot spell."""
        name = self.fresh(f"{kind}{len(self.constants)}")
        self.constants[name] = value
        self.constant_notes.append(f"#   {name}: {note}")
        return name

    # -- spelling values ----------------------------------------------------
    def value(self, v) -> str:
        if isinstance(v, torch.Tensor):
            name = self.names.get(id(v))
            if name is None:  # made outside the step: the program keeps it
                note = f"{_describe(v)}, made outside the step"
                name = self.names[id(v)] = self.hold(v, "const", note)
            return name
        if isinstance(v, torch.Size):
            return repr(tuple(v))
        if isinstance(v, (tuple, list)):
            inner = ", ".join(self.value(x) for x in v)
            if isinstance(v, list):
                return f"[{inner}]"
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, slice):
            return f"slice({self.value(v.start)}, {self.value(v.stop)}, {self.value(v.step)})"
        text = _literal(v)
        return text if text is not None else self.hold(v, "obj", type(v).__name__)

    def key(self, key) -> str:
        """An index as written between brackets: ``0, 1:3, None, ...``."""
        parts = key if isinstance(key, tuple) else (key,)
        written = []
        for part in parts:
            if isinstance(part, slice):
                bounds = [
                    "" if b is None else self.value(b) for b in (part.start, part.stop, part.step)
                ]
                written.append(":".join(bounds[:2]) + (f":{bounds[2]}" if bounds[2] else ""))
            else:
                written.append(self.value(part))
        text = ", ".join(written)
        return text + "," if isinstance(key, tuple) and len(key) == 1 else text

    def call(self, kernel: Kernel) -> str:
        func, args, kwargs = kernel.func, kernel.args, kernel.kwargs
        name = getattr(func, "__name__", "")
        if name == "__get__":  # a tensor attribute: t.T
            return f"{self.value(args[0])}.{func.__self__.__name__}"
        if _is_method(func):
            this = self.value(args[0])
            rest = args[1:]
            if name == "__getitem__":
                return f"{this}[{self.key(rest[0])}]"
            if name == "__setitem__":
                return f"{this}[{self.key(rest[0])}] = {self.value(rest[1])}"
            if not kwargs and len(rest) == 1 and name in INFIX:
                return f"{this} {INFIX[name]} {self.value(rest[0])}"
            if not kwargs and len(rest) == 1 and name in REFLECTED:
                return f"{self.value(rest[0])} {REFLECTED[name]} {this}"
            if not kwargs and not rest and name in ("neg", "__neg__"):
                return f"-{this}"
            return f"{this}.{name}({self.arguments_of(rest, kwargs)})"
        return f"{self.function(func)}({self.arguments_of(args, kwargs, func)})"

    def arguments_of(self, args, kwargs, func=None) -> str:
        written = [self.value(a) for a in args]
        kwargs = _without_defaults(func, kwargs) if func is not None else kwargs
        written += [f"{k}={self.value(v)}" for k, v in kwargs.items()]
        return ", ".join(written)

    def function(self, func) -> str:
        if isinstance(func, (torch._ops.OpOverloadPacket, torch._ops.OpOverload)):
            text = f"torch.ops.{func}"
            if _resolves(text, func):
                return text
        name = getattr(func, "__name__", None)
        for prefix, module in NAMESPACES:
            if name and getattr(module, name, None) is func:
                return f"{prefix}.{name}"
        return self.hold(func, f"{name or 'function'}_", getattr(func, "__qualname__", repr(func)))


def _without_defaults(func, kwargs: dict) -> dict:
    """``kwargs`` less those equal to the Python function's defaults (``F.nll_loss`` passes all)."""
    if not kwargs or not isinstance(func, types.FunctionType):
        return kwargs
    defaults = inspect.signature(func).parameters
    kept = {}
    for key, value in kwargs.items():
        default = defaults[key].default if key in defaults else inspect.Parameter.empty
        if not (type(value) is type(default) and value == default):
            kept[key] = value
    return kept


def _is_method(func) -> bool:
    qualname = getattr(func, "__qualname__", "")
    return qualname.startswith(("TensorBase.", "Tensor."))


def _resolves(text: str, func) -> bool:
    try:
        return eval(text, {"torch": torch}) is func  # noqa: S307 (our own text)
    except AttributeError:
        return False


def _literal(v) -> str | None:
    """Source text for a plain value, or None when the source cannot spell it."""
    if v is None or v is Ellipsis or isinstance(v, (bool, int, str)):
        return "..." if v is Ellipsis else repr(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"float({str(v)!r})"
    if isinstance(v, complex):
        return repr(v) if math.isfinite(abs(v)) else None
    if isinstance(v, (torch.dtype, torch.memory_format, torch.layout)):
        return str(v)  # "torch.float32", "torch.channels_last"
    if isinstance(v, torch.device):
        return f"torch.device({str(v)!r})"
    return None


def _describe(t: torch.Tensor) -> str:
    shape = "(" + ", ".join(str(d) for d in t.shape) + ("," if t.ndim == 1 else "") + ")"
    text = f"a tensor of shape {shape}, {str(t.dtype).replace('torch.', '')}"
    if t.numel() == 1:
        text += f", holding {t.item()!r}"
    return text
