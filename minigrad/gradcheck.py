"""Gradient checking: compare the tape's gradients with finite differences.

For a function f of inputs x and a small step eps, the central difference

    (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

approximates df/dx_i with an error of order eps**2. With eps = 1e-6 that is
only trustworthy in float64: in float32 the rounding error of f itself
(about 1e-7 relative) divided by 2 eps swamps the answer. So gradcheck
computes in float64, and warns when handed float32 inputs.

For a function with a non-scalar output, gradcheck checks the gradient of
sum(f(x) * r) for a fixed random r, which tests every output at once. r is
``torch.randn(out.shape, dtype=torch.float64)`` drawn from a generator
seeded with ``seed`` (a scalar output gets one random weight), so a test can
rebuild it and compare both estimates with a closed form.

``gradcheck_node`` checks one recorded node of a tape alone: its gate runs
again on the values that node saw. That is how to find *which* op of a model
has a wrong backward (lesson 5).

``gradgradcheck`` checks second derivatives the same way: the function it
differentiates is the *gradient* of fn, u^T J(x) for a fixed random u,
computed with ``create_graph=True``; its analytic side is a backward through
that recorded backward, its numeric side central differences of the gradient.
As in torch, u is checked too: the gradient is linear in it.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import torch

from minigrad.autograd import grad
from minigrad.backprop import backprop
from minigrad.errors import TapeError
from minigrad.grad_mode import no_grad
from minigrad.ops.pieces import cat
from minigrad.tape import Context, Node
from minigrad.variable import Variable


@dataclass
class Mismatch:
    """One element whose analytic and numeric gradients disagree."""

    input: int
    index: tuple
    analytic: float
    numeric: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numeric)


@dataclass
class GradcheckReport:
    """The result of a gradient check. Truthy when every gradient matched.

    ``analytic`` and ``numeric`` hold one tensor per input (``None`` for inputs
    that need no gradient); ``mismatches`` lists the worst elements first.
    """

    ok: bool
    analytic: list = field(default_factory=list)
    numeric: list = field(default_factory=list)
    mismatches: list = field(default_factory=list)
    names: list = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.ok:
            checked = sum(a is not None for a in self.analytic)
            return f"gradcheck passed: {checked} input(s), every element within tolerance"
        worst = self.mismatches[0]
        name = self.names[worst.input]
        lines = [
            f"gradcheck failed for input {worst.input} ({name}) at index {worst.index}: "
            f"analytic {worst.analytic:.6g}, numeric {worst.numeric:.6g} "
            f"(difference {worst.error:.3g}, allowed {self.atol:g} + {self.rtol:g} * |numeric|)",
            f"{len(self.mismatches)} element(s) disagree; the worst:",
        ]
        for m in self.mismatches[:5]:
            lines.append(
                f"  input {m.input} {m.index}: analytic {m.analytic:.6g}, numeric {m.numeric:.6g}"
            )
        lines.append(
            "help: if the analytic values are off by a constant factor or a sign, look "
            "at the backward formula; if they are zero, backward may ignore an input"
        )
        return "\n".join(lines)

    __repr__ = __str__


def gradcheck(
    fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0
) -> GradcheckReport:
    """Check the tape's gradients of ``fn(*inputs)`` against central differences.

    ``inputs`` are Variables (those with ``requires_grad`` are checked),
    tensors or numbers. They are copied to float64 first; the originals are
    left alone. Returns a :class:`GradcheckReport` (truthy on success).

    >>> import minigrad as mg
    >>> x = mg.tensor([0.5, -1.0], requires_grad=True, dtype=torch.float64)
    >>> bool(mg.gradcheck(lambda v: (v * v).sum(), x))
    True
    """
    if any(isinstance(x, Variable) and x.dtype == torch.float32 for x in inputs):
        warnings.warn(
            "gradcheck: float32 inputs are checked in float64; finite differences in float32 "
            "are too coarse to trust (pass dtype=torch.float64 to silence this)",
            stacklevel=2,
        )
    names = [getattr(x, "name", None) or f"input {i}" for i, x in enumerate(inputs)]
    return _compare(fn, list(inputs), names, eps, atol, rtol, seed, numeric_records=False)


def _compare(fn, originals, names, eps, atol, rtol, seed, numeric_records) -> GradcheckReport:
    """gradcheck's work: the tape's gradient of sum(fn * r), then central differences.

    ``numeric_records``: fn itself takes a gradient (gradgradcheck), so even
    its numeric evaluations must be recorded; their tape is emptied after each.
    """
    ctx = Context(name="gradcheck")
    values = [_as_float64(x) for x in originals]
    wanted = [isinstance(x, Variable) and x.requires_grad for x in originals]

    def evaluate(tensors, track: bool):
        args = [
            ctx.variable(t, requires_grad=track and w) if isinstance(o, Variable) else t
            for t, w, o in zip(tensors, wanted, originals)
        ]
        out = fn(*args)
        return args, out

    # Analytic: one backward of sum(f * r) through the tape.
    args, out = evaluate(values, track=True)
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(out.shape, generator=generator, dtype=torch.float64).to(out.device)
    if isinstance(out, Variable) and out.requires_grad:
        backprop(out, weights)
    analytic = [
        (a.grad if a.grad is not None else torch.zeros_like(a.value)) if w else None
        for a, w in zip(args, wanted)
    ]

    def scalar(tensors) -> float:
        if numeric_records:
            _, result = evaluate(tensors, track=True)
            ctx.clear()
        else:
            with ctx.no_grad():
                _, result = evaluate(tensors, track=False)
        value = result.value if isinstance(result, Variable) else result
        return float((value.double() * weights).sum())

    numeric = []
    mismatches = []
    for i, (value, w) in enumerate(zip(values, wanted)):
        if not w:
            numeric.append(None)
            continue
        estimate = torch.zeros_like(value)
        flat = value.view(-1)
        for j in range(flat.numel()):
            saved = flat[j].item()
            flat[j] = saved + eps
            plus = scalar(values)
            flat[j] = saved - eps
            minus = scalar(values)
            flat[j] = saved
            estimate.view(-1)[j] = (plus - minus) / (2 * eps)
        numeric.append(estimate)
        bad = (analytic[i] - estimate).abs() > atol + rtol * estimate.abs()
        for flat_index in bad.reshape(-1).nonzero().reshape(-1).tolist():
            index = (
                tuple(int(k) for k in torch.unravel_index(torch.tensor(flat_index), value.shape))
                if value.ndim
                else ()
            )
            mismatches.append(
                Mismatch(
                    i,
                    index,
                    float(analytic[i].reshape(-1)[flat_index]),
                    float(estimate.reshape(-1)[flat_index]),
                )
            )
    mismatches.sort(key=lambda m: -m.error)
    return GradcheckReport(not mismatches, analytic, numeric, mismatches, names, atol, rtol)


def gradgradcheck(
    fn,
    *inputs,
    grad_outputs=None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> GradcheckReport:
    """Check second derivatives: the gradient of fn's gradient against finite differences of it.

    The checked function is (x, u) -> u^T J_fn(x), the gradients of fn's
    output weighted by u with respect to each input that requires grad,
    recorded with ``create_graph=True``. ``u`` is ``grad_outputs`` (one tensor
    per output) or random (seeded by ``seed + 1``); it is checked too, as an
    input. Reports as :func:`gradcheck` does (the u's are named
    ``grad_output 0`` ...).

    >>> import minigrad as mg
    >>> x = mg.tensor([0.5, -1.0], requires_grad=True, dtype=torch.float64)
    >>> bool(mg.gradgradcheck(lambda v: (v * v * v).sum(), x))
    True
    """
    originals = list(inputs)
    differentiated = [
        i for i, x in enumerate(originals) if isinstance(x, Variable) and x.requires_grad
    ]
    with no_grad():  # only to see the outputs' shapes
        probe = fn(*[_as_float64(x) if not isinstance(x, Variable) else x for x in originals])
    outputs = list(probe) if isinstance(probe, (tuple, list)) else [probe]
    ctx = Context(name="gradgradcheck")
    if grad_outputs is None:
        generator = torch.Generator().manual_seed(seed + 1)
        grad_outputs = [
            torch.randn(y.shape, generator=generator, dtype=torch.float64) for y in outputs
        ]
    elif isinstance(grad_outputs, (torch.Tensor, Variable)):
        grad_outputs = [grad_outputs]
    us = [ctx.variable(_as_float64(u), requires_grad=True) for u in grad_outputs]
    count = len(originals)

    def first_order(*args):
        xs, weights = args[:count], args[count:]
        out = fn(*xs)
        ys = list(out) if isinstance(out, (tuple, list)) else [out]
        grads = grad(ys, [xs[i] for i in differentiated], list(weights), create_graph=True,
                      allow_unused=True, materialize_grads=True)  # fmt: skip
        return cat([g.reshape(-1) for g in grads])

    names = [getattr(x, "name", None) or f"input {i}" for i, x in enumerate(originals)]
    names += [f"grad_output {j}" for j in range(len(us))]
    return _compare(first_order, originals + us, names, eps, atol, rtol, seed, numeric_records=True)


def gradcheck_gate(
    gate_class, *shapes, args=(), kwargs=None, positive: bool = False, seed: int = 0, **tolerances
) -> GradcheckReport:
    """Check one Gate class alone on random float64 inputs of the given shapes.

    ``args`` / ``kwargs`` are passed to the gate's constructor; ``positive``
    draws inputs in (0.5, 1.5) for ops such as log and sqrt.

    >>> import minigrad as mg
    >>> bool(mg.gradcheck_gate(mg.Tanh, (3, 2)))
    True
    """
    generator = torch.Generator().manual_seed(seed)
    ctx = Context(name="gradcheck_gate")
    inputs = []
    for i, shape in enumerate(shapes):
        value = (
            torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
            if positive
            else torch.randn(shape, generator=generator, dtype=torch.float64)
        )
        inputs.append(ctx.variable(value, requires_grad=True, name=f"x{i}"))
    kwargs = kwargs or {}
    return gradcheck(lambda *xs: gate_class(*args, **kwargs)(*xs), *inputs, seed=seed, **tolerances)


def node_inputs(node: Node) -> list:
    """What one recorded node was called with: its input tensors and constants, in order.

    Only a tape made with ``Context(keep_outputs=True)`` remembers them.
    """
    if node.inputs is None:
        raise TapeError(
            f"node {node.index} ({node.op}) does not remember its inputs\n"
            "help: record on a Context(keep_outputs=True), and look before backprop empties it"
        )
    return [x.value if isinstance(x, Variable) else x for x in node.inputs]


def gradcheck_node(node: Node, **tolerances) -> GradcheckReport:
    """Check one node's gate alone: its backward against finite differences at its inputs.

    A copy of the recorded gate runs again on float64 copies of the node's
    floating-point inputs (other inputs stay constants), so the tape itself
    is left untouched. The node's tape must keep its outputs.

    >>> import minigrad as mg
    >>> ctx = mg.Context(keep_outputs=True)
    >>> x = ctx.variable(torch.randn(3, dtype=torch.float64), requires_grad=True)
    >>> y = (x * 2.0).tanh()
    >>> bool(mg.gradcheck_node(ctx[1]))
    True
    """
    if node.gate is None:
        raise TapeError(
            f"node {node.index} was released by backprop\n"
            "help: check the tape before calling backward, or pass retain_graph=True"
        )
    gate = node.gate
    ctx = Context(name=f"node {node.index}")
    inputs = [
        ctx.variable(v.detach().double().contiguous(), requires_grad=True, name=f"input {i}")
        if isinstance(v, torch.Tensor) and v.is_floating_point()
        else v
        for i, v in enumerate(node_inputs(node))
    ]

    def run(*xs):
        out = copy.copy(gate)(*xs)
        # A one-element output is widened to two elements, which gradcheck
        # weighs the same way in its analytic and its numeric pass.
        return out.reshape(1).expand(2) if isinstance(out, Variable) and out.numel() == 1 else out

    return gradcheck(run, *inputs, **tolerances)


def _as_float64(x):
    if isinstance(x, Variable):
        x = x.value
    if isinstance(x, torch.Tensor):
        if not x.is_floating_point():
            return x
        # A contiguous copy: the finite differences nudge it through a flat view.
        return x.detach().to(torch.float64).clone(memory_format=torch.contiguous_format)
    return x
