"""``detect_anomaly()``: stop at the first NaN or Inf, and say which gate made it.

While it is on, every gate's outputs (in forward) and every gradient it
returns (in backward) are checked; the first value that is not finite raises
:class:`~minigrad.errors.AnomalyError` naming the gate, its index on the tape
and the shapes involved. The checks cost a pass over each tensor, so it is off
by default, as in torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from minigrad.errors import AnomalyError, format_shape
from minigrad.variable import tensor_of


class AnomalyMode:
    enabled = False


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise at the first NaN or Inf produced in forward or backward inside the block."""
    previous = AnomalyMode.enabled
    AnomalyMode.enabled = True
    try:
        yield
    finally:
        AnomalyMode.enabled = previous


def check_finite(gate, phase: str, tensors, index: int | None, input_shapes) -> None:
    """Raise AnomalyError if any tensor in ``tensors`` holds a NaN or Inf."""
    for position, tensor in enumerate(tensors):
        tensor = tensor_of(tensor)  # a recorded backward (create_graph) sends Variables
        if tensor is None or not isinstance(tensor, torch.Tensor):
            continue
        if not tensor.is_floating_point() or bool(torch.isfinite(tensor).all()):
            continue
        nans = int(torch.isnan(tensor).sum())
        infs = int(torch.isinf(tensor).sum())
        where = f"node {index} on the tape" if index is not None else "an unrecorded call"
        what = "output" if phase == "forward" else "gradient for input"
        shapes = ", ".join(format_shape(s) for s in input_shapes)
        raise AnomalyError(
            f"{phase}: {gate.name} ({where}) produced {nans} NaN and {infs} Inf values in its "
            f"{what} {position} of shape {format_shape(tensor.shape)}; its inputs had shapes "
            f"[{shapes}]\n"
            "help: look at this gate's inputs: a log or sqrt of a value <= 0, a division by "
            "zero, or an exp that overflowed are the usual causes"
        )
