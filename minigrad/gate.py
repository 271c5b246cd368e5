"""Gate: the base class of every op, and the code that records a call on the tape.

A Gate subclass says how to go forward and how to come back, side by side::

    class Cube(mg.Gate):
        '''y = x**3,  dy/dx = 3 x**2'''

        def forward(self, x):
            self.x = x                      # keep what backward needs
            return x**3

        def backward(self, grad_output):
            return (grad_output * 3 * self.x**2,)   # one gradient per input

    y = Cube()(x)           # x is a Variable: y is recorded on x's tape

``forward`` receives plain ``torch.Tensor`` s (Python numbers stay numbers) and
returns a tensor, or a tuple of tensors for an op with several outputs.
``backward`` receives the gradient of the output (a tuple of them for several
outputs) and returns one gradient per input, each shaped like its input, or
``None`` for an input that needs none. ``self.needs_input_grad`` (one bool per
input) says which are needed, so a gate can skip work nobody asked for.

A gate instance is used once: it is the node's memory of that one call.

Higher-order gradients and forward mode need a little more of some gates
(``minigrad/higher_order.py``, ``minigrad/forward_mode.py``):

* ``jvp(self, *tangents)``, forward mode: given one tangent per input (how
  that input moves; ``None`` where it does not), return how the output moves,
  J t. A gate without one gets it from its backward (the double-VJP trick).
* With ``create_graph=True`` the backward itself is recorded, so it must be
  written with what tensors and Variables share: operators, tensor methods
  (``x.exp()``, ``x.sum(1, keepdim=True)``, ``g.where(mask, 0.0)``) and the
  saved inputs and outputs (``self.x = x``), which the engine hands to it as
  Variables. A gate with a faster ``backward`` keeps that readable formula as
  ``reference_backward``, which is the one recorded; a fused gate may record
  its backward as one node instead (``recorded_backward``). ``constants``
  names saved floating-point tensors that do not depend on the inputs.
* ``piecewise_linear = True`` says the Jacobian does not change with the
  inputs (sum, reshape, indexing, pooling are linear; relu and max are
  linear piece by piece). Such a backward is recorded as one node, and the
  backward of that node is the gate's ``jvp``: the transpose of a transpose.
* ``saved_inputs`` names, by position, the attributes that hold the inputs
  when forward keeps a reshaped copy of an input rather than the tensor it
  received (a batched matmul keeps its operands folded): the recorded
  backward then still knows which input each one is.
"""

from __future__ import annotations

import numbers

import torch

from minigrad.anomaly import AnomalyMode, check_finite
from minigrad.errors import (
    ArgumentError,
    ContextError,
    DeviceError,
    DTypeError,
    GateError,
    MinigradError,
    ShapeError,
    UnfinishedGateError,
    format_shape,
)
from minigrad.grad_mode import state as grad_mode
from minigrad.tape import Node, default_context, leaf_edge
from minigrad.variable import Variable, as_tensor


class Gate:
    """Base class of every op. Subclasses implement ``forward`` and ``backward``."""

    needs_input_grad: tuple = ()
    # For higher-order gradients and forward mode (see the module docstring).
    jvp = None  # a method jvp(self, *tangents) -> the output's tangent, where a gate has one
    piecewise_linear = False
    constants: tuple = ()
    saved_inputs: tuple = ()  # attribute names, by input position (see the module docstring)
    # Whether backprop may trust this gate to send back one gradient per input, each of
    # its input's shape. Only minigrad's own ops are trusted (set below, per class): their
    # tests compare every gradient with torch.autograd's, shapes included. Every other
    # gate (a learner's, or a subclass of an op written elsewhere) is checked on each
    # walk, with a GradientError that says what came back instead.
    gradients_tested = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.gradients_tested = cls.__module__.startswith("minigrad.ops.")

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *inputs: torch.Tensor):
        raise UnfinishedGateError(
            f"{self.name}: expected a forward(self, *tensors) method, got none\n"
            "help: define forward in the class: it receives the input tensors and returns "
            "the output tensor"
        )

    def backward(self, grad_output):
        raise UnfinishedGateError(
            f"{self.name} has no backward: it can run forward only\n"
            "help: implement backward(self, grad_output) returning one gradient per input"
        )

    def explain(self, tensors: list, error: Exception) -> Exception:
        """Turn a RuntimeError from torch in ``forward`` into a learner-friendly error.

        Subclasses override this to explain their own shape rules.
        """
        device_error = _device_error(self, tensors)
        if device_error is not None:
            return device_error
        shapes = ", ".join(format_shape(t.shape) for t in tensors if isinstance(t, torch.Tensor))
        return ShapeError(
            f"{self.name}: expected inputs that {self.name} can take (its docstring says "
            f"which: help({type(self).__name__})), got shapes [{shapes}]\n"
            f"torch said: {str(error).splitlines()[0]}\n"
            f"help: check the shapes {self.name} expects against the inputs' shapes"
        )

    def saved_tensors(self) -> dict[str, torch.Tensor]:
        """What this gate keeps for backward: its tensor attributes, by name."""
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.Tensor)}

    def __call__(self, *inputs):
        """Run ``forward`` on the inputs' values and, if gradients are needed, record a node.

        (This runs for every op, so it is written as one plain loop: on this
        path each extra function call or comprehension is measurable.)
        """
        tensors = []
        parents = []
        needs = []
        context = None
        count = 0  # tensor inputs: with more than one, their floating dtypes must agree
        constants = None  # ids of the tensor inputs that need no gradient (create_graph asks)
        for x in inputs:
            if x.__class__ is Variable or isinstance(x, Variable):
                if context is None:
                    context = x.context
                elif x.context is not context:
                    raise _two_contexts(self, context, x.context)
                value = x.value
                if x.requires_grad:
                    # The edge back: to the node that made x (not to x itself,
                    # so that x's value can be freed), or to x's Leaf.
                    node = x.node
                    if node is not None:
                        parents.append((node, x.output_index))
                    else:
                        parents.append(x.leaf_edge or leaf_edge(x))
                    needs.append(True)
                else:
                    parents.append(None)
                    needs.append(False)
                    constants = [id(value)] if constants is None else constants + [id(value)]
            else:
                value = _constant(x, tensors)
                parents.append(None)
                needs.append(False)
                if not isinstance(value, torch.Tensor):  # a number or None: no dtype to check
                    tensors.append(value)
                    continue
                constants = [id(value)] if constants is None else constants + [id(value)]
            count += 1
            tensors.append(value)
        if count > 1:
            _check_dtypes(self, tensors)
        if context is None:
            context = default_context()

        recording = True in needs and (
            grad_mode.all_on or (grad_mode.grad_enabled and context not in grad_mode.paused)
        )  # context.is_recording(), inlined
        self.needs_input_grad = tuple(needs) if recording else (False,) * len(needs)
        try:
            out = self.forward(*tensors)
        except (NotImplementedError, MinigradError):
            raise  # an unfinished gate, or an error that already explains itself
        except (RuntimeError, IndexError) as error:
            raise self.explain(tensors, error) from error
        except (TypeError, ValueError) as error:  # an argument torch cannot take
            raise _bad_argument(self, error) from error

        if out.__class__ is torch.Tensor or isinstance(out, torch.Tensor):  # one output, usual
            result = _new_output(out, recording, context)  # (_wrap, its check just made)
            outputs = (result,)
            if recording:
                # context.record, written out (one call fewer: this runs for every op)
                nodes = context.nodes
                index = len(nodes)
                keep = context.keep_outputs
                node = result.node = Node(
                    self, tuple(parents), outputs, index, keep, inputs if keep else None,
                    (id(out),), constants,
                )  # fmt: skip
                nodes.append(node)
                if index == context.growth_warning_at:
                    context._warn_growth()
        else:  # several outputs (split, chunk): a tuple of Variables
            if not isinstance(out, (tuple, list)):
                out = (out,)  # not a tensor either: _wrap says so
            outputs = tuple([_wrap(value, recording, context) for value in out])
            result = outputs
            if recording:
                ids = tuple(map(id, out))
                node = context.record(self, tuple(parents), outputs, inputs, ids, constants)
                for i, v in enumerate(outputs):
                    v.node = node
                    v.output_index = i
        if AnomalyMode.enabled:
            check_finite(
                self,
                "forward",
                [v.value for v in outputs],
                outputs[0].node.index if recording else None,
                [t.shape for t in tensors if isinstance(t, torch.Tensor)],
            )
        return result


def apply_gate(gate: Gate, *inputs):
    """``gate`` on ``inputs``: recorded (a Variable back) if any input is a Variable, else its
    forward alone on the tensors (a tensor back).

    How a backward formula calls another op so that it works both ways: on
    tensors in a plain backward, on Variables under ``create_graph=True``
    (a convolution's backward is itself two convolutions, see ``ops/conv_grads.py``).
    """
    for x in inputs:
        if isinstance(x, Variable):
            return gate(*inputs)
    gate.needs_input_grad = (False,) * len(inputs)
    return gate.forward(*inputs)


def _wrap(value, requires_grad: bool, context) -> Variable:
    """A new Variable for an op's output, without the checks a learner's input gets."""
    if not isinstance(value, torch.Tensor):
        raise GateError(
            f"a Gate's forward must return a torch tensor (or a tuple of them), got "
            f"{type(value).__name__}\n"
            "help: compute the output with torch ops on the input tensors and return it"
        )
    return _new_output(value, requires_grad, context)


def _new_output(value: torch.Tensor, requires_grad: bool, context) -> Variable:
    """``_wrap`` without its check, for a value known to be a tensor."""
    v = Variable.__new__(Variable)
    v.value = value
    v.grad = None
    v.requires_grad = requires_grad
    v.context = context
    v.name = None
    v.node = None
    v.output_index = 0
    v.hooks = None
    v.leaf_edge = None
    return v


def _constant(x, tensors: list):
    """An input that is not a Variable: numbers pass as they are, arrays become tensors."""
    if isinstance(x, torch.Tensor):
        return x.detach() if x.requires_grad else x
    if isinstance(x, numbers.Number) or x is None:
        return x
    like = next((t for t in tensors if isinstance(t, torch.Tensor)), None)
    return as_tensor(x, device=like.device if like is not None else None)


def _bad_argument(gate: Gate, error: Exception) -> ArgumentError:
    """torch refused an argument's kind or value (``reshape(x, "a")``): say so in our words."""
    return ArgumentError(
        f"{gate.name}: expected arguments of the kinds {gate.name} takes (its docstring says "
        f"which: help({type(gate).__name__})), got one torch refused\n"
        f"torch said: {str(error).splitlines()[0] if str(error) else type(error).__name__}\n"
        "help: compare the call with the op's signature, e.g. shapes as ints, dims as ints"
    )


def _check_dtypes(gate: Gate, tensors: list) -> None:
    """The floating-point tensors among ``tensors`` share one dtype (see _mixed_dtypes)."""
    if len(tensors) == 2 and tensors[0].dtype is tensors[1].dtype:  # two tensors, the usual
        return
    first = None
    for t in tensors:
        if t.__class__ is torch.Tensor or isinstance(t, torch.Tensor):
            dtype = t.dtype
            if dtype.is_floating_point:
                if first is None:
                    first = dtype
                elif dtype is not first:
                    raise _mixed_dtypes(gate, first, dtype)


def _mixed_dtypes(gate: Gate, first: torch.dtype, second: torch.dtype) -> DTypeError:
    """Floating inputs of different dtypes are refused.

    torch would silently promote float32 + float64 to float64; a learner
    should see that mismatch rather than get numbers of the wrong precision.
    (Different devices need no check up front: torch refuses them itself, and
    ``Gate.explain`` turns its error into a DeviceError.)
    """
    return DTypeError(
        f"{gate.name}: inputs have different dtypes: expected one floating dtype, got "
        f"{first} and {second}\n"
        "help: convert one of them, e.g. x.double() or x.float(), or create both "
        "with the same dtype= argument"
    )


def _device_error(gate: Gate, tensors: list) -> DeviceError | None:
    """A DeviceError if the tensors live on different devices, else None."""
    devices = {t.device for t in tensors if isinstance(t, torch.Tensor) and t.dim() > 0}
    if len(devices) < 2:
        return None
    listed = " and ".join(sorted(str(d) for d in devices))
    return DeviceError(
        f"{gate.name}: inputs are on different devices: {listed}\n"
        "help: move them to one device first, e.g. x.to('cuda') or model.to(device)"
    )


def _two_contexts(gate: Gate, first, second) -> ContextError:
    return ContextError(
        f"{gate.name}: its inputs belong to two different contexts ({first!r} and {second!r})\n"
        "help: create every Variable of one computation on the same tape, e.g. with "
        "ctx.variable(...) or inside one `with ctx:` block"
    )
