"""The errors minigrad raises.

Every error a learner can hit says three things: what was expected, what
came instead, and how to fix it (a line that starts with "help:"). They are
typed, so a test or a notebook can catch exactly the kind it expects, and each
one is also a subclass of the built-in error Python users would reach for
(``ValueError``, ``TypeError``, ``RuntimeError``).
"""

from __future__ import annotations


class MinigradError(Exception):
    """Base class of every error minigrad raises on purpose."""


class ShapeError(MinigradError, ValueError):
    """Shapes that do not broadcast, multiply or fit the op."""


class OutOfRangeError(ShapeError, IndexError):
    """A dim or an index outside the tensor's range (an IndexError too, as torch raises)."""


class DTypeError(MinigradError, TypeError):
    """A tensor of the wrong dtype: floats of different precision met in one op (no
    silent promotion), integers where an op computes in floating point, floats
    where it needs class indices."""


class DeviceError(MinigradError, RuntimeError):
    """Tensors on different devices met in one op."""


class ContextError(MinigradError, RuntimeError):
    """Variables from two different tapes met in one op."""


class TapeError(MinigradError, RuntimeError):
    """Backprop that cannot run (an emptied tape, a non-scalar root without a gradient), or a
    tape read the wrong way (one output asked of a node that made several)."""


class GradientError(MinigradError, RuntimeError):
    """A Gate's backward returned the wrong number, shape or kind of gradients."""


class AnomalyError(MinigradError, FloatingPointError):
    """A NaN or Inf appeared while ``detect_anomaly()`` was on."""


class HyperParameterError(MinigradError, ValueError):
    """An argument outside its valid range: a learning rate, a layer size, Dropout's p."""


class CheckpointError(MinigradError, ValueError):
    """A checkpoint or state dict that is damaged, foreign or does not fit the model."""


class CheckpointIOError(MinigradError, OSError):
    """The file system refused a checkpoint: disk full, permission denied, no such file."""


class SetupError(MinigradError, ValueError):
    """Training pieces that do not fit together: an optimiser that holds none of the
    model's parameters, a scheduler driving another optimiser, a loader with no batches."""


class DistributedError(MinigradError, RuntimeError):
    """Data-parallel training that cannot go on: a process that stopped or did not answer
    in time, a process group that could not start, processes that disagree."""


class ArgumentTypeError(MinigradError, TypeError):
    """An argument of the wrong kind: a plain list where tensors are needed, a torch
    optimiser where a minigrad one is, a tensor where a Variable is."""


class GateError(MinigradError, TypeError):
    """A Gate that breaks its contract: a forward that returns something other than tensors."""


class UnfinishedGateError(MinigradError, NotImplementedError):
    """A Gate subclass that has not written its forward or its backward yet."""


class CompileError(MinigradError, RuntimeError):
    """A step that cannot become a straight-line program (``compile_train``): Python that
    reads a tensor's values, an op whose output shape depends on them, a hook."""


class RecordingError(GateError):
    """A Gate whose backward cannot be recorded on the tape (``create_graph=True``, forward
    mode): it reads a tensor whose link to the inputs the tape does not know, or it calls a
    torch function that only takes tensors."""


class MinigradWarning(UserWarning):
    """Base class of every warning minigrad gives: something works, but likely not as meant."""


class TapeGrowthWarning(MinigradWarning):
    """A tape that only grows: many forward passes recorded and never walked back."""


class ArgumentError(MinigradError, ValueError, TypeError):
    """An op's argument (``mg.sum``, ``mg.conv2d`` ...) outside the values torch's
    signature allows: ``reduction="avg"``, ``dim=1.5``, ``padding="full"``.

    Both a ValueError and a TypeError, because torch raises one or the other
    for the same mistakes and a learner's ``except`` may name either.
    """


class UnsupportedArgumentError(MinigradError, NotImplementedError):
    """An argument torch accepts that minigrad deliberately leaves out.

    ``argument`` holds its name, which the message also gives.
    """

    def __init__(self, op: str, argument: str, got, fix: str):
        self.op, self.argument = op, argument
        expected = f"{argument}= left at its default (minigrad leaves it out on purpose)"
        super().__init__(message(op, expected, f"{argument}={got!r}", fix))


def message(op: str, expected: str, got: str, fix: str) -> str:
    """The three parts every error says, in one layout::

    op: expected ..., got ...
    help: ...
    """
    return f"{op}: expected {expected}, got {got}\nhelp: {fix}"


def format_shape(shape) -> str:
    """``(3, 4)`` for a torch.Size, a tuple or a list; ``()`` for a scalar."""
    dims = tuple(shape)
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(str(d) for d in dims) + ")"
