"""Backprop: walk the tape in reverse and hand each gradient to where it must go.

The tape lists nodes in the order they ran, so every node comes after the
nodes that made its inputs. Walking it backwards therefore reaches a node
only after every use of its outputs has been seen: by then the gradient of
each output is complete (summed over its uses), and the node's gate can turn
it into gradients for its inputs::

    for node in reversed(tape):
        grad_inputs = node.gate.backward(gradient of node's output)
        for (source, slot), g in zip(node.parents, grad_inputs):
            add g to the gradient of output slot of source

This is a loop, not a recursion, so a chain of 100,000 ops is as fine as 3.

Computing is kept apart from writing. :func:`reverse_walk` only computes: it
yields, node by node, the gradient arriving and the gradients sent, and keeps
the sums in progress in a dict; :func:`leaf_gradients` then gives each
leaf's total. Two callers interpret that walk:

* :func:`backprop` (``y.backward()``) writes: it adds each leaf's total to
  ``.grad``, sets the gradient of every intermediate Variable still alive,
  has the walk release each node as soon as it has been used (freeing what
  its gate saved) and empties the tape, unless ``retain_graph=True``;
* :func:`minigrad.trace.trace` summarises each step for the TapeViewer.

With ``create_graph=True`` each gate's backward is itself recorded on the
tape (``minigrad/higher_order.py``): the gradients travelling back are
Variables, the ops they go through become nodes after the forward ones, and
the gradients that come out can be differentiated again. The walk is the
same; only the gate call and the kind of gradient change.

A backward that fails leaves nothing behind. No gradient is written until
the walk has finished, so whatever stops it (a gate that raises, a hook that
raises, a GradientError, detect_anomaly's AnomalyError, Ctrl-C) leaves every
``.grad`` as it was, and the sums in progress go with the walk: the next
backward is exact. Without ``retain_graph`` the tape is emptied all the
same, as after a backward that finished (the nodes already walked have
dropped what they saved), so the next backward needs a new forward pass;
with ``retain_graph=True`` the tape is left whole and can be walked again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import torch

from minigrad.anomaly import AnomalyMode, check_finite
from minigrad.errors import (
    ArgumentError,
    ArgumentTypeError,
    DTypeError,
    GradientError,
    TapeError,
    format_shape,
)
from minigrad.gate import _wrap
from minigrad.grad_mode import _switch as switch_grad_mode
from minigrad.grad_mode import state as grad_mode
from minigrad.higher_order import record_backward
from minigrad.tape import leaf_edge
from minigrad.variable import Variable
from minigrad.walk_checks import (
    check_gradients,
    check_root,
    failure_note,
    released_input,
    wrong_count,
)


def reverse_walk(
    root, seed, pending: dict, create_graph: bool = False, release: bool = False, alive=None
) -> Iterator:
    """The gradients of every node that leads to ``root``, one node at a time, last first.

    ``root`` is a Variable with its ``seed`` gradient, or a list of Variables
    with a list of seeds (the gradient of a sum of outputs is the sum of
    their gradients). With ``create_graph`` every gate's backward is recorded
    (see the module docstring): the seeds and gradients are then Variables,
    and each node recorded along the way gets ``backward_of`` set to the
    index of the node whose backward made it. The caller switches recording
    on (``enable_grad``) around the walk.

    Yields ``(node, grads, grad_inputs)``:

    * ``grads``: the complete gradient arriving at each output, after its
      hooks (``None`` for an output nobody used: its gate got zeros);
    * ``grad_inputs``: what the gate sent back, one entry per input.

    Nodes that no gradient reaches are skipped. The walk writes no gradient:
    it sums into ``pending`` (a dict the caller gives: node or leaf -> one
    gradient per output), where a caller may watch the sums grow. When the
    walk is over, ``pending`` holds the total of each leaf it reached:
    :func:`leaf_gradients` is the walk's last step. Two chores a caller may
    hand it, as only the walk knows when they are due: ``release`` lets go
    of each node (and what its gate saved) once its gate has run, and
    ``alive``, a list, gets ``(variable, gradient)`` for each output Variable
    still alive, for the caller to write when the walk is over.
    """
    if root.__class__ is Variable:  # one root, the usual case
        source = leaf_edge(root)[0] if root.node is None else root.node
        arriving = [None] * len(source.shapes)
        arriving[root.output_index] = seed
        pending[source] = arriving
        start = -1 if root.node is None else root.node.index
        context = root.context
    else:
        source, start, context = _seed_all(root, seed, pending)
    tape = context.nodes
    kinds = (torch.Tensor, Variable) if create_graph else torch.Tensor  # what a gradient may be
    node = source
    try:
        for index in range(start, -1, -1):
            node = tape[index]
            grads = pending.pop(node, None)
            if grads is None:
                continue  # no gradient reaches it: it does not lead to root
            if len(grads) == 1:  # one output, the usual case
                # node.outputs(), inlined: this runs for every node. On a keep_outputs
                # tape (not weak) the node holds the Variable itself.
                variable = node.held[0]() if node.weak else node.held[0]
                grad_output = grads[0]
                if variable is not None:
                    if variable.hooks:
                        grad_output = grads[0] = _run_hooks(variable, grad_output)
                    if alive is not None:
                        alive.append((variable, grad_output))
            else:  # several outputs: an unused one sends back zeros
                for slot, variable in enumerate(node.outputs()):
                    if variable is not None and grads[slot] is not None:
                        if variable.hooks:
                            grads[slot] = _run_hooks(variable, grads[slot])
                        if alive is not None:
                            alive.append((variable, grads[slot]))
                grad_output = _fill_zeros(grads, node.shapes)
            if create_graph:
                first_recorded = len(tape)
                grad_inputs = record_backward(node, grad_output, context)
                check = True
            else:
                check = not node.gate.gradients_tested  # (see Gate.gradients_tested)
                grad_inputs = node.gate.backward(grad_output)
            parents = node.parents
            if check and (
                not isinstance(grad_inputs, (tuple, list)) or len(grad_inputs) != len(parents)
            ):
                raise wrong_count(node, grad_inputs)
            if AnomalyMode.enabled:
                check_finite(node.gate, "backward", grad_inputs, node.index, node.shapes)
            for parent, g in zip(parents, grad_inputs):
                if parent is None or g is None:
                    continue
                target, slot = parent
                shapes = target.shapes
                if check and (not isinstance(g, kinds) or g.shape != shapes[slot]):
                    check_gradients(node, grad_inputs, kinds)
                held = pending.get(target)
                if held is None:  # the first gradient to reach this target
                    if len(shapes) == 1:
                        pending[target] = [g]
                    else:
                        held = pending[target] = [None] * len(shapes)
                        held[slot] = g
                else:
                    # Out of place on purpose: g may be shared with another input's
                    # gradient (the two inputs of an add get the same tensor).
                    held[slot] = g if held[slot] is None else held[slot] + g
            if create_graph:
                for recorded in tape[first_recorded:]:
                    recorded.backward_of = node.index
            if release:
                node.release()  # its saved tensors are not needed any more
            yield node, grads, grad_inputs
            # Let go of this node's gradients before the next gate runs.
            grads = grad_output = grad_inputs = variable = None
    except GeneratorExit:  # the caller stopped asking for steps: nothing went wrong
        raise
    except BaseException as error:  # Ctrl-C too: say where the walk stopped
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(
                f"(minigrad: raised in the reverse walk, at node {node.index}: {node.op})"
            )
        raise


def _seed_all(roots, seeds, pending: dict) -> tuple:
    """Several roots: each seed summed into its root's slot; the walk starts at the last."""
    start, source = -1, None
    for one, given in zip(roots, seeds):
        source = leaf_edge(one)[0] if one.node is None else one.node
        arriving = pending.get(source)
        if arriving is None:
            arriving = pending[source] = [None] * len(source.shapes)
        slot = one.output_index
        arriving[slot] = given if arriving[slot] is None else arriving[slot] + given
        if one.node is not None and one.node.index > start:
            start = one.node.index
    return source, start, roots[0].context


def leaf_gradients(pending: dict) -> list:
    """``(variable, total)`` for each leaf a finished walk reached, after the leaf's hooks.

    The last step of the walk: every node has been walked, so what is still
    pending must belong to leaves. A leaf's hooks see its total, summed over
    all its uses. A leaf the learner has dropped is left out: nobody can read
    its gradient.
    """
    totals = []
    for leaf, grads in pending.items():
        if not leaf.is_leaf:  # a node that an earlier backward walked and emptied
            raise released_input(leaf)
        total = grads[0]
        variable = leaf.ref()
        if variable is not None:
            if variable.hooks:
                total = _run_hooks(variable, total)
            totals.append((variable, total))
    return totals


def backprop(root: Variable, grad=None, retain_graph=None, create_graph: bool = False) -> None:
    """Accumulate d(root)/d(v) into ``v.grad`` for every Variable ``v`` that requires grad.

    ``grad`` is the gradient of some final scalar with respect to ``root``;
    it may be left out when ``root`` holds a single element (it is then 1).
    Gradients of leaf Variables accumulate across calls (call ``zero_grad``
    between steps); gradients of intermediate Variables that are still alive
    are set too, so a learner can look at them. Nothing is written unless the
    whole walk succeeds (see the module docstring).

    ``create_graph=True`` records the backward itself, so each ``.grad`` is
    then a Variable that can be differentiated again. ``retain_graph`` keeps
    the tape for another walk; it defaults to ``create_graph``, as in torch.
    """
    check_root(root, "backprop")
    seed = seed_gradient(root, grad, "backprop", create_graph)
    pending: dict = {}
    alive = []  # (intermediate Variable, its gradient), written once the walk is over
    with Walk(root.context, retain_graph, create_graph) as walk:
        # The walk does all the work (it sums, collects `alive`, releases): run it to its
        # end, keeping nothing it yields, so that no step's gradients outlive the step.
        deque(reverse_walk(root, seed, pending, create_graph, walk.release, alive), maxlen=0)
        leaves = leaf_gradients(pending)
        # The walk is over: only now is anything written.
        for variable, g in alive:
            variable.grad = g
        for variable, g in leaves:
            held = variable.grad
            if held.__class__ is Variable and not create_graph:
                held = held.value  # a plain backward adds numbers, as torch's does
            variable.grad = g if held is None else held + g


class Walk:
    """What every interpreter of the reverse walk does around it (``with Walk(...) as walk:``).

    * ``release`` (not ``retain_graph``): the caller releases each node it
      has walked, and the tape is emptied at the end, whatever happens;
    * ``create_graph``: recording is switched on for the walk, whatever the
      caller's grad mode (as torch does); a walk that fails takes back the
      nodes it recorded, so the tape is as it was before it;
    * a failure gets a note saying that no ``.grad`` changed.
    """

    __slots__ = ("context", "create_graph", "release", "length", "recording")

    def __init__(self, context, retain_graph, create_graph: bool):
        if retain_graph is None:
            retain_graph = create_graph
        if create_graph and not retain_graph:
            raise ArgumentError(
                "backward: expected retain_graph=True (or left out) with create_graph=True, "
                "got retain_graph=False\n"
                "help: the recorded backward points into the forward tape, so the tape must "
                "be kept; leave retain_graph out, and the next backward without "
                "create_graph empties it"
            )
        self.context, self.create_graph = context, create_graph
        self.release = not retain_graph

    def __enter__(self) -> Walk:
        if self.create_graph:
            self.length = len(self.context.nodes)
            self.recording = grad_mode.grad_enabled  # what to put back (enable_grad, inlined)
            switch_grad_mode(True, grad_mode.paused)
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        if self.create_graph:
            switch_grad_mode(self.recording, grad_mode.paused)
        if error is not None:
            if self.create_graph:
                self.context.rewind(self.length)  # the failed walk's recorded nodes
            if hasattr(error, "add_note"):
                error.add_note(failure_note(self.release))
        if self.release:
            self.context.clear()  # also the nodes no gradient reached
        return False


def _run_hooks(variable: Variable, grad):
    for hook in variable.hooks:
        replaced = hook(grad)
        if replaced is not None:
            if not isinstance(replaced, (torch.Tensor, Variable)) or replaced.shape != grad.shape:
                got = (
                    f"a tensor of shape {format_shape(replaced.shape)}"
                    if isinstance(replaced, (torch.Tensor, Variable))
                    else f"a {type(replaced).__name__}"
                )
                raise GradientError(
                    f"a hook on {variable.name or 'a Variable'}: expected it to return a tensor "
                    f"of shape {format_shape(grad.shape)} or None, got {got}\n"
                    "help: return the new gradient (shaped like the one the hook received), or "
                    "return nothing to keep it"
                )
            grad = replaced
    return grad


def seed_gradient(root: Variable, grad, caller: str, create_graph: bool = False):
    """The gradient the walk starts from: ``grad`` checked against ``root``, or 1.

    A tensor for a plain walk; for ``create_graph`` a Variable (a constant,
    unless ``grad`` is a Variable that requires grad: then the gradients
    depend on it too, and can be differentiated with respect to it).
    """
    if not isinstance(root, Variable):
        raise ArgumentTypeError(
            f"{caller}: expected a minigrad Variable, got {type(root).__name__}\n"
            "help: call it on the output of minigrad ops, e.g. loss = mg.mse_loss(pred, target)"
        )
    given = grad
    if grad is None:
        if root.value.numel() != 1:
            raise TapeError(
                f"{caller}: the output has shape {format_shape(root.shape)}, not a single "
                "number, so its gradient is not implied\n"
                "help: reduce it first (y.sum().backward()) or pass the gradient: "
                "grad=torch.ones_like(y.value)"
            )
        grad = torch.ones_like(root.value)
    else:
        if isinstance(grad, Variable):
            grad = grad.value
        grad = torch.as_tensor(grad, dtype=root.dtype, device=root.device)
        if grad.shape != root.shape:
            raise TapeError(
                f"{caller}: grad has shape {format_shape(grad.shape)} but the output has shape "
                f"{format_shape(root.shape)}\nhelp: pass a gradient shaped like the output"
            )
    if not create_graph:
        return grad
    if isinstance(given, Variable) and given.requires_grad:
        if given.value is not grad:  # converted: the link to the given Variable would be lost
            raise DTypeError(
                f"{caller}: grad is a Variable of {given.dtype} on {given.device} that requires "
                f"grad, but the output is {root.dtype} on {root.device}\n"
                "help: convert it first (grad.to(output.dtype)), so that the conversion is "
                "recorded too"
            )
        return given
    return _wrap(grad, False, root.context)


def _fill_zeros(grads: list, shapes: tuple) -> tuple:
    """The gradients of a node's outputs, with zeros (on the right device) for unused ones."""
    sample = next(g for g in grads if g is not None)
    return tuple(
        [
            g if g is not None else torch.zeros(shapes[i], dtype=sample.dtype, device=sample.device)
            for i, g in enumerate(grads)
        ]
    )
