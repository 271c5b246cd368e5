"""Shapes handed to torch as separate sizes, the fast way to call it.

torch reads ``t.reshape(32, 3, 10)`` faster than ``t.reshape((32, 3, 10))``
or ``t.reshape(x.shape)``: a shape that comes as one tuple, or as a
``torch.Size``, takes a slower path through torch's argument parser. Alone
that is about 1 us more per call (reshape 1.0 us against 2.1 us with a
torch.Size); inside a training step, with the caches cold, it is several
times that. Three such calls were 5% of makemore's MLP step.

So the calls that run on every step (the reshape in a shape op's backward,
the zeros an index's gradient starts from) pass the sizes one by one, through
these helpers. A 0-dim shape has no sizes to pass, so it goes as ``()``.
``reshaped``, ``viewed``, ``expanded`` and ``permuted`` take Variables as
well as tensors, so a formula that ``create_graph`` records may use them.
"""

from __future__ import annotations


def reshaped(t, shape):
    """``t.reshape(shape)``."""
    return t.reshape(*shape) if shape else t.reshape(())


def viewed(t, shape):
    """``t.view(shape)``: as reshaped, for a ``t`` that needs no copy."""
    return t.view(*shape) if shape else t.view(())


def expanded(t, shape):
    """``t.expand(shape)``."""
    return t.expand(*shape) if shape else t.expand(())


def permuted(t, dims):
    """``t.permute(dims)``."""
    return t.permute(*dims) if dims else t.permute(())


def zeros_like_shape(t, shape):
    """Zeros of ``shape``, with ``t``'s dtype and device (``t.new_zeros(shape)``)."""
    return t.new_zeros(*shape) if shape else t.new_zeros(())
