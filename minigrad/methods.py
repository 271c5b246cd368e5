"""The methods of Variable and Context that run later files, from one table.

``x + y`` is ``mg.add(x, y)``, ``x.sum(1, keepdim=True)`` is
``mg.sum(x, 1, keepdim=True)``, ``y.backward()`` is ``mg.backprop(y)``: such
a method *is* its function, so it takes exactly the arguments the function
takes, and a change to an op's signature reaches its method by itself.

Why they are attached here rather than written in variable.py: the ops are
Gates, a Gate makes Variables, so ``minigrad/variable.py`` cannot import the
ops (nor backprop, which walks Variables, nor the table printer). Context
has the same problem with ``ctx.variable(...)`` and ``print(ctx)``. So the
core is read bottom-up, each file importing only the ones before it, and
this file, which comes after all of them, completes the two classes. It is
the one late binding in the core; ``minigrad/__init__.py`` imports it.
"""

from __future__ import annotations

import functools
import types

import torch

from minigrad import ops
from minigrad.backprop import backprop
from minigrad.inspect import context_table, records
from minigrad.tape import Context
from minigrad.variable import Variable, leaf_variable

# method name -> the function it is: ``x.name(*args, **kwargs)`` is ``function(x, *args, **kwargs)``
VARIABLE_METHODS = {
    "__add__": ops.add,
    "__sub__": ops.sub,
    "__mul__": ops.mul,
    "__truediv__": ops.div,
    "__pow__": ops.pow,
    "__matmul__": ops.matmul,
    "__neg__": ops.neg,
    "__getitem__": ops.index,
    "sum": ops.sum,
    "mean": ops.mean,
    "var": ops.var,
    "max": ops.max,
    "min": ops.min,
    "logsumexp": ops.logsumexp,
    "exp": ops.exp,
    "log": ops.log,
    "sqrt": ops.sqrt,
    "erf": ops.erf,
    "abs": ops.abs,
    "pow": ops.pow,
    "clamp": ops.clamp,
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
    "matmul": ops.matmul,
    "reshape": ops.reshape,
    "view": ops.view,
    "flatten": ops.flatten,
    "transpose": ops.transpose,
    "permute": ops.permute,
    "movedim": ops.movedim,
    "squeeze": ops.squeeze,
    "unsqueeze": ops.unsqueeze,
    "expand": ops.expand,
    "split": ops.split,
    "chunk": ops.chunk,
    "to": ops.to,
    "masked_fill": ops.masked_fill,
    "tril": ops.tril,
    "triu": ops.triu,
    "gather": ops.gather,
    "index_select": ops.index_select,
    "bmm": ops.bmm,
    "backward": backprop,
}

# ``other + x`` and friends, when ``other`` is not a Variable: ``function(other, x)``
REFLECTED_METHODS = {
    "__radd__": ops.add,
    "__rsub__": ops.sub,
    "__rmul__": ops.mul,
    "__rtruediv__": ops.div,
    "__rpow__": ops.pow,
    "__rmatmul__": ops.matmul,
}

# ``x.float(*args, **kwargs)`` is ``ops.to(x, torch.float32, *args, **kwargs)``
CONVERSIONS = {
    "float": torch.float32,
    "double": torch.float64,
    "cpu": "cpu",
    "cuda": "cuda",
}

CONTEXT_METHODS = {
    "variable": leaf_variable,
    "records": records,
    "__str__": context_table,
}


def _method(function):
    """A plain function is a method as it is (Python passes the Variable first)."""
    if isinstance(function, types.FunctionType):
        return function

    @functools.wraps(function)
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)

    return method


def _reflected(function, name: str):
    def method(self, other):
        return function(other, self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{function.__name__}(other, x): the Variable on the operator's right."
    return method


def _conversion(target, name: str):
    def method(self, *args, **kwargs):
        return ops.to(self, target, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``x.to({target!r}, ...)``: see :func:`minigrad.ops.to`."
    return method


def _transposed(self) -> Variable:
    """The Variable with its dimensions in reverse order, as torch's ``x.T``."""
    return ops.permute(self, *reversed(range(self.ndim)))


def _t(self) -> Variable:
    """A matrix transposed, as torch's ``x.t()`` (a vector or a number stays as it is)."""
    return ops.transpose(self, 0, 1) if self.ndim == 2 else self


def _where(self, condition, other) -> Variable:
    """``x.where(condition, other)``: x where condition holds, else other, as torch's method.

    The form backward formulas use, since tensors have it too.
    """
    return ops.where(condition, self, other)


for _name, _function in VARIABLE_METHODS.items():
    setattr(Variable, _name, _method(_function))
for _name, _function in REFLECTED_METHODS.items():
    setattr(Variable, _name, _reflected(_function, _name))
for _name, _target in CONVERSIONS.items():
    setattr(Variable, _name, _conversion(_target, _name))
Variable.T = property(_transposed)
Variable.t = _t
Variable.where = _where
for _name, _function in CONTEXT_METHODS.items():
    setattr(Context, _name, _method(_function))
