"""create_graph: a gate's backward recorded on the tape, so that it can be differentiated again.

In the usual backward each gate's backward runs on plain tensors and nothing
of it is recorded: the gradients that come out are numbers with no history.
With ``create_graph=True`` the gradients travelling back are Variables, and
every op a backward runs on them is recorded on the same tape, after the ops
of the forward pass. The tape then holds two programs: the function, and its
backward. The gradients that come out are ordinary Variables, so they can be
differentiated again: a Hessian-vector product, a gradient penalty, Newton's
method.

A backward reads what its forward saved. For the recorded backward to
depend on the inputs as the true one does, each saved tensor that *is* an
input or an output goes into the formula as a Variable that stands for it: a
*stand-in*, with that tensor as its value and an edge to where the input came
from (or to the node's own output). Which saved tensors are inputs or
outputs, the tape remembers by ``id``: each node the ids of the tensors it
returned (``node.output_ids``), so an input's id is that of the output, or
leaf value, its edge comes from; and the ids of its inputs that need no
gradient (``node.constant_ids``). A gate that keeps a copy of an input (a
batched matmul keeps its operands folded) says which input it is instead
(``Gate.saved_inputs``).

Some saved tensors need no stand-in: those of an input that needs no
gradient, those that are not floating point (masks, indices), and those a
gate lists in ``constants`` (a dropout mask, class weights). Any other
floating-point tensor was computed by forward from the inputs (a softmax,
x - mean); the tape cannot follow it back to them, so it goes in as an
:class:`Unrecordable` that raises a :class:`~minigrad.errors.RecordingError`
naming it as soon as the formula uses it.

A gate's backward is recorded in one of two ways:

* its formula (``reference_backward`` where a gate keeps a faster
  ``backward`` beside it, else ``backward``) runs on the stand-ins and the
  Variable gradients, and every op it runs becomes a node. A fused gate
  (linear, cross_entropy) has ``recorded_backward`` instead: its backward
  as one node of its own, whose backward is the second derivative written
  out, as the fused forward is one node where its formula would make several;
* a gate that says ``piecewise_linear`` (its Jacobian J does not change with
  its inputs: sum, reshape, indexing, pooling, relu, max) is recorded as
  *one* node, :class:`BackwardOf`. Its forward is the gate's own backward,
  y = J^T g, computed on tensors as fast as ever. Its backward needs the
  derivative of J^T g with respect to g, which is J itself, applied to the
  gradient that arrives: that is the gate's ``jvp``. The backward of a
  backward is a forward-mode step.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentTypeError, MinigradError, RecordingError
from minigrad.gate import Gate, _wrap
from minigrad.variable import Variable


def record_backward(node, grad_output, context):
    """Run ``node``'s backward so that every op of it is recorded on ``context``.

    ``grad_output`` is a Variable (a tuple of them for several outputs);
    returns one gradient per input, as ``backward`` does, mostly Variables.
    """
    gate = node.gate
    if gate.piecewise_linear:
        return _transposed(node, grad_output)
    formula_gate = with_stand_ins(node, context)
    formula = (
        getattr(formula_gate, "recorded_backward", None)
        or getattr(formula_gate, "reference_backward", None)
        or formula_gate.backward
    )
    try:
        return formula(grad_output)
    except (TypeError, AttributeError) as error:  # (ArgumentTypeError and DTypeError too)
        unrecordable = _unrecordable_in(formula_gate, error)
        if unrecordable is not None:  # an op was handed a saved tensor it cannot follow
            raise unrecordable.error() from error
        if isinstance(error, MinigradError):
            raise
        raise not_recordable(gate, error) from error


def with_stand_ins(node, context) -> Gate:
    """A copy of ``node``'s gate whose saved inputs and outputs are Variables (stand-ins).

    The gate on the tape is left as it is: a later first-order walk of the
    same tape still finds its tensors.
    """
    gate = node.gate
    copy = object.__new__(type(gate))
    copy.__dict__.update(gate.__dict__)
    output_ids = node.output_ids
    input_ids = [None if p is None else p[0].output_ids[p[1]] for p in node.parents]
    constant_ids = node.constant_ids or ()
    constants = gate.constants
    named = dict(zip(gate.saved_inputs, node.parents))  # attribute -> its input's edge
    for name, value in gate.__dict__.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            continue
        if name in constants:
            continue
        if name in named:  # the gate says which input this is (a copy of it, perhaps)
            if named[name] is not None:  # (None: an input that needs no gradient)
                setattr(copy, name, stand_in(value, named[name], context))
            continue
        key = id(value)
        if key in input_ids:
            setattr(copy, name, stand_in(value, node.parents[input_ids.index(key)], context))
        elif key in constant_ids:  # an input that needs no gradient: a constant
            continue
        elif key in output_ids:
            setattr(copy, name, stand_in(value, (node, output_ids.index(key)), context))
        else:
            setattr(copy, name, Unrecordable(gate.name, name))
    return copy


def stand_in(value: torch.Tensor, edge: tuple, context) -> Variable:
    """A Variable holding ``value`` whose gradient travels along ``edge``.

    ``edge`` is ``(node, slot)`` for an op's output or ``(leaf, 0)`` for a
    leaf's: the same edge the input itself was recorded with, so whatever is
    computed from the stand-in leads back to where the input came from.
    """
    v = _wrap(value, True, context)
    source, slot = edge
    if source.is_leaf:
        v.leaf_edge = edge
    else:
        v.node, v.output_index = source, slot
    return v


class Unrecordable:
    """Stands in for a saved tensor that a recorded backward cannot follow back to the inputs.

    Any use of it (an operator, a method, a torch function) raises a
    RecordingError that names the gate and the attribute, and says how to
    fix it. A formula that does not use it runs as if it were not there.
    """

    __slots__ = ("gate", "attribute")

    def __init__(self, gate: str, attribute: str):
        self.gate, self.attribute = gate, attribute

    def error(self) -> RecordingError:
        name = self.attribute
        return RecordingError(
            f"{self.gate}'s backward cannot be recorded (create_graph=True): it uses "
            f"self.{name}, a tensor its forward computed from the inputs, so the tape does "
            f"not know how self.{name} depends on them and its second derivative would be "
            "lost\n"
            f"help: in forward save the inputs or the output themselves (e.g. self.x = x) and "
            f"compute {name} from them inside backward, with operations Variables have too "
            f"(x.exp(), x.sum(1, keepdim=True), x @ w, g.where(mask, 0.0)); if {name} does not "
            f"depend on the inputs (a mask, a fixed weight), declare it in the class: "
            f"constants = ({name!r},)"
        )

    def _refuse(self, *args, **kwargs):
        raise self.error()

    def __getattr__(self, name):
        raise self.error()

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        for arg in list(args) + list((kwargs or {}).values()):
            if isinstance(arg, Unrecordable):
                raise arg.error()
        raise RecordingError("an unrecordable tensor reached a torch function")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __neg__ = __getitem__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _refuse
    __array__ = _refuse


def _unrecordable_in(formula_gate: Gate, error: Exception):
    """The Unrecordable a failed formula stumbled on, if the error names one, else None."""
    if "Unrecordable" not in str(error):
        return None
    return next((v for v in vars(formula_gate).values() if isinstance(v, Unrecordable)), None)


def first_line(error: Exception) -> str:
    """What an error said, in one line (its type when it said nothing)."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def not_recordable(gate: Gate, error: Exception) -> RecordingError:
    """The RecordingError for a formula that stopped on a TypeError or AttributeError."""
    said = first_line(error)
    return RecordingError(
        f"{gate.name}'s backward cannot be recorded (create_graph=True): under create_graph "
        "grad_output and the saved inputs are Variables, and the formula used something only "
        f"tensors have (python said: {said})\n"
        "help: write the formula with what tensors and Variables share: operators (x * y, "
        "x / y, x @ w), tensor methods (x.exp(), x.sigmoid(), x.sum(dim, keepdim=True), "
        "x.reshape(...), g.where(mask, 0.0)) or minigrad's functions (mg.exp, mg.where); "
        "take masks from comparisons (x > 0); or, if the gate is linear (piecewise), set "
        "piecewise_linear = True and write its jvp"
    )


# -- the backward of a piecewise-linear gate, as one node -----------------------------------


class BackwardOf(Gate):
    """y = J^T g: the backward of a piecewise-linear gate, recorded as one node.

    dL/dg = J (dL/dy), the gate's jvp applied to the gradient arriving here;
    and its own jvp is J^T t, the gate's backward again. So the backward of
    this node is again a piecewise-linear gate, and the tower goes on.
    """

    piecewise_linear = True

    def __init__(self, gate: Gate, output_shapes: tuple):
        self.gate = gate
        self.output_shapes = output_shapes  # the shapes of the g's: the gate's outputs

    @property
    def name(self) -> str:
        return f"{self.gate.name}.backward"

    def forward(self, *grads):
        sent = self.gate.backward(grads if len(grads) > 1 else grads[0])
        self.positions = tuple(i for i, g in enumerate(sent) if g is not None)
        picked = tuple(sent[i] for i in self.positions)
        return picked[0] if len(picked) == 1 else picked

    def backward(self, grad_output):
        arriving = grad_output if len(self.positions) > 1 else (grad_output,)
        tangents = [None] * len(self.gate.needs_input_grad)
        for position, g in zip(self.positions, arriving):
            tangents[position] = g
        moved = jvp_of(self.gate, tangents, self.output_shapes, transpose_of_backward=True)
        return tuple(moved)

    def jvp(self, *tangents):
        like = next(t for t in tangents if t is not None)
        filled = tuple(
            t if t is not None else torch.zeros(shape, dtype=like.dtype, device=like.device)
            for t, shape in zip(tangents, self.output_shapes)
        )
        sent = self.gate.backward(filled if len(filled) > 1 else filled[0])
        picked = tuple(sent[i] for i in self.positions)
        return picked[0] if len(picked) == 1 else picked


def _transposed(node, grad_output) -> list:
    """Record ``node``'s backward as one BackwardOf node; one gradient per input."""
    gate = node.gate
    grad_inputs = [None] * len(node.parents)
    if not any(gate.needs_input_grad):
        return grad_inputs
    grads = grad_output if isinstance(grad_output, tuple) else (grad_output,)
    wrapper = BackwardOf(gate, node.payload.shapes)
    out = wrapper(*grads)
    sent = out if isinstance(out, tuple) else (out,)
    for position, g in zip(wrapper.positions, sent):
        grad_inputs[position] = g
    return grad_inputs


def jvp_of(gate: Gate, tangents, output_shapes: tuple, transpose_of_backward=False) -> tuple:
    """The tangent of each output of ``gate`` from one tangent per input: its ``jvp`` rule.

    A rule may return a tangent that broadcasts to the output (the tangent
    of a + b when only the smaller b moves); it is stretched to the output's
    shape here. ``None`` (nothing moved) stays ``None``.

    ``transpose_of_backward`` asks for the map whose transpose is the gate's
    backward. That is its jvp, except where a convention makes them differ: a
    backward that is not the true gradient (embedding's padding_idx), or a
    corner where torch's forward and reverse modes choose differently (a
    maximum at NaN, a clamp whose bounds are equal). Such a gate says so with
    a ``backward_transpose`` method.
    """
    rule = gate.jvp
    if transpose_of_backward:
        rule = getattr(gate, "backward_transpose", None) or rule
    if rule is None:
        raise RecordingError(
            f"{gate.name} says piecewise_linear = True but has no jvp: the backward of its "
            "recorded backward is its jvp\n"
            "help: write jvp(self, *tangents) returning how the output moves when the inputs "
            "move by the tangents (None means an input does not move)"
        )
    if all(t is None for t in tangents):
        return (None,) * len(output_shapes)
    moved = rule(*tangents)
    moved = moved if isinstance(moved, (tuple, list)) else (moved,)
    if len(moved) != len(output_shapes):
        raise RecordingError(
            f"{gate.name}.jvp returned {len(moved)} tangent(s) for {len(output_shapes)} "
            "output(s)\nhelp: return one tangent per output (a tuple for several)"
        )
    return tuple(
        t if t is None or t.shape == shape else _stretch(gate, t, shape)
        for t, shape in zip(moved, output_shapes)
    )


def _stretch(gate: Gate, tangent, shape):
    try:
        return tangent.expand(shape)
    except (RuntimeError, ArgumentTypeError, MinigradError) as error:
        raise RecordingError(
            f"{gate.name}.jvp returned a tangent of shape {tuple(tangent.shape)} for an output "
            f"of shape {tuple(shape)}\n"
            "help: a tangent has its output's shape (or one that broadcasts to it)"
        ) from error
