"""minigrad: a readable tape autograd and nn library on torch tensors.

Reading order (each file imports only the ones before it):

    errors.py      the typed errors and warnings every learner-facing check raises
    grad_mode.py   whether an op is recorded, per thread: no_grad, enable_grad
    tape.py        Context (the tape), Node, Leaf, Payload, default_context
    variable.py    Variable: a torch tensor with .grad, .requires_grad, a tape
    anomaly.py     detect_anomaly()
    gate.py        Gate: an op's forward and backward, and how a call is recorded
    walk_checks.py what the reverse walk refuses, and how it says so
    higher_order.py create_graph: a gate's backward recorded on the tape
    backprop.py    the reverse walk over the tape; backprop = walk + write .grad
    autograd.py    mg.grad: the walk's gradients returned (torch.autograd.grad)
    memory.py      what the tape's saved tensors hold, in bytes: per node, per tape, at peak
    recompute.py   gradient checkpointing: a segment saved as its inputs, re-run in backward
    ops/           every op, one small Gate class each
    inspect.py     the tape as records and a printed table; module_scopes
    methods.py     Variable's and Context's methods that run the files above
    trace.py       the reverse walk summarised step by step, for the TapeViewer
    stats.py       gradient statistics per parameter, for the widgets
    gradcheck.py   finite differences against the tape's gradients
    forward_mode.py jvp (a forward walk of the tape), vjp, hvp, hessian
    recording.py   every torch call one step makes, recorded with the gate that made it
    source.py      one recorded call spelled as a line of Python
    program.py     a recording written out as a straight-line Python function
    nn/            Module, initialisers, layers
    optim/         optimisers and learning-rate schedulers
    distributed/   data-parallel training on torch.distributed: process groups, averaging
    data/          data sets and the DataLoader
    atomic_file.py writing a file all or nothing; OS errors in plain words
    file_kinds.py  what a file that is not a checkpoint is, from its first bytes
    checkpoint.py  checkpoints: atomic, checksummed, loaded without running code
    training/      the training loop, metrics and callbacks
    data_parallel_demo.py  python -m minigrad.data_parallel_demo: the digits MLP on W processes
    exercises/     the checks behind the lessons' exercises, one file a lesson
    lessons.py     python -m minigrad.lessons: the lessons, out of an installed wheel
    grading.py     python -m minigrad.grading: the lessons as an nbgrader course

``methods.py`` is the one place where a file reaches back: it gives Variable
its operators and op methods (``x + y`` is ``mg.add(x, y)``) and Context its
``variable``, ``records`` and ``print``, once the files they run exist.

``__all__`` lists what a learner may use; the files themselves are not part
of it, except the libraries built on the engine (nn, optim, distributed, data,
training, checkpoint).
"""

import types as _types

# The engine, in reading order.
from minigrad.errors import (
    AnomalyError,
    ArgumentError,
    ArgumentTypeError,
    CheckpointError,
    CheckpointIOError,
    CompileError,
    ContextError,
    DeviceError,
    DistributedError,
    DTypeError,
    GateError,
    GradientError,
    HyperParameterError,
    MinigradError,
    MinigradWarning,
    OutOfRangeError,
    SetupError,
    ShapeError,
    TapeError,
    TapeGrowthWarning,
    RecordingError,
    UnfinishedGateError,
    UnsupportedArgumentError,
)
from minigrad.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minigrad.tape import Context, Leaf, Node, Payload, default_context
from minigrad.variable import Variable, tensor
from minigrad.anomaly import detect_anomaly
from minigrad.gate import Gate
from minigrad.backprop import backprop
from minigrad.autograd import grad
from minigrad.memory import SavedBytesMeter, peak_saved_bytes, saved_bytes
from minigrad.recompute import Recompute, recompute
from minigrad import ops as _ops
from minigrad import methods as _methods  # noqa: F401  (attaches Variable's and Context's methods)
from minigrad.gradcheck import (
    GradcheckReport,
    gradcheck,
    gradcheck_gate,
    gradcheck_node,
    gradgradcheck,
)
from minigrad.forward_mode import hessian, hvp, jvp, vjp
from minigrad.inspect import ModuleScopes, module_scopes

# The neural-network library, built on the engine.
from minigrad import nn, optim, distributed, data, training, checkpoint
from minigrad.nn.init import init_random
from minigrad.training import Trainer, fit, accuracy, confusion_matrix
from minigrad.checkpoint import save_checkpoint, load_checkpoint

# Every op function and Gate class, as mg.relu and mg.ReLU; not the files they
# live in (mg.shape or mg.conv would be modules, not ops).
_OP_NAMES = [
    name for name in _ops.__all__ if not isinstance(getattr(_ops, name), _types.ModuleType)
]
globals().update({name: getattr(_ops, name) for name in _OP_NAMES})

__version__ = "0.1.0"

__all__ = [
    # errors and warnings
    "MinigradError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "ContextError",
    "TapeError",
    "GradientError",
    "AnomalyError",
    "HyperParameterError",
    "CheckpointError",
    "CheckpointIOError",
    "SetupError",
    "ArgumentTypeError",
    "DistributedError",
    "ArgumentError",
    "OutOfRangeError",
    "UnsupportedArgumentError",
    "GateError",
    "UnfinishedGateError",
    "CompileError",
    "RecordingError",
    "MinigradWarning",
    "TapeGrowthWarning",
    # the engine
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "set_grad_enabled",
    "Context",
    "Node",
    "Leaf",
    "Payload",
    "default_context",
    "Variable",
    "tensor",
    "detect_anomaly",
    "Gate",
    "backprop",
    "grad",
    "SavedBytesMeter",
    "peak_saved_bytes",
    "saved_bytes",
    "Recompute",
    "recompute",
    *_OP_NAMES,
    "GradcheckReport",
    "gradcheck",
    "gradcheck_gate",
    "gradcheck_node",
    "gradgradcheck",
    "jvp",
    "vjp",
    "hvp",
    "hessian",
    "ModuleScopes",
    "module_scopes",
    # the libraries built on it
    "nn",
    "optim",
    "distributed",
    "data",
    "training",
    "checkpoint",
    "init_random",
    "Trainer",
    "fit",
    "accuracy",
    "confusion_matrix",
    "save_checkpoint",
    "load_checkpoint",
]
