"""What the reverse walk refuses, and how it says so.

Each check names what was expected, what came, and how to fix it: a root no
walk can start from, a gradient of the wrong count, kind or shape, an input
made by a node that an earlier backward already emptied. They live apart from
``minigrad/backprop.py`` so that the walk reads as the loop it is.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentTypeError, GradientError, TapeError, format_shape
from minigrad.tape import Node
from minigrad.variable import Variable


def check_root(root, caller: str) -> None:
    """Refuse a root that no walk can start from: not a Variable, needs no grad, emptied."""
    if not isinstance(root, Variable):
        raise ArgumentTypeError(
            f"{caller}: expected a minigrad Variable, got {type(root).__name__}\n"
            "help: call it on the output of minigrad ops, e.g. loss = mg.mse_loss(pred, target)"
        )
    if not root.requires_grad:
        raise TapeError(
            f"{caller}: this Variable does not require grad, so nothing on the tape leads to "
            "it\nhelp: create the inputs with requires_grad=True, and do not compute it inside "
            "no_grad()"
        )
    if root.node is not None and root.node.released:
        raise TapeError(
            f"{caller}: the tape that produced this Variable has been emptied, so there is "
            "nothing to walk back through\n"
            "help: backprop empties the tape (also when it fails); pass retain_graph=True to "
            "the first backward if you need to backprop twice, or run the forward pass again"
        )


def failure_note(released: bool) -> str:
    if released:
        return (
            "(minigrad: no .grad was changed. The tape was emptied, as after every backward "
            "without retain_graph=True: fix the cause, then run the forward pass again.)"
        )
    return (
        "(minigrad: no .grad was changed, and the tape is whole (retain_graph=True): fix the "
        "cause and call backward again.)"
    )


def check_gradients(node: Node, grad_inputs, kinds=torch.Tensor) -> None:
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
        if not isinstance(grad, kinds) or grad.shape != expected:
            raise bad_gradient(node, expected, grad, position, kinds)


def released_input(node: Node) -> TapeError:
    return TapeError(
        f"backprop: an input of this computation was made by node {node.index}, which an "
        "earlier backward already walked and emptied, so the gradient cannot go further back\n"
        "help: run the forward pass again from the start, or pass retain_graph=True to the "
        "earlier backward; to treat that value as a constant, use x.detach()"
    )


def bad_gradient(node: Node, expected, grad, position: int, kinds=torch.Tensor) -> GradientError:
    if not isinstance(grad, kinds):
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


def wrong_count(node: Node, grad_inputs) -> GradientError:
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
