"""Lesson 3's exercises: gradients of tensor ops, from broadcasting and from shapes."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import wrong_broadcast_dims

# -- matmul's backward, from the shapes -----------------------------------------------


@exercise(
    "matmul_grad",
    lesson=3,
    title="matmul's backward, from the shapes",
    hints=(
        "A gradient has the shape of the value it belongs to, and the chain rule makes it "
        "linear in G. dL/dA has A's shape (n, k) and can only be built from G (n, m) and "
        "B (k, m): exactly one product of those two, each perhaps transposed, has shape "
        "(n, k). The same reasoning gives dL/dB, of shape (k, m), from A and G.",
        "Element by element: Y[i, j] = sum over p of A[i, p] * B[p, j]. So dL/dA[i, p] is "
        "the sum over j of G[i, j] * B[p, j], and dL/dB[p, j] is the sum over i of "
        "A[i, p] * G[i, j]. Each sum is one matrix product: the summed index is the one the "
        "two factors share.",
    ),
)
def check_matmul_grad(check: Check, matmul_backward) -> str:
    """``matmul_backward(a, b, g)`` must return (dL/dA, dL/dB) for Y = A @ B and dL/dY = G."""
    generator = torch.Generator().manual_seed(3)
    triples = [(2, 3, 4), (5, 1, 2), (3, 3, 3), (4, 4, 4), (1, 6, 2), (3, 2, 5)]
    for case, (n, k, m) in enumerate(triples):
        scale = 1e3 if case == 4 else 1.0
        a, b, g = draw(generator, n, k, scale=scale), draw(generator, k, m), draw(generator, n, m)
        want_a, want_b = g @ b.T, a.T @ g
        check.case = f"A of shape {(n, k)} and B of shape {(k, m)}"
        received = check.call(matmul_backward, a, b, g, names=("a", "b", "g"))
        grad_a, grad_b = check.expect_sequence(received, 2, "a pair (grad_a, grad_b)")
        swapped = Mistake(
            want_b, "this is dL/dB, not dL/dA: return the pair in the order (grad_a, grad_b)"
        )
        check.expect("grad_a", want_a, grad_a, mistakes=(swapped,))
        swapped = Mistake(want_a, "this is dL/dA: return the pair in the order (grad_a, grad_b)")
        check.expect("grad_b", want_b, grad_b, mistakes=(swapped,))
    return f"both gradients are right for {len(triples)} shapes (square ones too)"


# -- the gradient of a broadcast: sum_to_shape ---------------------------------------------

# (shape of the broadcast result, shape of the input that was broadcast)
BROADCASTS = [
    ((3, 4), (4,)),
    ((3, 4), (3, 1)),
    ((3, 4), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((2, 3, 4), (2, 1, 4)),
    ((2, 3, 4), ()),
    ((2, 3, 4), (2, 3, 4)),
    ((4, 4), (4,)),
    ((4, 4), (4, 1)),
    ((5, 3, 4), (1, 3, 1)),
]


def stretched(big: tuple, small: tuple) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The dimensions of ``big`` that broadcasting added (on the left) and stretched (from 1)."""
    added = tuple(range(len(big) - len(small)))
    lead = len(added)
    grown = tuple(lead + i for i, d in enumerate(small) if d == 1 and big[lead + i] != 1)
    return added, grown


def reduce_to(grad: torch.Tensor, shape: tuple) -> torch.Tensor:
    """Closed form of the answer: sum the added dimensions away, then the stretched ones."""
    added, grown = stretched(tuple(grad.shape), shape)
    out = grad.sum(dim=added) if added else grad
    return out.sum(dim=[d - len(added) for d in grown], keepdim=True) if grown else out


@exercise(
    "sum_to_shape",
    lesson=3,
    title="the gradient of a broadcast",
    hints=(
        "A broadcast input is read several times, once per position it was stretched over, "
        "so its gradient is the sum of the gradients at all those positions. Broadcasting "
        "does two things: it adds dimensions on the left, and it stretches dimensions of "
        "size 1. Undo both.",
        "Compare the shapes from the right. First sum over the leading dimensions that the "
        "input does not have at all. Then, for every dimension where the input has size 1 "
        "but the gradient does not, sum over it while keeping it as a dimension of size 1. "
        "The result has exactly the input's shape.",
    ),
)
def check_sum_to_shape(check: Check, sum_to_shape) -> str:
    """``sum_to_shape(grad, shape)`` must sum a broadcast result's gradient back to ``shape``."""
    generator = torch.Generator().manual_seed(30)
    for big, small in BROADCASTS:
        grad = draw(generator, *big)
        check.case = f"a gradient of shape {big} for an input of shape {small}"
        want = reduce_to(grad, small)
        added, grown = stretched(big, small)
        mistakes = [
            Mistake(
                want * want.numel() / grad.numel(),
                "that is the mean over the stretched dimensions: each position an input "
                "was stretched over adds its whole gradient, so sum them",
            )
        ]
        for other in set(range(len(big))) - set(added + grown):  # a sum over the wrong one
            for keep in (False, True):
                wrong = grad.sum(dim=other, keepdim=keep)
                mistakes.append(wrong_broadcast_dims(wrong, (other,), added + grown))
        received = check.call(sum_to_shape, grad, small, names=("grad", "shape"))
        got = getattr(received, "value", received)
        if isinstance(got, torch.Tensor) and got.ndim > len(small) and got.shape != want.shape:
            check.fail(
                f"the result has shape {tuple(got.shape)}, the input's is {small}",
                "broadcasting also adds dimensions on the left: sum those away as well",
            )
        check.expect("the result", want, received, mistakes=tuple(mistakes))
    return f"right for {len(BROADCASTS)} broadcast patterns (added, stretched, both, none)"


# -- linear's backward, with a bias ---------------------------------------------------------


@exercise(
    "linear_backward",
    lesson=3,
    title="a linear layer's backward, with its bias",
    hints=(
        "y = x @ w.T + b is a matmul followed by a broadcast add. Take them one at a time: "
        "the matmul's two gradients come from the shapes, exactly as in matmul_grad (here "
        "the second factor is w transposed), and the bias was broadcast over the batch, so "
        "its gradient is a sum.",
        "Shapes: x (n, i), w (o, i), b (o,), g = dL/dy (n, o). dL/dx must be (n, i): built "
        "from g and w. dL/dw must be (o, i): built from g and x, summed over the batch index "
        "they share. dL/db must be (o,): b was added to each of the n rows, so add up g's rows.",
    ),
)
def check_linear_backward(check: Check, linear_backward) -> str:
    """``linear_backward(x, w, b, g)`` must return (dL/dx, dL/dw, dL/db) for y = x w^T + b."""
    generator = torch.Generator().manual_seed(31)
    sizes = [(4, 3, 2), (3, 5, 3), (6, 2, 2), (1, 4, 3)]  # (n, i, o): square cases too
    for n, i, o in sizes:
        x, w, b, g = (draw(generator, *s) for s in [(n, i), (o, i), (o,), (n, o)])
        check.case = f"x of shape {(n, i)}, w of shape {(o, i)}, b of shape {(o,)}"
        received = check.call(linear_backward, x, w, b, g, names=("x", "w", "b", "g"))
        grad_x, grad_w, grad_b = check.expect_sequence(received, 3, "(grad_x, grad_w, grad_b)")
        check.expect("grad_x", g @ w, grad_x)
        check.expect("grad_w", g.T @ x, grad_w)
        mistakes = (
            wrong_broadcast_dims(g.sum(1), (1,), (0,)),
            Mistake(g.mean(0), "that is the mean over the batch: b is added to every row, "
                    "so every row's gradient adds up"),
            Mistake(b, "that is b itself: the gradient of y = ... + b with respect to b comes "
                    "from g"),
        )  # fmt: skip
        check.expect("grad_b", g.sum(0), grad_b, mistakes=mistakes)
    return f"all three gradients are right for {len(sizes)} layer sizes, square ones included"
