"""Backprop: walk the tape in reverse and hand each gradient to where it must go.

The tape lists nodes in the order they ran, so every node comes after the
nodes that made its inputs. Walking it backwards therefore reaches a node
only after every use of its outputs has been seen: by then the gradient of
each output is complete (summed over its uses), and the node's gate can turn
it into gradients for its inputs::

    for node in reversed(tape):
        grad_inputs = node.gate.backward(gradient of node's output)
        for parent, g in zip(node.parents, grad_inputs):
            add g to parent's gradient

This is a loop, not a recursion, so a chain of 100,000 ops is as fine as 3.
A node is released (its saved tensors freed) as soon as it has been used, and
the tape is emptied at the end unless ``retain_graph=True``.
"""

from __future__ import annotations

import torch

from minigrad.anomaly import AnomalyMode, check_finite
from minigrad.errors import GradientError, TapeError, format_shape
from minigrad.tape import Node
from minigrad.variable import Variable


def backprop(root: Variable, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(v) into ``v.grad`` for every Variable ``v`` that requires grad.

    ``grad`` is the gradient of some final scalar with respect to ``root``;
    it may be left out when ``root`` holds a single element (it is then 1).
    Gradients of leaf Variables accumulate across calls (call ``zero_grad``
    between steps); gradients of intermediate Variables that are still alive
    are set too, so a learner can look at them.
    """
    seed = _seed_gradient(root, grad)
    if not root.requires_grad:
        raise TapeError(
            "backprop: this Variable does not require grad, so nothing on the tape leads to it\n"
            "help: create the inputs with requires_grad=True, and do not compute it inside "
            "no_grad()"
        )
    if root.node is None:  # a leaf: its gradient is the seed itself
        _accumulate_leaf(root, seed)
        return
    if root.node.released:
        raise TapeError(
            "backprop: the tape that produced this Variable has been emptied, so there is "
            "nothing to walk back through\n"
            "help: backprop empties the tape; pass retain_graph=True to the first backward "
            "if you need to backprop twice, or recompute the forward pass"
        )

    context = root.context
    tape = context.nodes
    last = root.node.index
    root.node.output_grads = [None] * len(root.node.payload.shapes)
    root.node.output_grads[root.output_index] = seed
    hooked_leaves: dict[int, list] = {}

    for position in range(last, -1, -1):
        node = tape[position]
        if node.output_grads is not None:
            _run_node(node, hooked_leaves)
        if not retain_graph:
            node.release()  # its saved tensors are not needed any more

    for variable, total in hooked_leaves.values():
        _accumulate_leaf(variable, total)
    if not retain_graph:
        for node in tape[last + 1 :]:  # recorded after the root: not part of this graph
            node.release()
        tape.clear()


def _run_node(node: Node, hooked_leaves: dict) -> None:
    """Apply one node's backward and send each input gradient to its parent."""
    grads = node.output_grads
    node.output_grads = None
    payload = node.payload
    # Intermediate Variables the learner still holds get their gradient too.
    for i, variable in enumerate(payload.outputs()):
        if variable is not None and grads[i] is not None:
            if variable.hooks:
                grads[i] = _run_hooks(variable, grads[i])
            variable.grad = grads[i]

    if len(grads) == 1:
        grad_output = grads[0]
    else:  # several outputs: an unused one gets a zero gradient
        grad_output = tuple(
            [g if g is not None else _zeros(payload.shapes[i], grads) for i, g in enumerate(grads)]
        )
    grad_inputs = node.gate.backward(grad_output)
    parents = node.parents
    if not isinstance(grad_inputs, (tuple, list)) or len(grad_inputs) != len(parents):
        raise _wrong_count(node, grad_inputs)
    if AnomalyMode.enabled:
        check_finite(node.gate, "backward", grad_inputs, node.index, payload.shapes)

    for position, parent in enumerate(parents):
        g = grad_inputs[position]
        if parent is None or g is None:
            continue
        if isinstance(parent, Variable):  # a leaf: accumulate into .grad
            if not isinstance(g, torch.Tensor) or g.shape != parent.value.shape:
                raise _bad_gradient(node, parent.value.shape, g, position)
            if parent.hooks:  # hooks see the leaf's total gradient, at the end
                entry = hooked_leaves.setdefault(id(parent), [parent, None])
                entry[1] = g if entry[1] is None else entry[1] + g
            else:
                held = parent.grad
                parent.grad = g if held is None else held + g
        else:  # an earlier node's output: collect until that node runs
            producer, slot = parent
            if not isinstance(g, torch.Tensor) or g.shape != producer.payload.shapes[slot]:
                raise _bad_gradient(node, producer.payload.shapes[slot], g, position)
            if producer.output_grads is None:
                producer.output_grads = [None] * len(producer.payload.shapes)
            held = producer.output_grads[slot]
            # Out of place on purpose: g may be shared with another input's
            # gradient (the two inputs of an add get the same tensor).
            producer.output_grads[slot] = g if held is None else held + g


def _accumulate_leaf(variable: Variable, grad: torch.Tensor) -> None:
    if variable.hooks:
        grad = _run_hooks(variable, grad)
    variable.grad = grad if variable.grad is None else variable.grad + grad


def _run_hooks(variable: Variable, grad: torch.Tensor) -> torch.Tensor:
    for hook in variable.hooks:
        replaced = hook(grad)
        if replaced is not None:
            if not isinstance(replaced, torch.Tensor) or replaced.shape != grad.shape:
                raise GradientError(
                    f"a hook on {variable.name or 'a Variable'} returned "
                    f"{type(replaced).__name__} "
                    f"{format_shape(replaced.shape) if isinstance(replaced, torch.Tensor) else ''}"
                    f"; expected a tensor of shape {format_shape(grad.shape)} or None"
                )
            grad = replaced
    return grad


def _seed_gradient(root: Variable, grad) -> torch.Tensor:
    if not isinstance(root, Variable):
        raise TypeError(f"backprop expects a Variable, got {type(root).__name__}")
    if grad is None:
        if root.value.numel() != 1:
            raise TapeError(
                f"backprop: the output has shape {format_shape(root.shape)}, not a single "
                "number, so its gradient is not implied\n"
                "help: reduce it first (y.sum().backward()) or pass the gradient: "
                "y.backward(grad=torch.ones_like(y.value))"
            )
        return torch.ones_like(root.value)
    if isinstance(grad, Variable):
        grad = grad.value
    grad = torch.as_tensor(grad, dtype=root.dtype, device=root.device)
    if grad.shape != root.shape:
        raise TapeError(
            f"backprop: grad has shape {format_shape(grad.shape)} but the output has shape "
            f"{format_shape(root.shape)}\nhelp: pass a gradient shaped like the output"
        )
    return grad


def _zeros(shape, like: list) -> torch.Tensor:
    sample = next(g for g in like if g is not None)
    return torch.zeros(shape, dtype=sample.dtype, device=sample.device)


def _bad_gradient(node: Node, expected, grad, position: int) -> GradientError:
    if not isinstance(grad, torch.Tensor):
        return GradientError(
            f"{node.op}.backward (node {node.index}) returned a {type(grad).__name__} for input "
            f"{position}; expected a torch.Tensor or None"
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
