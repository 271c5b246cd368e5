"""Lesson 22's exercises: a Hessian-vector product by double backward, and a Newton step.

The expected values are closed forms, on plain torch tensors, computed
before the learner's code runs:

* the quadratic f(x) = x^T A x has gradient (A + A^T) x and Hessian A + A^T;
* f(x) = sum(exp(x)) has Hessian diag(exp(x));
* the Rosenbrock function f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 has gradient
  (-2 (1 - x) - 400 x (y - x^2), 200 (y - x^2)) and Hessian
  [[2 - 400 (y - x^2) + 800 x^2, -400 x], [-400 x, 200]].

A Newton step is x - H^{-1} g: on a quadratic with positive definite A
(f(x) = x^T A x / 2 - b^T x) it lands on the minimum A^{-1} b in one step.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentTypeError, TapeError
from minigrad.exercises.checking import Check, Mistake, draw, exercise


def rosenbrock(p):
    """(1 - x)^2 + 100 (y - x^2)^2 at p = (x, y): a Variable or a tensor."""
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_gradient(p: torch.Tensor) -> torch.Tensor:
    x, y = p[0], p[1]
    return torch.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def rosenbrock_hessian(p: torch.Tensor) -> torch.Tensor:
    x, y = float(p[0]), float(p[1])
    return torch.tensor(
        [[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]], dtype=torch.float64
    )


def _functions(generator):
    """(description, f of a Variable, x, gradient, Hessian), in closed form."""
    a = draw(generator, 4, 4)
    x = draw(generator, 4)
    yield "f(x) = x^T A x", lambda v: v @ (a @ v), x, (a + a.T) @ x, a + a.T
    x = draw(generator, 5, scale=0.5)
    yield "f(x) = sum(exp(x))", lambda v: v.exp().sum(), x, torch.exp(x), torch.diag(torch.exp(x))
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64) + draw(generator, 2, scale=0.1)
    yield "Rosenbrock", rosenbrock, x, rosenbrock_gradient(x), rosenbrock_hessian(x)


def _no_second_walk(error: Exception) -> str | None:
    nothing_recorded = (isinstance(error, TapeError) and "does not require grad" in str(error)) or (
        isinstance(error, ArgumentTypeError) and "plain torch tensor" in str(error)
    )
    if nothing_recorded:
        return (
            "the second mg.grad found nothing recorded to walk back: the first gradient was "
            "computed as plain numbers; ask the first mg.grad to record its backward too"
        )
    return None


@exercise(
    "hvp_by_hand",
    lesson=22,
    title="a Hessian-vector product by double backward",
    hints=(
        "H v is the gradient of a number: of <g(x), v>, the gradient g dotted with the fixed "
        "vector v. So take the gradient once in a way that is itself recorded on the tape, "
        "form that dot product, and take its gradient.",
        "Make x a Variable that requires grad (mg.tensor); the first mg.grad of f(x) with "
        "respect to it, with create_graph=True, gives g as a Variable; the sum of g * v is "
        "<g, v>; a second mg.grad of that number with respect to x is H v (mg.grad returns "
        "a tuple, one gradient per input).",
    ),
)
def check_hvp_by_hand(check: Check, hessian_vector_product) -> str:
    """``hessian_vector_product(f, x, v)`` must return H(x) v as a tensor shaped like x."""
    generator = torch.Generator().manual_seed(22)
    for description, f, x, gradient, hessian in _functions(generator):
        v = draw(generator, *x.shape)
        check.case = f"{description} at x of shape {tuple(x.shape)}"
        got = check.call(hessian_vector_product, f, x, v, names=("f", "x", "v"),
                         explain=_no_second_walk)  # fmt: skip
        mistakes = (
            Mistake(gradient, "that is the gradient g itself: H v is the gradient of <g, v>"),
            Mistake(gradient * v, "that is g * v element by element: sum it into one number "
                    "and differentiate that number once more"),
        )  # fmt: skip
        check.expect("H v", hessian @ v, getattr(got, "value", got), mistakes=mistakes)
    return "H v of a quadratic form, of sum(exp(x)) and of the Rosenbrock function"


# -- Newton's method -------------------------------------------------------------------


def _newton_cases(generator):
    """(description, f, x, gradient, Hessian) for the Newton step."""
    m = draw(generator, 3, 3)
    a = m @ m.T + 3 * torch.eye(3, dtype=torch.float64)  # positive definite
    b = draw(generator, 3)
    x = draw(generator, 3)
    yield ("f(x) = x^T A x / 2 - b^T x", lambda v: 0.5 * (v @ (a @ v)) - (b * v).sum(), x,
           a @ x - b, a)  # fmt: skip
    for start in ([-1.2, 1.0], [0.5, -0.3]):
        x = torch.tensor(start, dtype=torch.float64)
        yield "Rosenbrock", rosenbrock, x, rosenbrock_gradient(x), rosenbrock_hessian(x)


@exercise(
    "newton_step",
    lesson=22,
    title="one step of Newton's method",
    hints=(
        "Near x, f looks like the parabola f(x) + g^T d + d^T H d / 2 in the step d; Newton "
        "jumps to that parabola's lowest point. Set the parabola's gradient in d to zero "
        "and solve for d.",
        "The step is d = -H^{-1} g: solve the linear system H d = -g "
        "(torch.linalg.solve(H, g) gives H^{-1} g) with g from mg.grad and H from "
        "mg.hessian, then return x + d.",
    ),
)
def check_newton_step(check: Check, newton_step) -> str:
    """``newton_step(f, x)`` must return x - H(x)^{-1} grad f(x), a tensor shaped like x."""
    generator = torch.Generator().manual_seed(220)
    for description, f, x, gradient, hessian in _newton_cases(generator):
        check.case = f"{description} from x = {[round(float(e), 3) for e in x]}"
        got = check.call(newton_step, f, x, names=("f", "x"))
        step = torch.linalg.solve(hessian, gradient)
        mistakes = (
            Mistake(x + step, "the step goes uphill: the sign of the step is flipped"),
            Mistake(x - gradient, "that is a gradient-descent step (learning rate 1): Newton "
                    "divides the gradient by the curvature, H^{-1} g"),
            Mistake(x - hessian @ gradient, "that multiplies by H: Newton's step divides by "
                    "the curvature (H^{-1} g, a linear solve), it does not multiply"),
            Mistake(x - gradient / torch.diagonal(hessian), "only H's diagonal was used: the "
                    "off-diagonal curvature matters too (solve with the whole H)"),
        )  # fmt: skip
        check.expect("the new x", x - step, getattr(got, "value", got), mistakes=mistakes)
    return "Newton lands on a quadratic's minimum in one step, and steps as it should on Rosenbrock"
