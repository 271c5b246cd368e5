"""Lesson 18's checks: right answers pass (torch.autograd is the other formulation), the gap
and recorded wrong answers FAIL with a diagnosis."""

from __future__ import annotations

import math

import pytest
import torch

from tests.exercises.helpers import (
    answer_lines,
    assert_fails,
    assert_gap_fails_quietly,
    assert_passes,
    solution,
)


def assert_fails_quietly(exercise_id: str, answer, capsys, *words: str) -> str:
    """The check FAILs naming the mistake (``words``), and shows no line of the solution."""
    out = assert_fails(exercise_id, answer, capsys, *words)
    for line in answer_lines(exercise_id):
        assert line not in out, f"the FAIL message shows the answer {line!r}:\n{out}"
    return out


def memorised(answer):
    """An answer that remembers what it returned for each shape and returns it again."""
    seen = {}

    def again(*args):
        shape = tuple(args[0].shape)
        if shape not in seen:
            seen[shape] = answer(*args)
        return seen[shape]

    return again


# -- softmax_backward --------------------------------------------------------------------


def softmax_by_autograd(y, g):
    """torch.autograd through a softmax whose output is y: scores log(y) give it back."""
    x = torch.log(y).requires_grad_(True)  # softmax(log y) = y, since each row sums to 1
    (grad,) = torch.autograd.grad(torch.softmax(x, -1), x, g)
    return torch.nan_to_num(grad)  # log 0 = -inf in a masked row: its gradient is 0


def test_softmax_backward_passes_the_solution_and_torchs_gradient(capsys):
    assert_passes("softmax_backward", solution("softmax_backward"), capsys)
    assert_passes("softmax_backward", softmax_by_autograd, capsys)
    assert_passes(  # the Jacobian built in full: diag(y) - y y^T, row by row
        "softmax_backward",
        lambda y, g: ((torch.diag_embed(y) - y.unsqueeze(-1) * y.unsqueeze(-2))
                      @ g.unsqueeze(-1)).squeeze(-1),
        capsys,
    )  # fmt: skip


def test_softmax_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("softmax_backward", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda y, g: g * y * (1 - y), ["only the diagonal of softmax's Jacobian"]),
        (lambda y, g: g * y, ["the sum over the row is missing"]),
        (lambda y, g: y * (1 - y), ["local derivatives alone", "grad_output"]),
        (lambda y, g: y * (g - g.sum(-1, keepdim=True)), ["weigh each g_i by its y_i"]),
        (
            lambda y, g: y * (g - (g * y).sum(0, keepdim=True)),
            ["summed over dimension(s) (0,)"],
        ),
        (lambda y, g: -y * (g - (g * y).sum(-1, keepdim=True)), ["wrong sign"]),
        (lambda y, g: y * (g - (g * y).sum(-1)), ["RuntimeError", "without keepdim=True"]),
    ],
    ids=["diagonal", "no-sum", "no-chain", "unweighted-sum", "wrong-dim", "sign", "no-keepdim"],
)
def test_softmax_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails_quietly("softmax_backward", wrong, capsys, *words)


def test_softmax_backward_fails_an_answer_memorised_for_one_draw(capsys):
    out = assert_fails_quietly("softmax_backward", memorised(softmax_by_autograd), capsys)
    assert "y of shape (4, 5) (again, with new numbers)" in out


def test_softmax_backward_fails_right_values_that_changed_g_in_place(capsys):
    def in_place(y, g):
        return y * g.sub_((g * y).sum(-1, keepdim=True))  # right, but g is overwritten

    assert_fails_quietly("softmax_backward", in_place, capsys, "changed its input", "g:")


# -- attention_backward --------------------------------------------------------------------


def attention_by_autograd(q, k, v, p, g):
    """torch.autograd through torch's own causal attention (p is not needed)."""
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = torch.nn.functional.scaled_dot_product_attention(*leaves, is_causal=True)
    return torch.autograd.grad(out, leaves, g)


def right(q, k, v, p, g):
    d = math.sqrt(q.shape[-1])
    grad_p = g @ v.transpose(-2, -1)
    grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True))
    return grad_s @ k / d, grad_s.transpose(-2, -1) @ q / d, p.transpose(-2, -1) @ g


def with_grads(change):
    """A wrong answer made from the right one: ``change(dq, dk, dv, q, k, v, p, g)``."""
    return lambda q, k, v, p, g: change(*right(q, k, v, p, g), q, k, v, p, g)


def test_attention_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("attention_backward", solution("attention_backward"), capsys)
    assert_passes("attention_backward", attention_by_autograd, capsys)
    assert_passes(  # with einsum, the scale folded into the queries
        "attention_backward",
        lambda q, k, v, p, g: _einsum_form(q, k, v, p, g),
        capsys,
    )


def _einsum_form(q, k, v, p, g):
    scale = q.shape[-1] ** -0.5
    grad_v = torch.einsum("...ij,...id->...jd", p, g)
    grad_p = torch.einsum("...id,...jd->...ij", g, v)
    grad_s = p * grad_p - p * torch.einsum("...ij,...ij->...i", grad_p, p).unsqueeze(-1)
    grad_q = torch.einsum("...ij,...jd->...id", grad_s * scale, k)
    grad_k = torch.einsum("...ij,...id->...jd", grad_s * scale, q)
    return grad_q, grad_k, grad_v


def test_attention_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("attention_backward", capsys)


def _no_softmax(q, k, v, p, g):
    d = math.sqrt(q.shape[-1])
    grad_p = g @ v.transpose(-2, -1)
    return grad_p @ k / d, grad_p.transpose(-2, -1) @ q / d, p.transpose(-2, -1) @ g


def _diagonal(q, k, v, p, g):
    d = math.sqrt(q.shape[-1])
    grad_p = g @ v.transpose(-2, -1)
    grad_s = grad_p * p * (1 - p)
    return grad_s @ k / d, grad_s.transpose(-2, -1) @ q / d, p.transpose(-2, -1) @ g


def unmasked(q, k):
    """The weights a learner gets by recomputing the softmax and forgetting the causal mask."""
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)


def _mask_forgotten(q, k, v, p, g):
    return right(q, k, v, unmasked(q, k), g)


def _mask_forgotten_in_the_scores(q, k, v, p, g):
    grad_q, grad_k, _ = right(q, k, v, unmasked(q, k), g)
    return grad_q, grad_k, p.transpose(-2, -1) @ g


@pytest.mark.parametrize(
    "wrong, words",
    [
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk, p @ g)),
         ["dv is wrong", "P is not transposed"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk, g)),
         ["dv is wrong", "that is G itself"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq * math.sqrt(q.shape[-1]), dk, dv)),
         ["dq is wrong", "exactly sqrt(d) = 2 times", "1/sqrt(d)"]),
        (_no_softmax, ["dq is wrong", "skips the softmax"]),
        (_diagonal, ["dq is wrong", "only the diagonal of softmax's Jacobian"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dq, dv)), ["dk is wrong", "that is dQ"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk * math.sqrt(q.shape[-1]), dv)),
         ["dk is wrong", "K enters the scores divided by sqrt(d)"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk.transpose(-2, -1), dv)),
         ["dk", "transpose"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dv, dk, dq)), ["dv is wrong"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk)), ["(dq, dk, dv)", "2 item"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (-dq, dk, dv)),
         ["dq is wrong", "wrong sign"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, -dk, dv)),
         ["dk is wrong", "wrong sign"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dq, dk, -dv)),
         ["dv is wrong", "wrong sign"]),
        (with_grads(lambda dq, dk, dv, q, k, v, p, g: (dk, dq, dv)), ["dq is wrong", "that is dK"]),
        (_mask_forgotten, ["dv is wrong", "no causal mask", "keys j <= i"]),
        (_mask_forgotten_in_the_scores, ["dq is wrong", "no causal mask"]),
    ],
    ids=["dv-untransposed", "dv-is-g", "dq-scale", "no-softmax", "diagonal", "dk-is-dq",
         "dk-scale", "dk-transposed", "swapped", "two-items",
         "dq-sign", "dk-sign", "dv-sign", "dq-dk-swapped", "mask-forgotten", "mask-in-scores"],
)  # fmt: skip
def test_attention_backward_names_the_first_wrong_gradient_and_the_mistake(wrong, words, capsys):
    assert_fails_quietly("attention_backward", wrong, capsys, *words)


def test_attention_backward_fails_an_answer_memorised_for_one_draw(capsys):
    out = assert_fails_quietly("attention_backward", memorised(attention_by_autograd), capsys)
    assert "q, k, v of shape (5, 4) (again, with new numbers)" in out


def test_attention_backward_fails_right_values_that_changed_p_in_place(capsys):
    def in_place(q, k, v, p, g):
        scale = 1 / math.sqrt(q.shape[-1])
        grad_v = p.transpose(-2, -1) @ g
        grad_p = g @ v.transpose(-2, -1)
        grad_s = p.mul_(grad_p - (grad_p * p).sum(-1, keepdim=True))  # p is overwritten
        return grad_s @ k * scale, grad_s.transpose(-2, -1) @ q * scale, grad_v

    assert_fails_quietly("attention_backward", in_place, capsys, "changed its input", "p:")


@pytest.mark.filterwarnings("ignore:The use of `x.T`")  # the learner's .T, as torch warns
def test_attention_backward_fails_an_answer_right_for_one_head_only(capsys):
    """Transposing with .T works for (T, d) and breaks for batches of heads."""

    def two_dimensional(q, k, v, p, g):
        d = math.sqrt(q.shape[-1])
        grad_p = g @ v.T
        grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True))
        return grad_s @ k / d, grad_s.T @ q / d, p.T @ g

    out = assert_fails_quietly("attention_backward", two_dimensional, capsys)
    assert "(2, 3, 7, 4)" in out  # the first batch of heads
