"""Embedding: a table of learned vectors, one row per token id."""

from __future__ import annotations

import torch

from minigrad.errors import HyperParameterError
from minigrad.nn.checks import check_count
from minigrad.nn.init import InitFunc, new_variable, normal_init
from minigrad.nn.module import Module
from minigrad.ops import embedding


class Embedding(Module):
    """y[...] = weight[ids[...]]: each integer id looks up its row of ``weight``.

    ``weight`` has shape (num_embeddings, embedding_dim) and starts as N(0, 1),
    as torch's. A lookup is a matrix product with one-hot rows, done without
    building them: only the rows that were read get a gradient (the sum of the
    gradients of every place each was read). ``padding_idx`` names a row that
    starts at zero and never learns.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        weights: InitFunc = normal_init(0.0, 1.0),  # noqa: B008 (a pure closure: safe to share)
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        hint = "e.g. Embedding(65, 32): 65 token ids, a vector of 32 numbers for each"
        self.num_embeddings = check_count("Embedding", "num_embeddings", num_embeddings, 1, hint)
        self.embedding_dim = check_count("Embedding", "embedding_dim", embedding_dim, 1, hint)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise HyperParameterError(
                    f"Embedding: padding_idx must name a row in [{-num_embeddings}, "
                    f"{num_embeddings - 1}], got {padding_idx!r}\n"
                    "help: padding_idx is the id of the padding token, e.g. 0"
                )
            padding_idx %= num_embeddings
        self.padding_idx = padding_idx
        common = {"generator": generator, "dtype": dtype, "device": device}
        self.weight = new_variable("weight", (num_embeddings, embedding_dim), weights, **common)
        if padding_idx is not None:
            self.weight.value[padding_idx] = 0.0

    def forward(self, ids):
        return embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
