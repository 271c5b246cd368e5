"""The checks behind the lessons' exercises, and the few helpers the lessons share.

Each exercise in ``notebooks/`` leaves a gap for the learner and is followed by
a check cell that calls one ``check_*`` function here. A check prints either

    PASS <exercise>: what was verified

or

    FAIL <exercise>: which element, the expected and the received value
    hint: what to look at

and returns a :class:`CheckResult` (truthy on PASS). A check never raises on a
learner's mistake, not even on an unfinished exercise that raises
``NotImplementedError``: it reports FAIL, so the notebook still runs to the end.

The expected values come from closed-form formulas written with plain torch
ops (never torch.autograd: minigrad does not use it), so a check is exact.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch

from minigrad.gate import Gate
from minigrad.gradcheck import GradcheckReport, gradcheck
from minigrad.tape import Context, Node
from minigrad.variable import Variable


@dataclass
class CheckResult:
    """The outcome of one check: truthy on PASS. Its text is what was printed."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message


def _report(ok: bool, exercise: str, detail: str, hint: str = "") -> CheckResult:
    word = "PASS" if ok else "FAIL"
    message = f"{word} {exercise}: {detail}"
    if hint and not ok:
        message += f"\nhint: {hint}"
    print(message)
    return CheckResult(ok, message)


def _crashed(exercise: str, error: Exception, hint: str) -> CheckResult:
    if isinstance(error, NotImplementedError):
        return _report(False, exercise, "the gap is still empty (NotImplementedError)", hint)
    first = str(error).splitlines()[0] if str(error) else ""
    return _report(False, exercise, f"your code raised {type(error).__name__}: {first}", hint)


def compare(
    exercise: str, name: str, expected: torch.Tensor, received, hint: str, atol=1e-6, rtol=1e-5
) -> CheckResult | None:
    """FAIL on the first element where ``received`` differs from ``expected``; None if equal.

    A wrong type or shape is reported before any value.
    """
    if isinstance(received, Variable):
        received = received.value
    if not isinstance(received, torch.Tensor):
        return _report(
            False,
            exercise,
            f"{name} should be a torch.Tensor of shape {tuple(expected.shape)}, "
            f"received {type(received).__name__}",
            hint,
        )
    if received.shape != expected.shape:
        return _report(
            False,
            exercise,
            f"{name} should have shape {tuple(expected.shape)}, received shape "
            f"{tuple(received.shape)}",
            "a gradient always has the shape of the input it belongs to; " + hint,
        )
    received = received.to(expected.dtype)
    bad = (received - expected).abs() > atol + rtol * expected.abs()
    bad = bad | ~torch.isfinite(received)
    if bool(bad.any()):
        flat = int(bad.reshape(-1).nonzero()[0])
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape))
        return _report(
            False,
            exercise,
            f"{name} is wrong at index {index} ({int(bad.sum())} of {bad.numel()} elements "
            f"differ): expected {expected.reshape(-1)[flat].item():.6g}, received "
            f"{received.reshape(-1)[flat].item():.6g}",
            hint,
        )
    return None


# -- lesson 3: the gradient of matmul, by shapes --------------------------------


def check_matmul_grad(fn) -> CheckResult:
    """``fn(a, b, g)`` must return (dL/dA, dL/dB) for Y = A @ B and dL/dY = G."""
    exercise = "matmul_grad"
    hint = (
        "line up the shapes: dL/dA has A's shape (n, k) and is built from G (n, m) and "
        "B (k, m); the only product that fits is G @ B.T. Likewise dL/dB = A.T @ G"
    )
    generator = torch.Generator().manual_seed(3)
    for n, k, m in [(2, 3, 4), (5, 1, 2), (3, 3, 3)]:
        a = torch.randn(n, k, generator=generator, dtype=torch.float64)
        b = torch.randn(k, m, generator=generator, dtype=torch.float64)
        g = torch.randn(n, m, generator=generator, dtype=torch.float64)
        try:
            result = fn(a, b, g)
        except Exception as error:  # the learner's code: report, never crash
            return _crashed(exercise, error, hint)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return _report(
                False,
                exercise,
                f"expected a pair (grad_a, grad_b), received {type(result).__name__}",
                "end with `return grad_a, grad_b`",
            )
        for name, expected, received in [
            (f"grad_a for A {tuple(a.shape)}", g @ b.T, result[0]),
            (f"grad_b for B {tuple(b.shape)}", a.T @ g, result[1]),
        ]:
            failure = compare(exercise, name, expected, received, hint)
            if failure is not None:
                return failure
    return _report(True, exercise, "both gradients match G @ B.T and A.T @ G on 3 shape triples")


# -- lesson 4: writing your own Gate ---------------------------------------------


def softplus_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """softplus(x) = log(1 + e^x) and its derivative sigmoid(x), computed stably."""
    return torch.nn.functional.softplus(x), torch.sigmoid(x)


def check_softplus_gate(gate_class) -> CheckResult:
    """``gate_class()`` must be a Gate computing y = log(1 + e^x) with the right backward."""
    exercise = "softplus_gate"
    hint = (
        "d/dx log(1 + e^x) = e^x / (1 + e^x) = sigmoid(x); backward must return a tuple "
        "with one entry: (grad_output * sigmoid(x),), using the x that forward saved on self"
    )
    if not (isinstance(gate_class, type) and issubclass(gate_class, Gate)):
        return _report(
            False,
            exercise,
            f"expected a subclass of mg.Gate, received {gate_class!r}",
            "define `class Softplus(mg.Gate):` with forward and backward methods",
        )
    generator = torch.Generator().manual_seed(4)
    for shape in [(5,), (3, 4)]:
        x_value = torch.randn(shape, generator=generator, dtype=torch.float64) * 3
        g = torch.randn(shape, generator=generator, dtype=torch.float64)
        expected_y, slope = softplus_reference(x_value)
        ctx = Context(name="check")
        x = ctx.variable(x_value.clone(), requires_grad=True, name="x")
        try:
            y = gate_class()(x)
        except Exception as error:
            return _crashed(exercise, error, "forward: return torch.log1p(torch.exp(x))")
        failure = compare(
            exercise, f"forward output for x of shape {shape}", expected_y, y, "y = log(1 + e^x)"
        )
        if failure is not None:
            return failure
        try:
            y.backward(g)
        except Exception as error:
            return _crashed(exercise, error, hint)
        failure = compare(exercise, f"x.grad for x of shape {shape}", g * slope, x.grad, hint)
        if failure is not None:
            return failure
    return _report(True, exercise, "forward and backward match log(1 + e^x) and sigmoid(x)")


# -- lesson 5: gradient checking ------------------------------------------------


def check_central_difference(fn) -> CheckResult:
    """``fn(f, x, eps)`` must return (f(x + eps) - f(x - eps)) / (2 eps) for floats."""
    exercise = "central_difference"
    hint = "use both sides: (f(x + eps) - f(x - eps)) / (2 * eps)"
    cases = [(math.sin, 0.7, math.cos(0.7)), (math.exp, -1.2, math.exp(-1.2))]
    for f, x, exact in cases:
        try:
            received = fn(f, x, 1e-3)
        except Exception as error:
            return _crashed(exercise, error, hint)
        if not isinstance(received, (int, float)) or isinstance(received, bool):
            return _report(
                False,
                exercise,
                f"expected a float for {f.__name__} at x={x}, received {type(received).__name__}",
                "return a number, not a tensor or None",
            )
        error = abs(received - exact)
        if error > 1e-6:
            one_sided = abs((f(x + 1e-3) - f(x)) / 1e-3 - exact)
            detail = (
                f"slope of {f.__name__} at x={x} with eps=1e-3: expected {exact:.8f}, "
                f"received {received:.8f} (error {error:.2g})"
            )
            if abs(error - one_sided) < 1e-9 * max(1.0, one_sided) + 1e-12:
                detail += "; that is the one-sided difference, whose error is of order eps"
            return _report(False, exercise, detail, hint)
    return _report(True, exercise, "error below 1e-6 with eps=1e-3 on sin and exp")


class Softsign(Gate):
    """y = x / (1 + |x|).   dy/dx = 1 / (1 + |x|)**2."""

    def forward(self, x):
        self.x = x
        return x / (1 + x.abs())

    def backward(self, grad_output):
        return (grad_output / (1 + self.x.abs()) ** 2,)


class Swish(Gate):
    """y = x * sigmoid(x).   dy/dx = s + x s (1 - s), with s = sigmoid(x)."""

    def forward(self, x):
        self.x = x
        return x * torch.sigmoid(x)

    def backward(self, grad_output):
        s = torch.sigmoid(self.x)
        # The planted bug of lesson 5: the factor (1 - s) is missing.
        return (grad_output * (s + self.x * s),)


def mystery_inputs(seed: int = 0) -> list[torch.Tensor]:
    """Float64 values for x (4, 3), w1 (5, 3), b1 (5,) and w2 (2, 5) of :func:`mystery_forward`."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3), (5, 3), (5,), (2, 5)]
    return [torch.randn(s, generator=generator, dtype=torch.float64) for s in shapes]


def mystery_forward(x, w1, b1, w2):
    """Per-example losses of a small network, shape (4,). One of its gates is wrong (lesson 5).

    h = x w1^T + b1,  a = softsign(h),  z = a w2^T,  s = swish(z),  loss_i = mean_j s_ij^2
    """
    from minigrad import ops

    h = ops.linear(x, w1, b1)
    a = Softsign()(h)
    z = ops.matmul(a, w2.T)
    s = Swish()(z)
    return ops.mean(ops.mul(s, s), dim=1)


def mystery_model(seed: int = 0) -> tuple[Context, Variable]:
    """The mystery network recorded on a fresh tape: ``(ctx, loss)``.

    The Context keeps every output, so each node's input values stay
    readable, and every input requires a gradient, so every node can be
    checked alone with :func:`gradcheck_node`.
    """
    from minigrad import ops

    ctx = Context(keep_outputs=True, name="mystery")
    names = ["x", "w1", "b1", "w2"]
    leaves = [
        ctx.variable(v, requires_grad=True, name=n) for v, n in zip(mystery_inputs(seed), names)
    ]
    return ctx, ops.mean(mystery_forward(*leaves))


def node_inputs(node: Node) -> list[torch.Tensor]:
    """The input values of one recorded node (its tape must keep outputs)."""
    values = []
    for position, parent in enumerate(node.parents):
        if parent is None:
            raise ValueError(
                f"node {node.index} ({node.op}): input {position} is a constant or needs no "
                "gradient, so its value was not recorded\n"
                "help: make every input a Variable with requires_grad=True to check a node alone"
            )
        if isinstance(parent, Variable):
            values.append(parent.value)
            continue
        producer, slot = parent
        output = producer.payload.outputs()[slot]
        if output is None:
            raise ValueError(
                f"node {node.index} ({node.op}): the value of input {position} was freed\n"
                "help: record on a Context(keep_outputs=True)"
            )
        values.append(output.value)
    return values


def gradcheck_node(node: Node, **tolerances) -> GradcheckReport:
    """Check one node's gate alone: its backward against finite differences at its inputs.

    A copy of the recorded gate runs again on float64 copies of the node's
    input values, so the tape itself is left untouched.
    """
    if node.gate is None:
        raise ValueError(
            f"node {node.index} was released by backprop\n"
            "help: check the tape before calling backward, or pass retain_graph=True"
        )
    gate = node.gate
    ctx = Context(name=f"node {node.index}")
    inputs = [
        ctx.variable(
            v.detach().double().contiguous(), requires_grad=True, name=f"{node.op} input {i}"
        )
        for i, v in enumerate(node_inputs(node))
    ]

    def run(*xs):
        out = copy.copy(gate)(*xs)
        # A one-element output is widened to two elements, which gradcheck
        # weighs the same way in its analytic and its numeric pass.
        return out.reshape(1).expand(2) if isinstance(out, Variable) and out.numel() == 1 else out

    return gradcheck(run, *inputs, **tolerances)


def check_wrong_node(fn) -> CheckResult:
    """``fn(ctx)`` must return the index of the one node on ``ctx`` whose gate fails gradcheck.

    It is tried on two mystery models (:func:`mystery_model`, seeds 0 and 1).
    """
    exercise = "wrong_node"
    hint = (
        "walk the tape: `for node in ctx:` check each node alone with "
        "exercises.gradcheck_node(node) and return node.index for the first falsy report"
    )
    for seed in (0, 1):
        ctx, _ = mystery_model(seed)
        failing = [node.index for node in ctx if not gradcheck_node(node)]
        expected = failing[0]
        try:
            answer = fn(ctx)
        except Exception as error:
            return _crashed(exercise, error, hint)
        if isinstance(answer, Node):
            answer = answer.index
        if answer is None or not isinstance(answer, int) or isinstance(answer, bool):
            return _report(
                False,
                exercise,
                f"expected a node index (an int), received {answer!r}",
                hint,
            )
        if answer != expected:
            name = ctx[answer].op if 0 <= answer < len(ctx) else "no such node"
            return _report(
                False,
                exercise,
                f"node {answer} ({name}) passes its own gradcheck: expected {expected} "
                f"({ctx[expected].op}), received {answer}",
                hint,
            )
    return _report(True, exercise, f"found node {expected} ({ctx[expected].op}) on both tapes")
