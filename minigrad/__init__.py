"""minigrad: a readable tape autograd and nn library on torch tensors.

Reading order (each file imports only the ones before it):

    errors.py      the typed errors every learner-facing check raises
    tape.py        Context (the tape), Node, Payload, no_grad
    variable.py    Variable: a torch tensor with .grad, .requires_grad, a tape
    anomaly.py     detect_anomaly()
    gate.py        Gate: an op's forward and backward, and how a call is recorded
    backprop.py    the reverse walk over the tape
    ops/           every op, one small Gate class each
    inspect.py     the tape as records and a printed table
    gradcheck.py   finite differences against the tape's gradients
    nn/, optim/, data/, training/  the neural-network library
    atomic_file.py, file_kinds.py, checkpoint.py   checkpoints: atomic, checksummed, no code run
"""

# The engine, in reading order.
from minigrad.errors import (
    AnomalyError,
    ArgumentTypeError,
    CheckpointError,
    CheckpointIOError,
    ContextError,
    DeviceError,
    DTypeError,
    GradientError,
    HyperParameterError,
    MinigradError,
    SetupError,
    ShapeError,
    TapeError,
)
from minigrad.tape import Context, Node, Payload, default_context, enable_grad, no_grad
from minigrad.variable import Variable, tensor
from minigrad.anomaly import detect_anomaly
from minigrad.gate import Gate
from minigrad.backprop import backprop
from minigrad.ops import *
from minigrad.gradcheck import GradcheckReport, gradcheck, gradcheck_gate, gradcheck_node

# The neural-network library, built on the engine.
from minigrad import nn, optim, data, training, checkpoint
from minigrad.nn.init import init_random
from minigrad.training import Trainer, fit, accuracy, confusion_matrix
from minigrad.checkpoint import save_checkpoint, load_checkpoint

__version__ = "0.1.0"
