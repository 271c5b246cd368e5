"""Lesson 3's exercises: gradients of tensor ops, from broadcasting and from shapes."""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise

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
