"""Broadcasting, and why its gradient is a sum.

When ``a`` of shape (3, 1) meets ``b`` of shape (4,), both are stretched to
(3, 4): each element of ``a`` is used 4 times, each element of ``b`` 3 times.
A value used several times receives the sum of the gradients of its uses, so
the gradient flowing back (shape (3, 4)) must be summed over the stretched
dimensions to get back to each input's shape. :func:`sum_to_shape` does that.
"""

from __future__ import annotations

import torch

from minigrad.errors import ShapeError, format_shape, message
from minigrad.ops.sizes import reshaped


def sum_to_shape(grad: torch.Tensor, shape) -> torch.Tensor:
    """Sum ``grad`` over the dimensions that broadcasting added or stretched.

    >>> sum_to_shape(torch.ones(3, 4), (3, 1)).tolist()
    [[4.0], [4.0], [4.0]]
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if grad.shape[lead:] == shape:  # only new leading dimensions (a bias over a batch)
        return grad.sum(0) if lead == 1 else grad.sum(tuple(range(lead)))
    dims = list(range(lead))
    for i, size in enumerate(shape):
        if size == 1 and grad.shape[lead + i] != 1:
            dims.append(lead + i)
    if dims:
        grad = grad.sum(dims, keepdim=True)
    return reshaped(grad, shape)


def shape_of(x) -> torch.Size | None:
    """The shape of a tensor input, ``None`` for a Python number."""
    return x.shape if isinstance(x, torch.Tensor) else None


class BroadcastingGate:
    """Mixin for element-wise ops on several inputs: explains shapes that don't broadcast."""

    def explain(self, tensors, error):
        shapes = [t.shape for t in tensors if isinstance(t, torch.Tensor)]
        try:
            torch.broadcast_shapes(*shapes)
        except RuntimeError:
            return ShapeError(broadcast_message(self.name, shapes))
        return super().explain(tensors, error)


def broadcast_message(op: str, shapes) -> str:
    """Say which dimension stops ``shapes`` from broadcasting, counting from the right."""
    width = max(len(s) for s in shapes)
    for back in range(1, width + 1):
        sizes = {s[-back] for s in shapes if len(s) >= back} - {1}
        if len(sizes) > 1:
            listed = " and ".join(format_shape(s) for s in shapes)
            found = ", ".join(str(s[-back]) if len(s) >= back else "-" for s in shapes)
            return (
                f"{op}: shapes {listed} do not broadcast: expected sizes that are equal or 1 "
                f"in each dimension counting from the right, got sizes {found} in dimension "
                f"{-back}\n"
                "help: reshape or unsqueeze one input so the dimensions line up, e.g. "
                "x.unsqueeze(-1) turns (n,) into (n, 1)"
            )
    listed = " and ".join(format_shape(s) for s in shapes)
    return message(op, "shapes that broadcast", listed, "line the dimensions up from the right")
