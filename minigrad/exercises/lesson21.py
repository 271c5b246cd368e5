"""Lesson 21's exercises: JVP rules for five gates, and a Jacobian built column by column.

Forward mode pushes a tangent t (how the inputs move) through each gate:
the gate's ``jvp`` returns J t, how its output moves. The expected values are
closed forms on plain torch tensors, computed before the learner's code runs:

    exp:      dy = t * y                    sigmoid:  dy = t * y (1 - y)
    mul:      dy = ta * b + a * tb          matmul:   dY = TA @ B + A @ TB
    softmax:  dy = y * (t - sum(y * t))     (along the softmax's dim)

A Jacobian J of f: R^n -> R^m has one column per input: column j is J e_j,
one jvp along the j-th unit vector. So n jvps give all of J.
"""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.forward_mode import jvp
from minigrad.gate import Gate

GATES = ("Exp", "Sigmoid", "Mul", "MatMul", "Softmax")  # the order the lesson hands them in


def _run_rule(gate_class, make, values, tangents):
    """The learner's rule through mg.jvp: the tangent of the gate's output."""
    return jvp(lambda *xs: make(gate_class)(*xs), tuple(values), tuple(tangents))[1]


def _cases(generator):
    """(name, how to make the gate, inputs, tangents, expected J t, known wrong answers)."""
    x, t = draw(generator, 3, 4), draw(generator, 3, 4)
    y = torch.exp(x)
    yield (
        "Exp",
        lambda c: c(),
        (x,),
        (t,),
        t * y,
        (
            Mistake(y, "that is dy/dx alone: a jvp multiplies the derivative by the tangent t"),
            Mistake(t, "that is the tangent itself: it must be scaled by the derivative, y"),
        ),
    )
    s = torch.sigmoid(x)
    yield (
        "Sigmoid",
        lambda c: c(),
        (x,),
        (t,),
        t * s * (1 - s),
        (
            Mistake(s * (1 - s), "that is dy/dx alone: multiply it by the tangent t"),
            Mistake(t * s, "a factor is missing: the slope of the sigmoid is y (1 - y)"),
        ),
    )
    a, b, ta, tb = (draw(generator, 2, 5) for _ in range(4))
    yield "Mul", lambda c: c(), (a, b), (ta, tb), ta * b + a * tb, (
        Mistake(ta * b, "only a's term: when both inputs move, both contribute (product rule)"),
        Mistake(a * tb, "only b's term: when both inputs move, both contribute (product rule)"),
        Mistake(ta * tb, "that is the product of the tangents: each tangent is multiplied by "
                "the *other input*, and the two terms are added"),
    )  # fmt: skip
    a, b, ta, tb = (
        draw(generator, 3, 4),
        draw(generator, 4, 2),
        draw(generator, 3, 4),
        draw(generator, 4, 2),
    )
    yield (
        "MatMul",
        lambda c: c(),
        (a, b),
        (ta, tb),
        ta @ b + a @ tb,
        (
            Mistake(ta @ b, "only A's term: B moves too, adding A @ TB (product rule)"),
            Mistake(a @ tb, "only B's term: A moves too, adding TA @ B (product rule)"),
        ),
    )
    x, t = draw(generator, 3, 5), draw(generator, 3, 5)
    y = torch.softmax(x, 1)
    yield "Softmax", lambda c: c(1), (x,), (t,), y * (t - (y * t).sum(1, keepdim=True)), (
        Mistake(y * t, "the outputs are coupled (they sum to 1): the tangent also moves every "
                "other y, a term with the sum over the row is missing"),
        Mistake(y * (t - t.sum(1, keepdim=True)), "the sum over the row weighs each tangent by "
                "its y: sum(y * t), not sum(t)"),
    )  # fmt: skip


@exercise(
    "jvp_rules",
    lesson=21,
    title="jvp rules for five gates",
    hints=(
        "A jvp answers: if the inputs move by the tangents, how does the output move? For "
        "one input it is the local derivative (the same one backward uses) times the "
        "tangent, element by element; for several inputs, add one such term per input.",
        "exp: the derivative is y. sigmoid: y (1 - y). mul: the derivative with respect to a "
        "is b and with respect to b is a. matmul: the same product rule, with matrix "
        "products, keeping the order of the factors. softmax: dy_i = y_i (t_i - sum_j y_j "
        "t_j) along the softmax's dim (self.dim).",
    ),
)
def check_jvp_rules(check: Check, gate_classes) -> str:
    """``gate_classes``: the five Gate classes (Exp, Sigmoid, Mul, MatMul, Softmax), with jvp."""
    classes = check.expect_sequence(gate_classes, 5, "the five gate classes, in the lesson's order")
    for name, gate_class in zip(GATES, classes):
        if not (isinstance(gate_class, type) and issubclass(gate_class, Gate)):
            check.fail(f"expected the class {name} (a Gate), received {gate_class!r}")
    generator = torch.Generator().manual_seed(21)
    for _ in range(2):  # two draws of every case: a hard-coded answer fails
        for (name, make, values, tangents, want, mistakes), gate_class in zip(
            _cases(generator), classes
        ):
            check.case = f"{name} on inputs of shapes {[tuple(v.shape) for v in values]}"
            got = check.call(
                _run_rule, gate_class, make, values, tangents,
                names=("the class", "its call", "the inputs", "the tangents"),
            )  # fmt: skip
            check.expect(f"{name}'s output tangent", want, got, mistakes=mistakes)
    return "all five rules push tangents forward as the closed forms do"


# -- a Jacobian, one column per jvp ------------------------------------------------------------


def _functions(generator):
    """(description, f as a function of a Variable, x, its Jacobian in closed form)."""
    a = draw(generator, 5, 3)
    x = draw(generator, 3)
    yield "f(x) = A @ x", lambda v: a @ v, x, a
    y = torch.tanh(a @ x)
    yield "f(x) = tanh(A @ x)", lambda v: (a @ v).tanh(), x, (1 - y * y).unsqueeze(1) * a
    x = draw(generator, 4)
    # f(x) = x * x[0]: J = diag(x[0]) + x e_0^T
    jacobian = torch.eye(4, dtype=torch.float64) * x[0]
    jacobian[:, 0] += x
    yield "f(x) = x * x[0]", lambda v: v * v[0], x, jacobian


@exercise(
    "jacobian_by_jvps",
    lesson=21,
    title="a Jacobian from n jvps",
    hints=(
        "J has one row per output and one column per input. What does J e_j give, for e_j "
        "the unit vector that is 1 at input j and 0 elsewhere? It is one jvp.",
        "Run mg.jvp(f, (x,), (e_j,)) for j = 0 .. n-1 (torch.eye(n) holds every e_j as a "
        "row); each result is column j; put the columns side by side, outputs down the "
        "rows, so that the result has shape (m, n).",
    ),
)
def check_jacobian_by_jvps(check: Check, jacobian_forward) -> str:
    """``jacobian_forward(f, x)`` must return the (m, n) Jacobian of f at x."""
    generator = torch.Generator().manual_seed(210)
    for description, f, x, want in _functions(generator):
        check.case = f"{description}, x of shape {tuple(x.shape)}"
        got = check.call(jacobian_forward, f, x, names=("f", "x"))
        mistakes = (
            Mistake(want.T, "rows and columns are swapped: column j (not row j) is J e_j, how "
                    "every output moves when input j moves"),
            Mistake(want.sum(1), "that is J times a tangent of ones: every input moved at "
                    "once; move one input at a time, one jvp each"),
        )  # fmt: skip
        check.expect("the Jacobian", want, got, mistakes=mistakes)
    return "the Jacobians of three functions, column by column, as the closed forms give them"
