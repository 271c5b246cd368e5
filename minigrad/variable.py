"""Variable: a torch tensor that remembers where it came from.

A Variable is what flows through a minigrad program. It holds

* ``value``: the data, a plain ``torch.Tensor`` (CPU or CUDA);
* ``grad``: the gradient backprop accumulated into it (a tensor or ``None``);
* ``requires_grad``: whether a gradient should be computed for it
  (nimxla calls this ``calcGrad``);
* ``context``: the tape its ops are recorded on;
* ``node`` / ``output_index``: the tape node that produced it (``None`` for a
  leaf, a Variable the learner made rather than an op).

Operators and methods (``+``, ``@``, ``.sum()``, ``.relu()`` ...) call the
functions in ``minigrad.ops``; each of those runs a Gate, which records a node.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from minigrad.tape import GradMode, default_context


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
        raise TypeError(
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
            raise TypeError(
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
        return self.requires_grad and self.context.recording and GradMode.enabled

    # -- conversions --------------------------------------------------------
    def item(self) -> float:
        return self.value.item()

    def numpy(self) -> np.ndarray:
        return self.value.detach().cpu().numpy()

    def tolist(self):
        return self.value.tolist()

    def to(self, device=None, dtype=None) -> Variable:
        """This Variable on another device and/or dtype (recorded: gradients flow back)."""
        if isinstance(device, torch.dtype):
            device, dtype = None, device
        return ops.to(self, device, dtype)

    def cpu(self) -> Variable:
        return self.to("cpu")

    def cuda(self) -> Variable:
        return self.to("cuda")

    def float(self) -> Variable:
        return ops.to_dtype(self, torch.float32)

    def double(self) -> Variable:
        return ops.to_dtype(self, torch.float64)

    def detach(self) -> Variable:
        """The same values as a new leaf that needs no gradient."""
        return Variable(self.value, False, self.context, self.name)

    def requires_grad_(self, requires_grad: bool = True) -> Variable:
        self.requires_grad = requires_grad
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # -- backprop -----------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Backpropagate from this Variable: see :func:`minigrad.backprop`."""
        from minigrad.backprop import backprop

        backprop(self, grad, retain_graph=retain_graph)

    def register_hook(self, hook) -> None:
        """Call ``hook(grad)`` when this Variable's gradient is complete during backprop.

        If the hook returns a tensor, that replaces the gradient.
        """
        if not callable(hook):
            raise TypeError(f"register_hook expects a function, got {type(hook).__name__}")
        if self.hooks is None:
            self.hooks = []
        self.hooks.append(hook)

    # -- printing -----------------------------------------------------------
    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name else ""
        flag = ", requires_grad=True" if self.requires_grad else ""
        body = repr(self.value.detach()).replace("tensor(", "", 1).rstrip(")")
        body = body.split(", grad_fn=")[0]
        return f"Variable({body}{flag}{name})"

    def __bool__(self) -> bool:
        return bool(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __hash__(self) -> int:
        return id(self)

    # -- arithmetic (each one runs a Gate from minigrad.ops) ----------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __rpow__(self, base):
        return ops.pow(base, self)

    def __neg__(self):
        return ops.neg(self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __getitem__(self, key):
        return ops.index(self, key)

    # Comparisons give plain boolean tensors: they have no gradient.
    def __lt__(self, other):
        return self.value < _raw(other)

    def __le__(self, other):
        return self.value <= _raw(other)

    def __gt__(self, other):
        return self.value > _raw(other)

    def __ge__(self, other):
        return self.value >= _raw(other)

    # -- methods named as torch's --------------------------------------------
    def sum(self, dim=None, keepdim=False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.mean(self, dim, keepdim)

    def var(self, dim=None, keepdim=False, correction=1):
        return ops.var(self, dim, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def logsumexp(self, dim, keepdim=False):
        return ops.logsumexp(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False) -> torch.Tensor:
        return self.value.argmax(dim, keepdim) if dim is not None else self.value.argmax()

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def clamp(self, min=None, max=None):
        return ops.clamp(self, min, max)

    def relu(self):
        return ops.relu(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def softmax(self, dim):
        return ops.softmax(self, dim)

    def log_softmax(self, dim):
        return ops.log_softmax(self, dim)

    def matmul(self, other):
        return ops.matmul(self, other)

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    def permute(self, *dims):
        return ops.permute(self, *dims)

    @property
    def T(self):
        return ops.permute(self, *reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def expand(self, *sizes):
        return ops.expand(self, *sizes)

    def split(self, split_size, dim=0):
        return ops.split(self, split_size, dim)

    def chunk(self, chunks, dim=0):
        return ops.chunk(self, chunks, dim)


def _raw(x):
    return x.value if isinstance(x, Variable) else x


def tensor(
    value, requires_grad: bool = False, name: str | None = None, dtype=None, device=None
) -> Variable:
    """A new leaf Variable on the current context (see ``mg.default_context()``).

    >>> import minigrad as mg
    >>> mg.tensor([1.0, 2.0], requires_grad=True, name="w")
    Variable([1., 2.], requires_grad=True, name='w')
    """
    return Variable(
        as_tensor(value, dtype=dtype, device=device), requires_grad, default_context(), name
    )


# The ops module builds on Variable, so it is imported last; the methods
# above look ``ops`` up when they are called, by which time it is complete.
from minigrad import ops  # noqa: E402
