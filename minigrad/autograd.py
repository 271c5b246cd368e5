"""``mg.grad``: the reverse walk's gradients handed back, not written into ``.grad``.

``backprop`` walks the tape and *adds* into ``.grad``; ``grad`` is the same
walk (:func:`minigrad.backprop.reverse_walk`) read by another interpreter: it
picks out the gradients of the inputs it was asked about and returns them,
touching no ``.grad``. With ``create_graph=True`` those gradients are
Variables whose own history is on the tape, so a function of them (their
norm, their dot product with a vector) can be differentiated again::

    (g,) = mg.grad(loss, x, create_graph=True)   # dL/dx, recorded
    (h,) = mg.grad((g * v).sum(), x)             # d/dx <dL/dx, v> = H v

Named and behaving as ``torch.autograd.grad``.
"""

from __future__ import annotations

import torch

from minigrad.backprop import Walk, leaf_gradients, reverse_walk, seed_gradient
from minigrad.errors import ArgumentTypeError, ContextError, TapeError, UnsupportedArgumentError
from minigrad.gate import _wrap
from minigrad.variable import Variable
from minigrad.walk_checks import check_root


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused=None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs``, as torch.autograd.grad.

    ``outputs`` and ``inputs`` are Variables or sequences of them;
    ``grad_outputs`` gives the gradient of each output (``None`` for one with
    a single element: 1). Returns a tuple with one gradient per input: plain
    tensors, or with ``create_graph=True`` Variables that can be
    differentiated again. ``retain_graph`` defaults to ``create_graph``.
    An input the outputs do not depend on is an error unless
    ``allow_unused=True`` (its gradient is then ``None``, or zeros with
    ``materialize_grads=True``).

    >>> import minigrad as mg
    >>> x = mg.tensor([1.0, 2.0], requires_grad=True)
    >>> (g,) = mg.grad((x**3).sum(), x, create_graph=True)   # 3 x**2
    >>> mg.grad(g.sum(), x)[0].tolist()                      # 6 x
    [6.0, 12.0]
    """
    if is_grads_batched:
        raise UnsupportedArgumentError(
            "grad", "is_grads_batched", True, "call grad once per batch of grad_outputs"
        )
    del only_inputs  # deprecated in torch, and always True there
    outputs, inputs = _variables("outputs", outputs), _variables("inputs", inputs)
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    seeds = _seeds(outputs, grad_outputs, create_graph)
    context = outputs[0].context
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise TapeError(
                f"grad: input {i} does not require grad, so it has no gradient\n"
                "help: create it with requires_grad=True (or x.requires_grad_()) before the "
                "forward pass"
            )
        if x.context is not context:
            raise ContextError(
                f"grad: input {i} belongs to another context than the outputs\n"
                "help: differentiate with respect to Variables of the same tape"
            )
    wanted = {}  # node -> [(input position, slot)] for inputs an op made
    for position, x in enumerate(inputs):
        if x.node is not None:
            wanted.setdefault(x.node, []).append((position, x.output_index))
    found: list = [None] * len(inputs)
    pending: dict = {}
    with Walk(context, retain_graph, create_graph) as walk:
        for node, grads, sent in reverse_walk(outputs, seeds, pending, create_graph, walk.release):
            for position, slot in wanted.get(node, ()):
                found[position] = grads[slot]
            del grads, sent  # let go of them before the walk runs the next gate
        totals = {id(variable): total for variable, total in leaf_gradients(pending)}
    for position, x in enumerate(inputs):
        if x.node is None:
            found[position] = totals.get(id(x))
    return tuple(_finish(found, inputs, allow_unused, materialize_grads, create_graph, context))


def _variables(what: str, given) -> list:
    if isinstance(given, torch.Tensor):
        # Iterating it would split a tensor into rows (or fail on a 0-d one): say what it is.
        raise ArgumentTypeError(
            f"grad: expected a Variable or a list of Variables as {what}, got a plain torch "
            "tensor, which has no history on the tape to walk back\n"
            "help: pass the Variable itself (not its .value); a gradient is a plain tensor "
            "unless the grad that made it had create_graph=True"
        )
    items = [given] if isinstance(given, Variable) else list(given)
    if not items:
        raise ArgumentTypeError(
            f"grad: expected at least one Variable in {what}, got none\n"
            f"help: pass a Variable or a list of them as {what}"
        )
    for i, item in enumerate(items):
        if not isinstance(item, Variable):
            raise ArgumentTypeError(
                f"grad: expected Variables in {what}, got a {type(item).__name__} at position "
                f"{i}\nhelp: pass the Variables themselves (not their .value)"
            )
    return items


def _seeds(outputs: list, grad_outputs, create_graph: bool) -> list:
    if grad_outputs is None or isinstance(grad_outputs, (torch.Tensor, Variable)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ArgumentTypeError(
            f"grad: expected one grad_output per output ({len(outputs)}), got "
            f"{len(grad_outputs)}\nhelp: pass a list as long as outputs (None for a "
            "one-element output)"
        )
    seeds = []
    for output, given in zip(outputs, grad_outputs):
        check_root(output, "grad")
        if output.context is not outputs[0].context:
            raise ContextError(
                "grad: the outputs belong to different contexts\n"
                "help: differentiate outputs of one tape at a time"
            )
        seeds.append(seed_gradient(output, given, "grad", create_graph))
    return seeds


def _finish(found, inputs, allow_unused, materialize, create_graph, context) -> list:
    """Each input's gradient as the caller gets it; an unused one refused, None or zeros."""
    done = []
    for position, (g, x) in enumerate(zip(found, inputs)):
        if g is None:
            if not allow_unused:
                raise TapeError(
                    f"grad: input {position} was not used to compute the outputs, so it has "
                    "no gradient\n"
                    "help: pass allow_unused=True to get None for it (materialize_grads=True "
                    "for zeros), or check that the output really depends on it"
                )
            if materialize:
                g = torch.zeros_like(x.value)
        if create_graph and isinstance(g, torch.Tensor):  # a constant: no history to keep
            g = _wrap(g, False, context)
        done.append(g)
    return done
