"""Variable: a torch tensor that remembers where it came from.

A Variable is what flows through a minigrad program. It holds

* ``value``: the data, a plain ``torch.Tensor`` (CPU or CUDA);
* ``grad``: the gradient backprop accumulated into it (a tensor or ``None``);
* ``requires_grad``: whether a gradient should be computed for it
  (nimxla calls this ``calcGrad``);
* ``context``: the tape its ops are recorded on;
* ``node`` / ``output_index``: the tape node that produced it (``None`` for a
  leaf, a Variable the learner made rather than an op);
* ``hooks``: functions to call on its gradient during backprop;
* ``leaf_edge``: for a leaf, ``(its Leaf, 0)``, the edge along which
  backprop sends its gradient (see :class:`~minigrad.tape.Leaf`); made when
  an op first uses it.

Operators and torch-named methods (``+``, ``@``, ``.sum()``, ``.relu()`` ...)
*are* the functions of ``minigrad.ops``: ``x.sum(1)`` is ``mg.sum(x, 1)``,
and ``y.backward()`` is ``mg.backprop(y)``. Those files build on this one, so
the methods are attached from one table once they exist, in
``minigrad/methods.py``. What is defined here needs nothing above this file.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from minigrad.errors import ArgumentTypeError, DTypeError, ShapeError, format_shape
from minigrad.tape import default_context


def as_tensor(value, dtype=None, device=None) -> torch.Tensor:
    """A torch tensor from a tensor, numpy array, list or number.

    Python floats become the default float dtype (float32, as in torch); a
    float64 numpy array stays float64.
    """
    if isinstance(value, Variable):
        value = value.value
    if isinstance(value, torch.Tensor):
        tensor = value.detach()
    elif isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, (numbers.Number, list, tuple)):
        # Give the dtype straight away: a float64 number must not pass
        # through float32 on its way in.
        tensor = torch.tensor(value, dtype=dtype)
    else:
        raise ArgumentTypeError(
            f"expected a torch.Tensor, numpy array, list or number, got {type(value).__name__}\n"
            "help: convert it first, e.g. mg.tensor(np.asarray(data))"
        )
    if dtype is not None or device is not None:
        tensor = tensor.to(dtype=dtype, device=device)
    return tensor


class Variable:
    """A tensor on a tape, with a gradient slot. See the module docstring."""

    __slots__ = (
        "value",
        "grad",
        "requires_grad",
        "context",
        "name",
        "node",
        "output_index",
        "hooks",
        "leaf_edge",
        "__weakref__",
    )

    # Make numpy defer to our operators in ``ndarray + Variable``.
    __array_priority__ = 1000

    def __init__(
        self,
        value: torch.Tensor,
        requires_grad: bool = False,
        context=None,
        name: str | None = None,
    ):
        if not isinstance(value, torch.Tensor):
            value = as_tensor(value)
        if requires_grad and not (value.is_floating_point() or value.is_complex()):
            raise DTypeError(
                f"only floating-point Variables can require gradients, got dtype {value.dtype}\n"
                "help: make it float, e.g. mg.tensor(values, dtype=torch.float32, "
                "requires_grad=True)"
            )
        self.value = value
        self.grad: torch.Tensor | None = None
        self.requires_grad = requires_grad
        self.context = context if context is not None else default_context()
        self.name = name
        self.node = None
        self.output_index = 0
        self.hooks: list | None = None
        self.leaf_edge = None

    # -- what it is ---------------------------------------------------------
    @property
    def shape(self) -> torch.Size:
        return self.value.shape

    @property
    def dtype(self) -> torch.dtype:
        return self.value.dtype

    @property
    def device(self) -> torch.device:
        return self.value.device

    @property
    def ndim(self) -> int:
        return self.value.ndim

    def dim(self) -> int:
        return self.value.dim()

    def size(self, dim: int | None = None):
        return self.value.size() if dim is None else self.value.size(dim)

    def numel(self) -> int:
        return self.value.numel()

    def __len__(self) -> int:
        if self.value.dim() == 0:
            raise ArgumentTypeError(
                "len() of a Variable: expected one with at least one dimension, got a 0-dim "
                "Variable (a single number)\n"
                "help: use x.item() for its value, or x.numel() for its number of elements"
            )
        return len(self.value)

    @property
    def is_leaf(self) -> bool:
        """True for a Variable the learner made, False for an op's output."""
        return self.node is None

    def is_grad_needed(self) -> bool:
        """True when ops on this Variable would be recorded for backprop.

        That needs ``requires_grad`` and a tape that is recording (not inside
        ``ctx.no_grad()`` or ``mg.no_grad()``).
        """
        return self.requires_grad and self.context.is_recording()

    # -- conversions --------------------------------------------------------
    def item(self) -> float:
        """The value of a one-element Variable as a Python number."""
        if self.value.numel() != 1:
            raise _not_one_number("item()", self.shape)
        return self.value.item()

    def numpy(self) -> np.ndarray:
        return self.value.detach().cpu().numpy()

    def tolist(self):
        return self.value.tolist()

    def detach(self) -> Variable:
        """The same values as a new leaf that needs no gradient."""
        return Variable(self.value, False, self.context, self.name)

    def requires_grad_(self, requires_grad: bool = True) -> Variable:
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # -- backprop (``backward`` itself is mg.backprop: see minigrad/methods.py) --
    def register_hook(self, hook) -> None:
        """Call ``hook(grad)`` when this Variable's gradient is complete during backprop.

        If the hook returns a tensor, that replaces the gradient.
        """
        if not callable(hook):
            raise ArgumentTypeError(
                f"register_hook: expected a function of the gradient, got {type(hook).__name__}\n"
                "help: pass the function itself, e.g. x.register_hook(lambda grad: print(grad))"
            )
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(hook)

    # -- printing -----------------------------------------------------------
    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        flag = ", requires_grad=True" if self.requires_grad else ""
        body = repr(self.value.detach()).replace("tensor(", "", 1)
        body = body[:-1] if body.endswith(")") else body  # one ")": size=(3, 4)) keeps its own
        body = body.split(", grad_fn=")[0]
        return f"Variable({body}{flag}{name})"

    def __bool__(self) -> bool:
        if self.value.numel() != 1:
            raise _not_one_number("bool()", self.shape)
        return bool(self.value)

    def __float__(self) -> float:
        if self.value.numel() != 1:
            raise _not_one_number("float()", self.shape)
        return float(self.value)

    def __int__(self) -> int:
        if self.value.numel() != 1:
            raise _not_one_number("int()", self.shape)
        return int(self.value)

    def __hash__(self) -> int:
        return id(self)

    # Comparisons give plain boolean tensors: they have no gradient.
    def __lt__(self, other):
        return self.value < tensor_of(other)

    def __le__(self, other):
        return self.value <= tensor_of(other)

    def __gt__(self, other):
        return self.value > tensor_of(other)

    def __ge__(self, other):
        return self.value >= tensor_of(other)

    def argmax(self, dim=None, keepdim=False) -> torch.Tensor:
        """The index of the largest value (a plain tensor: an index has no gradient)."""
        return self.value.argmax(dim, keepdim) if dim is not None else self.value.argmax()


def _not_one_number(what: str, shape) -> ShapeError:
    return ShapeError(
        f"{what} of a Variable: expected a single element, got shape {format_shape(shape)}\n"
        "help: reduce it first (x.sum(), x.mean()), or index one element, e.g. x[0]"
    )


def tensor_of(x):
    """The plain tensor behind ``x``: a Variable's value, anything else as it is.

    A backward formula that must run on tensors and on Variables (see
    ``minigrad/higher_order.py``) takes masks and signs from it: a
    comparison or a sign carries no gradient, so it is a constant either way.
    """
    return x.value if isinstance(x, Variable) else x


def tensor(
    value, requires_grad: bool = False, name: str | None = None, dtype=None, device=None
) -> Variable:
    """A new leaf Variable on the current context (see ``mg.default_context()``).

    >>> import minigrad as mg
    >>> mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    Variable([1., 2.], requires_grad=True, name='w')
    """
    return leaf_variable(default_context(), value, requires_grad, name, dtype, device)


def leaf_variable(
    context, value, requires_grad: bool = False, name: str | None = None, dtype=None, device=None
) -> Variable:
    """A new leaf Variable on ``context``, from a tensor, array, list or number.

    This is ``ctx.variable(value, requires_grad=False, name=None, dtype=None, device=None)``.
    """
    return Variable(as_tensor(value, dtype=dtype, device=device), requires_grad, context, name)
