"""Lesson 18's exercises: softmax's backward, then causal self-attention's (dQ, dK, dV).

Expected values are closed forms in plain torch, computed before the learner's
code runs; the wrong answers recognised are the usual slips of this
derivation (only the Jacobian's diagonal, a missing sum, a missing 1/sqrt(d),
an untransposed factor, the softmax skipped, the causal mask left out, dQ and
dK swapped). Each check ends on its first shape again with fresh numbers, so
an answer memorised for one draw fails.
"""

from __future__ import annotations

import math

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import missing_chain_factor, wrong_broadcast_dims

# -- softmax's backward ---------------------------------------------------------------


def _softmax_grad(y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """dL/dx for y = softmax(x) along the last dim and g = dL/dy (the closed form)."""
    return y * (g - (g * y).sum(-1, keepdim=True))


def _scores(generator, shape, scale: float, masked: bool) -> torch.Tensor:
    x = draw(generator, *shape, scale=scale)
    if masked:  # a causal mask: later positions get -inf, so their weight is exactly 0
        future = torch.ones(shape[-2], shape[-1], dtype=torch.bool).triu(1)
        x = x.masked_fill(future, float("-inf"))
    return x


def _again(cases: list, case: int) -> str:
    """A label for a case that repeats an earlier one's shape with new numbers."""
    return " (again, with new numbers)" if cases[case] in cases[:case] else ""


def _lost_dim(error: Exception) -> str | None:
    """A sum over the row that dropped its dimension no longer lines up with y."""
    if isinstance(error, RuntimeError) and "must match the size" in str(error):
        return (
            "shapes that do not line up: a sum over the row without keepdim=True drops the "
            "row's dimension, so it no longer broadcasts against y (one number per row)"
        )
    return None


@exercise(
    "softmax_backward",
    lesson=18,
    title="softmax's backward",
    hints=(
        "Every output y_i of a softmax depends on every input x_j (they share the "
        "normalising sum), so dL/dx_j collects a term from each y_i: dL/dx_j = sum over i of "
        "g_i dy_i/dx_j. Work out dy_i/dx_j twice: for i = j, and for i != j.",
        "dy_i/dx_j = y_i (1 - y_i) when i = j and -y_i y_j otherwise, i.e. y_i (delta_ij - "
        "y_j). Put that into the sum: dL/dx_j = y_j (g_j - sum over i of g_i y_i). The sum "
        "runs along the softmax's own dimension, one number per row, which every element of "
        "that row then uses.",
    ),
)
def check_softmax_backward(check: Check, softmax_backward) -> str:
    """``softmax_backward(y, g)``: dL/dx for y = softmax(x, dim=-1) and g = dL/dy."""
    generator = torch.Generator().manual_seed(18)
    cases = [
        ((4, 5), 1.0, False),
        ((3, 3), 1.0, False),
        ((2, 6, 6), 2.0, True),
        ((1, 7), 1.0, False),
        ((2, 3, 4, 4), 1.0, True),
        ((5, 4), 300.0, False),  # huge scores: y is one-hot up to rounding
        ((4, 5), 1.0, False),  # the first shape again, fresh numbers: nothing is memorised
    ]
    for case, (shape, scale, masked) in enumerate(cases):
        y = torch.softmax(_scores(generator, shape, scale, masked), -1)
        g = draw(generator, *shape)
        want = _softmax_grad(y, g)
        mistakes = [
            Mistake(g * y * (1 - y), "that is only the diagonal of softmax's Jacobian "
                    "(i = j): each y_i also depends on every other x_j, through the sum "
                    "that normalises them, and those terms are missing"),
            Mistake(g * y, "the sum over the row is missing: moving x_j changes every y_i "
                    "of its row, so dL/dx_j also collects g_i from all of them"),
            missing_chain_factor(y * (1 - y)),
            Mistake(y * (g - g.sum(-1, keepdim=True)), "the sum must weigh each g_i by its "
                    "y_i: it is the average of g under the softmax's own weights"),
        ]  # fmt: skip
        if len(shape) >= 2 and shape[0] > 1:
            wrong = y * (g - (g * y).sum(0, keepdim=True))
            mistakes.append(wrong_broadcast_dims(wrong, (0,), (len(shape) - 1,)))
        check.case = f"y of shape {shape}" + (" with masked (zero) weights" if masked else "")
        check.case += ", from scores near ±300" if scale > 100 else ""
        check.case += _again(cases, case)
        received = check.call(softmax_backward, y, g, names=("y", "g"), explain=_lost_dim)
        check.expect("dL/dx", want, received, mistakes=tuple(mistakes))
    return f"right on {len(cases)} draws, with masked weights and with saturated rows"


# -- causal self-attention's backward -----------------------------------------------------


def _causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """(O, P): P = softmax(Q K^T / sqrt(d) with -inf above the diagonal), O = P V."""
    length, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    future = torch.ones(length, length, dtype=torch.bool).triu(1)
    p = torch.softmax(scores.masked_fill(future, float("-inf")), -1)
    return p @ v, p


def _attention_grads(q, k, v, p, g):
    """The closed forms: (dQ, dK, dV) for O = P V with P from causal_attention."""
    d = q.shape[-1]
    grad_v = p.transpose(-2, -1) @ g
    grad_p = g @ v.transpose(-2, -1)
    grad_s = _softmax_grad(p, grad_p)
    return grad_s @ k / math.sqrt(d), grad_s.transpose(-2, -1) @ q / math.sqrt(d), grad_v


_UNMASKED = (
    "these weights have no causal mask: query i may only read keys j <= i, so the "
    "weights above the diagonal are 0 (use the p the forward computed, not a new softmax)"
)


@exercise(
    "attention_backward",
    lesson=18,
    title="causal self-attention's backward: dQ, dK, dV",
    hints=(
        "Go backward through the forward one step at a time, keeping each gradient's shape "
        "equal to its value's: O = P V is a matrix product (lesson 3 gives dP and dV from "
        "G); P = softmax(S) row by row (your softmax_backward gives dS from dP); "
        "S = Q K^T / sqrt(d) is one more matrix product, with a constant factor. The mask "
        "needs nothing: a masked weight is 0, and so is its dS.",
        "With G = dL/dO: dV is P transposed times G, dP is G times V transposed; dS is "
        "softmax's backward of dP with the weights P; dQ is dS times K, and dK is dS "
        "transposed times Q, each with the factor 1/sqrt(d) that S carries. Transpose only "
        "the last two dimensions, so that a batch of heads works too.",
    ),
)
def check_attention_backward(check: Check, attention_backward) -> str:
    """``attention_backward(q, k, v, p, g)``: (dQ, dK, dV) of causal self-attention.

    q, k, v are (..., T, d); p the attention weights the forward computed; g = dL/dO.
    The gradients are checked in the order backward finds them: dV, then dQ, then dK.
    """
    generator = torch.Generator().manual_seed(180)
    # the last is the first shape again with fresh numbers, so that nothing can be memorised
    shapes = [(5, 4), (6, 6), (2, 3, 7, 4), (1, 8, 2), (2, 2, 5, 9), (5, 4)]
    for case, shape in enumerate(shapes):
        scale = 3.0 if case == 1 else 1.0
        q, k, v = (draw(generator, *shape, scale=scale) for _ in range(3))
        _, p = _causal_attention(q, k, v)
        g = draw(generator, *shape)
        want_q, want_k, want_v = _attention_grads(q, k, v, p, g)
        d = shape[-1]
        root = math.sqrt(d)
        grad_p = g @ v.transpose(-2, -1)
        diagonal_only = grad_p * p * (1 - p)
        unmasked = torch.softmax(q @ k.transpose(-2, -1) / root, -1)  # the mask left out
        grad_unmasked = _softmax_grad(unmasked, g @ v.transpose(-2, -1)) @ k / root
        check.case = f"q, k, v of shape {shape}" + _again(shapes, case)
        received = check.call(attention_backward, q, k, v, p, g, names=("q", "k", "v", "p", "g"))
        grad_q, grad_k, grad_v = check.expect_sequence(received, 3, "(dq, dk, dv)")
        check.expect("dv", want_v, grad_v, mistakes=(
            Mistake(p @ g, "P is not transposed: dV_j collects from every query i that "
                    "read value j, a sum over P's first index"),
            Mistake(g, "that is G itself: each value reaches the output through the "
                    "weights P, so its gradient goes back through them"),
            Mistake(unmasked.transpose(-2, -1) @ g, _UNMASKED),
        ))  # fmt: skip
        check.expect("dq", want_q, grad_q, mistakes=(
            Mistake(want_q * root, f"exactly sqrt(d) = {root:.4g} times the expected: the "
                    "scores are divided by sqrt(d), so their gradient carries 1/sqrt(d) to "
                    "Q and to K"),
            Mistake(grad_p @ k / root, "that skips the softmax: the gradient reaching the "
                    "scores S is softmax's backward of dP, not dP itself"),
            Mistake(diagonal_only @ k / root, "that goes through only the diagonal of "
                    "softmax's Jacobian: use the whole softmax backward, row by row"),
            Mistake(grad_unmasked, _UNMASKED),
            Mistake(want_k, "that is dK: the queries' gradient multiplies dS by K (the "
                    "keys), and the keys' multiplies dS transposed by Q"),
        ), factors={root: "did you leave out the 1/sqrt(d) of the scores?"})  # fmt: skip
        grad_s = _softmax_grad(p, grad_p)
        check.expect("dk", want_k, grad_k, mistakes=(
            Mistake(want_k * root, f"exactly sqrt(d) = {root:.4g} times the expected: K "
                    "enters the scores divided by sqrt(d) too"),
            Mistake(grad_s @ q / root, "dS is not transposed: key j meets every query i "
                    "through S_ij, so dK_j sums over dS's first index"),
            Mistake(want_q, "that is dQ: the keys' gradient multiplies dS (transposed) by Q, "
                    "the queries'"),
        ), factors={root: "K is divided by sqrt(d) as well"})  # fmt: skip
    return f"dV, dQ and dK are right on {len(shapes)} draws, one head and batches of heads"


__all__ = ["check_attention_backward", "check_softmax_backward"]
