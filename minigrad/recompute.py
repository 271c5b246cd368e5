"""Gradient checkpointing: save a segment's inputs only, and run the segment again in backward.

A tape saves, for every node, what its backward needs: for a chain of n
layers that is about n activations, all alive at the end of the forward
pass. ``recompute`` trades time for that memory::

    h = mg.recompute(segment, h, w1, b1, w2, b2)      # instead of h = segment(h, w1, ...)

* forward runs ``segment`` with recording off: none of its nodes is on the
  tape and nothing inside it is saved. The tape gets one ``Recompute`` node,
  which saves only the segment's inputs;
* backward runs ``segment`` again on those inputs, this time recorded on a
  tape of its own, walks that tape back from the gradient that arrived, and
  hands each input its gradient. The segment's activations live only while
  its own backward runs.

The gradients are the same numbers: the recomputation repeats the same ops
on the same values. Random ops too: if the segment drew random numbers
(dropout), the generator's state from the forward pass is put back before
the recomputation, so it draws the same ones (``preserve_rng_state=True``,
as ``torch.utils.checkpoint``).

Everything the segment uses that needs a gradient must come in through its
inputs (parameters included), because the recomputation runs on a tape of
its own: a Variable from another tape inside ``segment`` is refused in
forward, with a message saying so. Tensors that are constants may be used
freely.

Cutting n layers into k segments keeps about k segment inputs for the whole
step, plus n / k activations while one segment is recomputed: k + n / k is
smallest, 2 sqrt(n), at k = sqrt(n), for the price of one more forward pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch

from minigrad.backprop import leaf_gradients, reverse_walk
from minigrad.errors import ArgumentTypeError, ContextError, GateError, RecordingError
from minigrad.gate import Gate
from minigrad.grad_mode import enable_grad, no_grad
from minigrad.memory import recomputing
from minigrad.tape import Context
from minigrad.variable import Variable


class Recompute(Gate):
    """y = f(x_1, ..., x_k), saving only x_1 ... x_k; backward runs f again.

    dL/dx_i: f recomputed on the saved inputs, recorded on a tape of its own,
    and walked back from dL/dy.
    """

    def __init__(self, function: Callable, preserve_rng_state: bool = True):
        self.function = function
        self.preserve_rng_state = preserve_rng_state
        self.rng_states: tuple = ()  # (device, generator state), only if the segment drew any

    @property
    def name(self) -> str:
        return "Recompute"

    def saved_tensors(self) -> dict[str, torch.Tensor]:
        """The segment's inputs (all it keeps), and the generator states it may need."""
        saved = {f"input{i}": x for i, x in enumerate(self.inputs) if isinstance(x, torch.Tensor)}
        saved.update({f"rng_state[{device}]": state for device, state in self.rng_states})
        return saved

    def forward(self, *inputs):
        self.inputs = inputs
        before = _rng_states(inputs) if self.preserve_rng_state else ()
        probe = Context(name=f"recompute {_name(self.function)}")
        with no_grad():  # record nothing, anywhere: that is the point
            out, _ = self.run(probe, [False] * len(inputs))
        if self.preserve_rng_state:
            self.rng_states = tuple(
                (device, state) for device, state in before if not _same_state(device, state)
            )
        return out.value

    def backward(self, grad_output):
        tape = Context(name=f"recompute {_name(self.function)}")
        try:
            with torch.random.fork_rng(devices=_cuda_indices(self.rng_states)):
                for device, state in self.rng_states:
                    _set_state(device, state)
                with enable_grad():  # even inside no_grad: backward needs the tape
                    out, leaves = self.run(tape, self.needs_input_grad)
            if not out.requires_grad:  # the output depends on no input that needs a gradient
                return (None,) * len(leaves)
            pending: dict = {}
            with recomputing(tape):  # the segment is on its tape now: its peak
                # (run to its end, keeping nothing it yields: see backprop)
                deque(reverse_walk(out, grad_output, pending, release=True), maxlen=0)
            totals = {id(variable): g for variable, g in leaf_gradients(pending)}
            return tuple(
                totals.get(id(leaf)) if isinstance(leaf, Variable) else None for leaf in leaves
            )
        finally:
            tape.clear()

    def recorded_backward(self, grad_output):
        """Refused: a checkpointed segment's backward walks a tape of its own, which
        ``create_graph`` cannot join to this one (so no second derivative)."""
        raise RecordingError(
            f"recompute({_name(self.function)}): its backward cannot be recorded "
            "(create_graph=True, mg.hvp, mg.hessian): the segment is run again and walked "
            "back on a tape of its own, so the gradient it returns has no history here\n"
            "help: call the segment directly, without mg.recompute, where you take second "
            "derivatives (checkpointing saves memory in first-order training)"
        )

    def run(self, tape: Context, needs) -> tuple[Variable, list]:
        """The segment on fresh leaves on ``tape`` (one per tensor input): (output, leaves)."""
        leaves = [
            Variable(x, requires_grad=need, context=tape) if isinstance(x, torch.Tensor) else x
            for x, need in zip(self.inputs, needs)
        ]
        try:
            out = self.function(*leaves)
        except ContextError as error:
            raise ContextError(
                f"recompute({_name(self.function)}): expected every Variable the segment uses "
                "to come in through its inputs, got one from another tape (a parameter read "
                "from outside, or a Variable made inside it)\n"
                "help: pass it as an input, e.g. mg.recompute(segment, h, *parameters), and "
                "use the argument inside the segment; plain tensors may be used as constants"
            ) from error
        if not isinstance(out, Variable):
            raise GateError(
                f"recompute({_name(self.function)}): expected the segment to return one "
                f"Variable, got {type(out).__name__}\n"
                "help: return the segment's output, the result of minigrad ops on its inputs"
            )
        return out, leaves


def recompute(function: Callable, *inputs, preserve_rng_state: bool = True):
    """``function(*inputs)``, checkpointed: only the inputs are saved; backward runs it again.

    As ``torch.utils.checkpoint.checkpoint(function, *inputs, use_reentrant=False)``,
    except that every Variable ``function`` uses that needs a gradient must
    be among ``inputs`` (see the module docstring).
    """
    if not callable(function):
        raise ArgumentTypeError(
            f"recompute: expected a function of the segment's inputs, got "
            f"{type(function).__name__}\n"
            "help: pass the function first, then its inputs: mg.recompute(segment, h, w, b)"
        )
    return Recompute(function, preserve_rng_state)(*inputs)


def _name(function) -> str:
    return getattr(function, "__name__", type(function).__name__)


def _rng_states(inputs) -> list:
    """The generator states a segment on these inputs could draw from: the CPU's, each GPU's."""
    states = [(torch.device("cpu"), torch.get_rng_state())]
    gpus = {x.device for x in inputs if isinstance(x, torch.Tensor) and x.is_cuda}
    states += [(device, torch.cuda.get_rng_state(device)) for device in sorted(gpus, key=str)]
    return states


def _same_state(device: torch.device, state: torch.Tensor) -> bool:
    now = torch.get_rng_state() if device.type == "cpu" else torch.cuda.get_rng_state(device)
    return torch.equal(now, state)


def _set_state(device: torch.device, state: torch.Tensor) -> None:
    if device.type == "cpu":
        torch.set_rng_state(state)
    else:
        torch.cuda.set_rng_state(state, device)


def _cuda_indices(states) -> list[int]:
    return [device.index or 0 for device, _ in states if device.type == "cuda"]
