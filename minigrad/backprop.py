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
  releases each node as soon as it has been used (freeing what its gate
  saved) and empties the tape, unless ``retain_graph=True``;
* :func:`minigrad.trace.trace` summarises each step for the TapeViewer.

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

from collections.abc import Iterator

import torch

from minigrad.anomaly import AnomalyMode, check_finite
from minigrad.errors import ArgumentTypeError, GradientError, TapeError, format_shape
from minigrad.tape import Node, leaf_edge
from minigrad.variable import Variable


def reverse_walk(root: Variable, seed: torch.Tensor, pending: dict) -> Iterator:
    """The gradients of every node that leads to ``root``, one node at a time, last first.

    Yields ``(node, outputs, grads, grad_inputs)``:

    * ``outputs``: the node's output Variables (``None`` for one already freed);
    * ``grads``: the complete gradient arriving at each output, after its
      hooks (``None`` for an output nobody used: its gate got zeros);
    * ``grad_inputs``: what the gate sent back, one entry per input.

    Nodes that no gradient reaches are skipped. The walk writes nothing: it
    sums into ``pending`` (a dict the caller gives: node or leaf -> one
    gradient per output), where a caller may watch the sums grow. When the
    walk is over, ``pending`` holds the total of each leaf it reached:
    :func:`leaf_gradients` is the walk's last step.
    """
    source = leaf_edge(root)[0] if root.node is None else root.node
    arriving = [None] * len(source.payload.shapes)
    arriving[root.output_index] = seed
    pending[source] = arriving
    tape = root.context.nodes
    node = source
    try:
        for index in range(-1 if root.node is None else root.node.index, -1, -1):
            node = tape[index]
            grads = pending.pop(node, None)
            if grads is None:
                continue  # no gradient reaches it: it does not lead to root
            outputs = node.payload.outputs()
            if len(grads) == 1:  # one output, the usual case
                variable = outputs[0]
                if variable is not None and variable.hooks:
                    grads[0] = _run_hooks(variable, grads[0])
                grad_output = grads[0]
            else:  # several outputs: an unused one sends back zeros
                for slot, variable in enumerate(outputs):
                    if variable is not None and variable.hooks and grads[slot] is not None:
                        grads[slot] = _run_hooks(variable, grads[slot])
                grad_output = _fill_zeros(grads, node.payload.shapes)
            grad_inputs = node.gate.backward(grad_output)
            parents = node.parents
            if not isinstance(grad_inputs, (tuple, list)) or len(grad_inputs) != len(parents):
                raise _wrong_count(node, grad_inputs)
            if AnomalyMode.enabled:
                check_finite(node.gate, "backward", grad_inputs, node.index, node.payload.shapes)
            for parent, g in zip(parents, grad_inputs):
                if parent is None or g is None:
                    continue
                target, slot = parent
                shapes = target.payload.shapes
                if not isinstance(g, torch.Tensor) or g.shape != shapes[slot]:
                    _check_gradients(node, grad_inputs)
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
            yield node, outputs, grads, grad_inputs
            # Let go of this node's gradients before the next gate runs.
            grads = grad_output = grad_inputs = outputs = None
    except GeneratorExit:  # the caller stopped asking for steps: nothing went wrong
        raise
    except BaseException as error:  # Ctrl-C too: say where the walk stopped
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(
                f"(minigrad: raised in the reverse walk, at node {node.index}: {node.op})"
            )
        raise


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
            raise _released_input(leaf)
        total = grads[0]
        variable = leaf.ref()
        if variable is not None:
            if variable.hooks:
                total = _run_hooks(variable, total)
            totals.append((variable, total))
    return totals


def backprop(root: Variable, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(v) into ``v.grad`` for every Variable ``v`` that requires grad.

    ``grad`` is the gradient of some final scalar with respect to ``root``;
    it may be left out when ``root`` holds a single element (it is then 1).
    Gradients of leaf Variables accumulate across calls (call ``zero_grad``
    between steps); gradients of intermediate Variables that are still alive
    are set too, so a learner can look at them. Nothing is written unless the
    whole walk succeeds (see the module docstring).
    """
    seed = seed_gradient(root, grad, "backprop")
    if not root.requires_grad:
        raise TapeError(
            "backprop: this Variable does not require grad, so nothing on the tape leads to it\n"
            "help: create the inputs with requires_grad=True, and do not compute it inside "
            "no_grad()"
        )
    if root.node is not None and root.node.released:
        raise TapeError(
            "backprop: the tape that produced this Variable has been emptied, so there is "
            "nothing to walk back through\n"
            "help: backprop empties the tape (also when it fails); pass retain_graph=True to "
            "the first backward if you need to backprop twice, or run the forward pass again"
        )
    release = not retain_graph
    pending: dict = {}
    alive = []  # (intermediate Variable, its gradient), written once the walk is over
    try:
        for node, outputs, grads, _ in reverse_walk(root, seed, pending):
            if outputs[0] is not None or len(outputs) > 1:  # (usually freed: skip the loop)
                for variable, g in zip(outputs, grads):
                    if variable is not None and g is not None:
                        alive.append((variable, g))
            if release:
                node.release()  # its saved tensors are not needed any more
            # Drop this step's gradients now: the walk runs the next gate before
            # the loop would rebind these names.
            outputs = grads = None
        leaves = leaf_gradients(pending)
    except BaseException as error:
        if hasattr(error, "add_note"):
            error.add_note(_failure_note(release))
        raise
    finally:
        if release:
            root.context.clear()  # also the nodes no gradient reached
    # The walk is over: only now is anything written.
    for variable, g in alive:
        variable.grad = g
    for variable, g in leaves:
        held = variable.grad
        variable.grad = g if held is None else held + g


def _failure_note(released: bool) -> str:
    if released:
        return (
            "(minigrad: no .grad was changed. The tape was emptied, as after every backward "
            "without retain_graph=True: fix the cause, then run the forward pass again.)"
        )
    return (
        "(minigrad: no .grad was changed, and the tape is whole (retain_graph=True): fix the "
        "cause and call backward again.)"
    )


def _run_hooks(variable: Variable, grad: torch.Tensor) -> torch.Tensor:
    for hook in variable.hooks:
        replaced = hook(grad)
        if replaced is not None:
            if not isinstance(replaced, torch.Tensor) or replaced.shape != grad.shape:
                got = (
                    f"a tensor of shape {format_shape(replaced.shape)}"
                    if isinstance(replaced, torch.Tensor)
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


def seed_gradient(root: Variable, grad, caller: str) -> torch.Tensor:
    """The gradient the walk starts from: ``grad`` checked against ``root``, or 1."""
    if not isinstance(root, Variable):
        raise ArgumentTypeError(
            f"{caller}: expected a minigrad Variable, got {type(root).__name__}\n"
            "help: call it on the output of minigrad ops, e.g. loss = mg.mse_loss(pred, target)"
        )
    if grad is None:
        if root.value.numel() != 1:
            raise TapeError(
                f"{caller}: the output has shape {format_shape(root.shape)}, not a single "
                "number, so its gradient is not implied\n"
                "help: reduce it first (y.sum().backward()) or pass the gradient: "
                "grad=torch.ones_like(y.value)"
            )
        return torch.ones_like(root.value)
    if isinstance(grad, Variable):
        grad = grad.value
    grad = torch.as_tensor(grad, dtype=root.dtype, device=root.device)
    if grad.shape != root.shape:
        raise TapeError(
            f"{caller}: grad has shape {format_shape(grad.shape)} but the output has shape "
            f"{format_shape(root.shape)}\nhelp: pass a gradient shaped like the output"
        )
    return grad


def _fill_zeros(grads: list, shapes: tuple) -> tuple:
    """The gradients of a node's outputs, with zeros (on the right device) for unused ones."""
    sample = next(g for g in grads if g is not None)
    return tuple(
        [
            g if g is not None else torch.zeros(shapes[i], dtype=sample.dtype, device=sample.device)
            for i, g in enumerate(grads)
        ]
    )


def _check_gradients(node: Node, grad_inputs) -> None:
    """Raise the GradientError for the first gradient that does not fit its input.

    (Only reached when a shape differs from the one recorded on the tape. A
    Leaf records its Variable's shape when first used; if the learner has
    since given the Variable a value of another shape, the Variable decides.)
    """
    for position, (parent, grad) in enumerate(zip(node.parents, grad_inputs)):
        if parent is None or grad is None:
            continue
        target, slot = parent
        expected = target.payload.shapes[slot]
        if target.is_leaf and target.variable is not None:
            expected = target.variable.shape
        if not isinstance(grad, torch.Tensor) or grad.shape != expected:
            raise _bad_gradient(node, expected, grad, position)


def _released_input(node: Node) -> TapeError:
    return TapeError(
        f"backprop: an input of this computation was made by node {node.index}, which an "
        "earlier backward already walked and emptied, so the gradient cannot go further back\n"
        "help: run the forward pass again from the start, or pass retain_graph=True to the "
        "earlier backward; to treat that value as a constant, use x.detach()"
    )


def _bad_gradient(node: Node, expected, grad, position: int) -> GradientError:
    if not isinstance(grad, torch.Tensor):
        return GradientError(
            f"{node.op}.backward (node {node.index}) returned a {type(grad).__name__} for input "
            f"{position}; expected a torch.Tensor or None\n"
            "help: compute each gradient with torch ops on grad_output and the saved tensors"
        )
    return GradientError(
        f"{node.op}.backward (node {node.index}) returned a gradient of shape "
        f"{format_shape(grad.shape)} for input {position}, whose shape is "
        f"{format_shape(expected)}\n"
        "help: a gradient must have its input's shape; if the input was broadcast, sum the "
        "gradient over the broadcast dimensions"
    )


def _wrong_count(node: Node, grad_inputs) -> GradientError:
    got = len(grad_inputs) if isinstance(grad_inputs, (tuple, list)) else 1
    kind = (
        "" if isinstance(grad_inputs, (tuple, list)) else f" (a bare {type(grad_inputs).__name__})"
    )
    return GradientError(
        f"{node.op}.backward (node {node.index}) returned {got} gradient(s){kind} for "
        f"{len(node.parents)} input(s)\n"
        "help: return a tuple with one entry per forward input, using None for inputs that "
        "need no gradient, e.g. `return (grad_x, None)`"
    )
