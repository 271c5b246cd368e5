"""Lesson 1's exercises: gradients by hand, with the chain rule."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise

# -- an expression's gradients, by hand -------------------------------------------------


@exercise(
    "expression_grads",
    lesson=1,
    title="an expression's gradients by hand",
    hints=(
        "Name the two intermediate values, p = a + b and q = c - d, so that L = p * q. Walk "
        "back from L: first dL/dp and dL/dq (the local rule of a product), then each input, "
        "multiplying by the local derivative of the sum or difference it went into.",
        "For L = p * q: dL/dp = q and dL/dq = p. For p = a + b: dp/da = dp/db = 1. For "
        "q = c - d: dq/dc = 1 and dq/dd = -1. The chain rule multiplies along each path: "
        "dL/da = dL/dp * dp/da, and so on.",
    ),
)
def check_expression_grads(check: Check, expression_grads) -> str:
    """``expression_grads(a, b, c, d)`` must return (dL/da, dL/db, dL/dc, dL/dd), L = (a+b)(c-d)."""
    points = [(1.5, 0.5, 3.0, 4.5), (-2.0, 5.0, 0.5, 1.75), (0.25, 1.0, -1.5, 2.0)]
    names = ("dL/da", "dL/db", "dL/dc", "dL/dd")
    for a, b, c, d in points:
        check.case = f"a = {a}, b = {b}, c = {c}, d = {d}"
        p, q = a + b, c - d
        want = (q, q, p, -p)
        local = (1.0, 1.0, 1.0, -1.0)  # each input's derivative into p or q, alone
        own_factor = (p, p, q, q)  # the product rule's factor taken from the wrong side
        received = check.call(expression_grads, a, b, c, d, names=("a", "b", "c", "d"))
        received = check.expect_sequence(received, 4, "four numbers (dL/da, dL/db, dL/dc, dL/dd)")
        for name, w, r, alone, own in zip(names, want, received, local, own_factor):
            mistakes = (
                Mistake(alone, "that is the local derivative of the sum or difference alone: "
                        "the chain rule multiplies it by dL/dp or dL/dq, the gradient from above"),
                Mistake(own, "for a product L = p * q, the derivative with respect to one "
                        "factor is the *other* factor"),
            )  # fmt: skip
            check.expect(name, w, r, mistakes=mistakes)
    return f"all four gradients are right at {len(points)} points"


# -- a neuron ------------------------------------------------------------------------------


@exercise(
    "tanh_neuron",
    lesson=1,
    title="the gradients of a tanh neuron",
    hints=(
        "Write the neuron as two steps: z = w . x + b (a sum of products), then o = tanh(z). "
        "Every path from w or b to o passes through tanh, so each gradient is dO/dz times "
        "the local derivative of z.",
        "dO/dz = 1 - tanh(z)^2, which is 1 - o^2. dz/dw_i = x_i (the input that w_i "
        "multiplies) and dz/db = 1. So dO/dw_i = (1 - o^2) * x_i, for every i at once.",
    ),
)
def check_tanh_neuron(check: Check, neuron_grads) -> str:
    """``neuron_grads(x, w, b)`` must return (dO/dw, dO/db) for o = tanh(sum(w * x) + b)."""
    generator = torch.Generator().manual_seed(1)
    cases = [(2, 0.5), (5, 1.0), (3, 4.0)]  # (inputs, scale): the last one saturates tanh
    for n, scale in cases:
        x, w = draw(generator, n, scale=scale), draw(generator, n, scale=scale)
        b = float(draw(generator, 1)[0])
        check.case = f"{n} inputs (x and w of shape ({n},))"
        z = float((w * x).sum()) + b
        local = 1 - torch.tanh(torch.tensor(z, dtype=torch.float64)) ** 2
        received = check.call(neuron_grads, x, w, b, names=("x", "w", "b"))
        grad_w, grad_b = check.expect_sequence(received, 2, "a pair (dO/dw, dO/db)")
        no_tanh = "tanh's derivative is missing: o = tanh(z), so every path to o passes through it"
        not_tanh = (
            "1 - z**2 is not tanh's derivative: tanh'(z) is 1 minus the square of tanh's "
            "*output*, not of its input"
        )
        mistakes = (
            Mistake(x, no_tanh),
            Mistake((1 - z**2) * x, not_tanh),
            Mistake(local * w, "dz/dw_i is x_i, the input that w_i multiplies, not w_i itself"),
        )
        check.expect("dO/dw", local * x, grad_w, mistakes=mistakes)
        mistakes = (Mistake(1.0, no_tanh), Mistake(1 - z**2, not_tanh))
        check.expect("dO/db", local, grad_b, mistakes=mistakes)
    return f"both gradients are right for {len(cases)} neurons, a saturated one too"
