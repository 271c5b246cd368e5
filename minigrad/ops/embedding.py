"""Embedding: rows of a weight matrix picked by integer indices (a lookup table).

Only the rows that were picked get a gradient: the sum of the gradients at
every place each was used.
"""

from __future__ import annotations

import torch

from minigrad.errors import DTypeError, OutOfRangeError, UnsupportedArgumentError, message
from minigrad.gate import Gate
from minigrad.ops.aten import aten_kernel
from minigrad.variable import Variable


class Embedding(Gate):
    """y[...] = weight[indices[...]].   dL/dweight[r] = sum of G at every place row r was read.

    ``padding_idx``: that row gets no gradient (it stays what it was, e.g.
    zeros for padding). ``scale_grad_by_freq``: each row's gradient is divided
    by how often the row was read in this call.

    ``backward`` runs torch's kernel for exactly that sum (one call, where
    the formula written out, :meth:`reference_backward`, takes a zero
    tensor, an index_add_ and the options' extra kernels); a test proves
    the two equal.
    """

    piecewise_linear = True  # linear in the weight

    def __init__(self, indices: torch.Tensor, padding_idx=None, scale_grad_by_freq=False):
        self.indices = indices
        self.padding_idx, self.scale_grad_by_freq = padding_idx, scale_grad_by_freq

    def forward(self, weight):
        self.weight_shape = weight.shape
        return weight[self.indices]

    def backward(self, grad_output):
        padding = -1 if self.padding_idx is None else self.padding_idx
        rows = self.weight_shape[0]
        return (
            _embedding_backward(grad_output, self.indices, rows, padding, self.scale_grad_by_freq),
        )

    def reference_backward(self, grad_output):
        """The formula of the docstring; ``backward`` runs torch's one kernel for it."""
        rows = self.indices.reshape(-1)
        grad = grad_output.new_zeros(self.weight_shape)
        grad.index_add_(0, rows, grad_output.reshape(-1, self.weight_shape[1]))
        if self.scale_grad_by_freq:
            counts = torch.bincount(rows, minlength=self.weight_shape[0]).clamp_(min=1)
            grad /= counts.unsqueeze(1).to(grad.dtype)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        return (grad,)

    def jvp(self, t):
        return t[self.indices]

    def backward_transpose(self, t):
        """The map whose transpose backward is: the rows read, as jvp, but with the padding
        row zeroed and each row divided by its count first, as backward does to them.

        (Where backward is the true gradient this is jvp itself; here padding_idx and
        scale_grad_by_freq change the gradient by convention. torch's double backward
        zeroes the padding row too, but leaves out the counts.)
        """
        if self.scale_grad_by_freq:
            counts = torch.bincount(self.indices.reshape(-1), minlength=self.weight_shape[0])
            t = t / counts.clamp(min=1).unsqueeze(1).to(t.dtype)
        if self.padding_idx is not None:
            t = t.index_fill(0, torch.tensor([self.padding_idx], device=t.device), 0.0)
        return t[self.indices]


_embedding_backward = aten_kernel("embedding_dense_backward")


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
):
    """Rows of ``weight`` picked by integer indices ``input``, as torch.nn.functional.embedding."""
    indices = input.value if isinstance(input, Variable) else torch.as_tensor(input)
    if max_norm is not None:
        raise UnsupportedArgumentError(
            "embedding",
            "max_norm",
            max_norm,
            "it rescales weight rows in place; clip them yourself",
        )
    if sparse:
        raise UnsupportedArgumentError(
            "embedding", "sparse", sparse, "minigrad's gradients are dense tensors"
        )
    if indices.dtype not in (torch.int64, torch.int32):
        raise DTypeError(
            message(
                "embedding",
                "integer indices (int64 or int32)",
                f"dtype {indices.dtype}",
                "convert them with .long()",
            )
        )
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise OutOfRangeError(
                message(
                    "embedding",
                    f"padding_idx in [{-rows}, {rows - 1}] for a weight with {rows} rows",
                    f"padding_idx={padding_idx}",
                    "padding_idx names one row of the weight",
                )
            )
        padding_idx %= rows
    return Embedding(indices, padding_idx, scale_grad_by_freq)(weight)
