"""Forward mode, and the function transforms built on both modes: jvp, vjp, hvp, hessian.

Reverse mode walks the tape backwards, carrying one gradient (how the loss
moves with each value); forward mode walks it *forwards*, carrying one
tangent (how each value moves when the inputs move along a direction t).
At each node the gate's ``jvp`` rule turns the tangents of its inputs into
the tangent of its output, J t::

    for node in tape:                          # the order it ran
        tangent[node] = node.gate.jvp(*(tangent[p] for p in node.parents))

One forward walk gives J t, a whole column of the Jacobian's action, for any
number of outputs; one reverse walk gives u^T J, a row, for any number of
inputs. So for f: R^n -> R^m, the full Jacobian costs n forward walks or m
reverse ones: forward mode wins when n < m (few inputs, many outputs).

The tape here is read by one more interpreter (as backprop and the
TapeViewer read it): :func:`push_tangents`. A gate without a ``jvp`` rule
still works: its tangent comes from its backward by the *double-VJP trick*.
Its backward is linear in the gradient u arriving, g(u) = J^T u, so
<g(u), t> = <u, J t>, and the gradient of that number with respect to u is
J t. Recording g(u) on a scratch tape (``create_graph``) and walking it back
once gives the tangent, at about twice the cost of a rule.

The transforms take torch.func's arguments and return plain tensors:

* ``jvp(fn, primals, tangents)`` -> ``(fn(*primals), J t)``;
* ``vjp(fn, *primals)`` -> ``(fn(*primals), vjp_fn)``, ``vjp_fn(u)`` = u^T J;
* ``hvp(fn, primals, tangents)`` -> ``(fn(*primals), H t)`` for a scalar fn,
  by double backward (torch.autograd.functional.hvp);
* ``hessian(fn, inputs)`` -> H (torch.autograd.functional.hessian).

``fn`` receives Variables, made from the primals on the primals' tape (the
current one, for tensors), so it may use other Variables of that tape. The
transforms record on that tape and take their nodes back when done; ``vjp``
keeps them while its ``vjp_fn`` may still be called.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from minigrad.autograd import grad
from minigrad.errors import (
    ArgumentTypeError,
    MinigradError,
    RecordingError,
    ShapeError,
    UnsupportedArgumentError,
    format_shape,
)
from minigrad.grad_mode import enable_grad
from minigrad.higher_order import first_line, jvp_of
from minigrad.tape import Context, default_context, leaf_edge
from minigrad.variable import Variable, tensor_of


def push_tangents(nodes, moved: dict) -> dict:
    """Walk ``nodes`` in tape order, turning input tangents into output tangents.

    ``moved`` maps an edge ((node, slot) or (leaf, 0)) to its tangent; the
    primals' leaf edges are given, and every node's outputs are added as the
    walk goes. A node none of whose inputs moves is skipped.
    """
    for node in nodes:
        tangents = [None if p is None else moved.get(p) for p in node.parents]
        if all(t is None for t in tangents):
            continue
        shapes = node.payload.shapes
        if node.gate.jvp is not None:
            outs = jvp_of(node.gate, tangents, shapes)
        else:
            outs = jvp_by_double_vjp(node, tangents)
        for slot, t in enumerate(outs):
            if t is not None:
                moved[(node, slot)] = t
    return moved


def jvp_by_double_vjp(node, tangents) -> tuple:
    """J t for a gate without a jvp rule: the gradient of <J^T u, t> with respect to u.

    ``J^T u`` is the gate's own backward run on a Variable u (its saved
    tensors stay constants), recorded on a scratch tape.
    """
    gate = node.gate
    like = next(t for t in tangents if t is not None)
    scratch = Context(name=f"double-VJP of {gate.name}")
    # u is shaped like each output, and of its dtype where the output is still alive to say
    # (the tape keeps shapes only); else of the tangents' dtype.
    dtypes = [like.dtype if y is None else y.dtype for y in node.payload.outputs()]
    us = [
        scratch.variable(torch.zeros(shape, dtype=dtype, device=like.device), True)
        for shape, dtype in zip(node.payload.shapes, dtypes)
    ]
    formula = (
        getattr(gate, "recorded_backward", None)
        or getattr(gate, "reference_backward", None)
        or gate.backward
    )
    with enable_grad():
        try:
            sent = formula(us[0] if len(us) == 1 else tuple(us))
        except MinigradError:
            raise
        except (TypeError, AttributeError) as error:
            raise _no_jvp(gate, error) from error
        dot = None
        for g, t in zip(sent, tangents):
            if isinstance(g, Variable) and g.requires_grad and t is not None:
                term = (g * t).sum()
                dot = term if dot is None else dot + term
    if dot is None:
        return (None,) * len(us)
    return grad(dot, us, allow_unused=True, materialize_grads=True)


def _no_jvp(gate, error: Exception) -> RecordingError:
    said = first_line(error)
    return RecordingError(
        f"forward mode: {gate.name} has no jvp rule, and its backward cannot run on a Variable "
        "gradient, which the fallback (the double-VJP trick: J t is the gradient of "
        f"<J^T u, t> with respect to u) needs (python said: {said})\n"
        "help: write jvp(self, *tangents) returning how the output moves when each input "
        "moves by its tangent (None: that input does not move); or write backward with "
        "operators and tensor methods (x * y, x.exp(), x.sum(1, keepdim=True)), which "
        "Variables have too"
    )


# -- the transforms ----------------------------------------------------------------------


def jvp(fn, primals, tangents, *, strict: bool = False, has_aux: bool = False):
    """``(fn(*primals), J t)``: the Jacobian of fn at ``primals`` times ``tangents``.

    As torch.func.jvp: ``primals`` and ``tangents`` are tuples of tensors of
    the same shapes; with ``has_aux`` fn returns ``(output, aux)`` and the
    result is ``(output, jvp_out, aux)``. Outputs are plain tensors (a tuple
    where fn returns several).

    >>> import minigrad as mg
    >>> out, moved = mg.jvp(lambda x: x * x, (torch.tensor([1.0, 3.0]),), (torch.ones(2),))
    >>> moved.tolist()   # 2 x * t
    [2.0, 6.0]
    """
    if strict:
        raise UnsupportedArgumentError(
            "jvp", "strict", strict, "an independent output's tangent is 0"
        )
    primals, tangents = _primals_and_tangents("jvp", primals, tangents)
    with _on_the_tape(primals) as (leaves, recorded):
        out, aux = _split_aux("jvp", fn(*leaves), has_aux)
        moved = {leaf_edge(x): _like(t, x) for x, t in zip(leaves, tangents)}
        push_tangents(recorded(), moved)
        values = _map(out, lambda y: tensor_of(y))
        pushed = _map(out, lambda y: _tangent_of(y, moved))
    return (values, pushed, aux) if has_aux else (values, pushed)


def vjp(fn, *primals, has_aux: bool = False):
    """``(fn(*primals), vjp_fn)``: ``vjp_fn(u)`` is u^T J, one gradient per primal.

    As torch.func.vjp. ``vjp_fn`` can be called several times (the tape is
    kept); a cotangent is needed for each output fn returns.

    >>> import minigrad as mg
    >>> out, vjp_fn = mg.vjp(lambda x: x.exp().sum(), torch.zeros(3))
    >>> vjp_fn(torch.tensor(1.0))[0].tolist()
    [1.0, 1.0, 1.0]
    """
    if not primals:
        raise ArgumentTypeError(
            "vjp: expected at least one primal, got none\n"
            "help: call vjp(fn, x) with the point to differentiate at"
        )
    context = _context_of(primals)
    with enable_grad():
        leaves = _leaves(context, primals)
        out, aux = _split_aux("vjp", fn(*leaves), has_aux)
    outputs = list(out) if isinstance(out, (tuple, list)) else [out]

    def vjp_fn(cotangents):
        given = list(cotangents) if isinstance(out, (tuple, list)) else [cotangents]
        if len(given) != len(outputs):
            raise ArgumentTypeError(
                f"vjp_fn: expected one cotangent per output ({len(outputs)}), got {len(given)}\n"
                "help: pass a tensor shaped like each output, in a tuple for several"
            )
        pairs = [
            (y, u) for y, u in zip(outputs, given) if isinstance(y, Variable) and y.requires_grad
        ]
        if not pairs:
            return tuple(torch.zeros_like(x.value) for x in leaves)
        ys, us = zip(*pairs)
        found = grad(list(ys), leaves, [tensor_of(u) for u in us], retain_graph=True,
                     allow_unused=True, materialize_grads=True)  # fmt: skip
        return tuple(found)

    values = _map(out, lambda y: tensor_of(y))
    return (values, vjp_fn, aux) if has_aux else (values, vjp_fn)


def hvp(fn, primals, tangents):
    """``(fn(*primals), H t)`` for a function with one number out, by double backward.

    H is the Hessian (second derivatives) at ``primals``: one backward with
    ``create_graph=True`` records the gradient g(x); a second one, from g
    with t as its gradient, gives the gradient of <g(x), t>, which is H t.
    As torch.autograd.functional.hvp (with ``primals`` and ``tangents`` as
    in jvp); one H t per primal.
    """
    primals, tangents = _primals_and_tangents("hvp", primals, tangents)
    with _on_the_tape(primals) as (leaves, _):
        out = _scalar("hvp", fn(*leaves))
        firsts = _first_gradients(out, leaves)
        # H t is the gradient of <g, t>: g walked back with t as its grad_outputs
        moving = [(g, _like(t, x)) for g, t, x in zip(firsts, tangents, leaves) if g.requires_grad]
        if not moving:  # the gradient does not move: fn is linear
            products = tuple(torch.zeros_like(x.value) for x in leaves)
        else:
            gs, ts = zip(*moving)
            products = grad(list(gs), leaves, list(ts), retain_graph=True, allow_unused=True,
                            materialize_grads=True)  # fmt: skip
    return out.value, products if len(products) > 1 else products[0]


def hessian(fn, inputs):
    """The matrix of second derivatives of a function with one number out, at ``inputs``.

    As torch.autograd.functional.hessian: for one input x (a tensor) the
    result has shape x.shape + x.shape; for a tuple of inputs, a tuple of
    tuples with H[i][j] of shape x_i.shape + x_j.shape. One backward records
    the gradient; then one walk back per element of the inputs gives a row.
    """
    single = isinstance(inputs, (torch.Tensor, Variable))
    primals = _tuple("hessian", "inputs", inputs)
    with _on_the_tape(primals) as (leaves, _):
        out = _scalar("hessian", fn(*leaves))
        firsts = [g.reshape(-1) for g in _first_gradients(out, leaves)]
        sizes = [x.value.numel() for x in leaves]
        rows = _hessian_rows(firsts, leaves)
    blocks = []
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    for i, xi in enumerate(leaves):
        row_block = rows[offsets[i] : offsets[i] + sizes[i]]  # d(g_i)/d(everything)
        blocks.append(tuple(_block(row_block, j, xi, xj) for j, xj in enumerate(leaves)))
    return blocks[0][0] if single else tuple(blocks)


def _block(rows: list, j: int, xi: Variable, xj: Variable) -> torch.Tensor:
    """H[i][j], of shape x_i.shape + x_j.shape, from the rows of g_i (none if x_i is empty)."""
    if not rows:
        return torch.zeros(xi.shape + xj.shape, dtype=xi.dtype, device=xi.device)
    return torch.stack([r[j] for r in rows]).reshape(xi.shape + xj.shape)


def _hessian_rows(firsts: list, leaves: list) -> list:
    """Row k: the gradient of the k-th element of the flattened gradient, one walk each."""
    rows = []
    for g in firsts:
        for k in range(g.shape[0]):
            if not g.requires_grad:  # this gradient does not move: its rows are zeros
                rows.append(tuple(torch.zeros_like(x.value) for x in leaves))
                continue
            pick = torch.zeros(g.shape, dtype=g.dtype, device=g.device)
            pick[k] = 1
            rows.append(grad(g, leaves, pick, retain_graph=True, allow_unused=True,
                             materialize_grads=True))  # fmt: skip
    return rows


# -- what the transforms share -----------------------------------------------------------


def _first_gradients(out: Variable, leaves: list) -> list:
    """dout/dx for each leaf, recorded (create_graph) so that it can be differentiated."""
    if not out.requires_grad:
        return [Variable(torch.zeros_like(x.value), False, x.context) for x in leaves]
    return list(grad(out, leaves, create_graph=True, allow_unused=True, materialize_grads=True))


@contextmanager
def _on_the_tape(primals) -> Iterator[tuple]:
    """``(leaves, recorded)``: a leaf for each primal on the primals' tape, with recording on.

    ``recorded()`` lists the nodes recorded since; when the block ends they
    are taken back, so the tape is as the caller had it.
    """
    context = _context_of(primals)
    start = len(context.nodes)
    try:
        with enable_grad():
            yield _leaves(context, primals), lambda: context.nodes[start:]
    finally:
        context.rewind(start)


def _primals_and_tangents(caller: str, primals, tangents) -> tuple:
    primals = _tuple(caller, "primals", primals)
    tangents = _tuple(caller, "tangents", tangents)
    _check_like(caller, primals, tangents)
    return primals, tangents


def _tuple(caller: str, what: str, given) -> tuple:
    if isinstance(given, (torch.Tensor, Variable)):
        return (given,)
    if isinstance(given, (tuple, list)) and given:
        for i, item in enumerate(given):
            if not isinstance(item, (torch.Tensor, Variable)):
                raise ArgumentTypeError(
                    f"{caller}: expected tensors in {what}, got a {type(item).__name__} at "
                    f"position {i}\nhelp: pass a tuple of tensors, e.g. (x,)"
                )
        return tuple(given)
    raise ArgumentTypeError(
        f"{caller}: expected {what} as a tuple of tensors, got {type(given).__name__}\n"
        f"help: pass e.g. {caller}(fn, (x,), (v,))"
    )


def _check_like(caller: str, primals: tuple, tangents: tuple) -> None:
    if len(primals) != len(tangents):
        raise ArgumentTypeError(
            f"{caller}: expected one tangent per primal ({len(primals)}), got {len(tangents)}\n"
            "help: give each input the direction it moves in, shaped like it"
        )
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if tuple(p.shape) != tuple(t.shape):
            raise ShapeError(
                f"{caller}: tangent {i} has shape {format_shape(t.shape)}, but its primal has "
                f"shape {format_shape(p.shape)}\nhelp: a tangent is shaped like its primal"
            )


def _context_of(primals) -> Context:
    for p in primals:
        if isinstance(p, Variable):
            return p.context
    return default_context()


def _leaves(context: Context, primals) -> list:
    """A fresh leaf that requires grad for each primal: what fn is called with."""
    leaves = []
    for p in primals:
        value = tensor_of(p)
        if not value.is_floating_point():
            raise ArgumentTypeError(
                f"expected floating-point primals, got dtype {value.dtype}\n"
                "help: convert it, e.g. x.double(); integer inputs have no derivative"
            )
        leaves.append(context.variable(value.detach(), requires_grad=True))
    return leaves


def _like(t, x: Variable) -> torch.Tensor:
    return tensor_of(t).to(dtype=x.dtype, device=x.device)


def _split_aux(caller: str, result, has_aux: bool) -> tuple:
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ArgumentTypeError(
            f"{caller}: has_aux=True expects fn to return (output, aux), got "
            f"{type(result).__name__}\nhelp: return a pair, or leave has_aux out"
        )
    return result[0], result[1]


def _scalar(caller: str, out) -> Variable:
    if not isinstance(out, Variable) or out.numel() != 1:
        shape = format_shape(out.shape) if hasattr(out, "shape") else type(out).__name__
        raise ShapeError(
            f"{caller}: expected fn to return one number (a Variable with one element), got "
            f"{shape}\nhelp: reduce the output first, e.g. return loss.sum()"
        )
    return out


def _map(out, fn):
    return tuple(fn(y) for y in out) if isinstance(out, (tuple, list)) else fn(out)


def _tangent_of(y, moved: dict) -> torch.Tensor:
    """The tangent the walk carried to output ``y``: zeros if nothing moved it."""
    if isinstance(y, Variable) and y.requires_grad:
        edge = (y.node, y.output_index) if y.node is not None else leaf_edge(y)
        t = moved.get(edge)
        if t is not None:
            return t
    return torch.zeros_like(tensor_of(y))
