"""torch's kernels by name, for the gates whose fast path calls one that has no torch function.

``torch.ops.aten.tanh_backward(g, y)`` works, but on every call it first
picks the overload in Python (a few microseconds, paid per node per step on
small tensors). :func:`aten_kernel` picks it once, when the gate's module is
imported. It is the same kernel: torch's function modes (``compile_train``'s
recorder) still see the call, as ``torch.ops.aten.tanh_backward.default``.
"""

from __future__ import annotations

import torch


def aten_kernel(name: str):
    """The callable behind ``torch.ops.aten.<name>.default``."""
    overload = getattr(torch.ops.aten, name).default
    return getattr(overload, "_op", overload)  # (the OpOverload itself if torch renames _op)
