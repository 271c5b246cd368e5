"""Lesson 16's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

The oracle is torch: conv2d for the forward, and torch.autograd through conv2d
and max_pool2d (NCHW and channels-last, whose tie-breaking must agree) for
the backward.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.exercises import lesson16
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- conv_unfold -------------------------------------------------------------------------


def conv_by_loops(x, w, b, stride, padding):
    """Another right answer: the sum over each window, written as a loop over output positions."""
    padded = F.pad(x, (padding,) * 4)
    kh, kw = w.shape[2:]
    rows = (padded.shape[2] - kh) // stride + 1
    columns = (padded.shape[3] - kw) // stride + 1
    out = x.new_zeros(x.shape[0], w.shape[0], rows, columns)
    for i in range(rows):
        for j in range(columns):
            window = padded[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", window, w) + b
    return out


def test_conv_unfold_passes_the_solution_torch_and_a_loop(capsys):
    assert_passes("conv_unfold", solution("conv_unfold"), capsys)
    assert_passes("conv_unfold", lambda x, w, b, s, p: F.conv2d(x, w, b, s, p), capsys)
    assert_passes("conv_unfold", conv_by_loops, capsys)


def test_conv_unfold_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("conv_unfold", capsys)


def positions_last(x, w, b, stride, padding):
    """The product taken as (N, L, O) and reshaped as if it were (N, O, L)."""
    want = F.conv2d(x, w, None, stride, padding)
    cols = F.unfold(x, w.shape[2:], padding=padding, stride=stride)
    product = cols.transpose(1, 2) @ w.reshape(len(w), -1).T
    return product.reshape(want.shape) + b.reshape(1, -1, 1, 1)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda x, w, b, s, p: F.conv2d(x, w, None, s, p), ["the bias is missing"]),
        (lambda x, w, b, s, p: F.conv2d(x, w.flip(-1, -2), b, s, p), ["the kernel is flipped"]),
        (positions_last, ["in the wrong places", "(N, L, O)"]),
        (
            lambda x, w, b, s, p: F.conv2d(x, w, b, 1, p),
            ["stride 2", "should have shape (3, 4, 4, 4)", "the output for stride 1"],
        ),
        (lambda x, w, b, s, p: F.conv2d(x, w, b, s, 0), ["padding 1", "without padding"]),
    ],
    ids=["no-bias", "flipped", "positions-last", "no-stride", "no-padding"],
)
def test_conv_unfold_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("conv_unfold", wrong, capsys, *words)


# -- conv_backward ------------------------------------------------------------------------


def conv_by_autograd(x, w, g, stride, padding):
    x, w = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    b = torch.zeros(len(w), dtype=x.dtype, requires_grad=True)
    return torch.autograd.grad(F.conv2d(x, w, b, stride, padding), (x, w, b), g)


def test_conv_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("conv_backward", solution("conv_backward"), capsys)
    assert_passes("conv_backward", conv_by_autograd, capsys)
    assert_passes(
        "conv_backward",
        lambda x, w, g, s, p: (
            F.conv_transpose2d(g, w, None, s, p, lesson16._extra(x, w, g, s, p)),
            torch.nn.grad.conv2d_weight(x, w.shape, g, s, p),
            g.sum((0, 2, 3)),
        ),
        capsys,
    )


def test_conv_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("conv_backward", capsys)


def replaced(index, make):
    """torch's three gradients with number ``index`` replaced by ``make(x, w, g, s, p, right)``."""

    def answer(x, w, g, s, p):
        grads = list(conv_by_autograd(x, w, g, s, p))
        grads[index] = make(x, w, g, s, p, grads[index])
        return tuple(grads)

    return answer


def assigned_windows(x, w, g, s, p, right):
    """dx by a loop over the windows that assigns each window's gradient instead of adding it."""
    padded = x.new_zeros(x.shape[0], x.shape[1], x.shape[2] + 2 * p, x.shape[3] + 2 * p)
    kh, kw = w.shape[2:]
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            padded[:, :, i * s : i * s + kh, j * s : j * s + kw] = torch.einsum(
                "no,ochw->nchw", g[:, :, i, j], w
            )
    return padded[:, :, p : p + x.shape[2], p : p + x.shape[3]]


@pytest.mark.parametrize(
    "wrong, words",
    [
        (replaced(0, assigned_windows), ["dx is wrong", "kept only the last window's"]),
        (
            replaced(0, lambda x, w, g, s, p, r: F.conv_transpose2d(
                g, w.flip(-1, -2), None, s, p, lesson16._extra(x, w, g, s, p))),
            ["dx is wrong", "the weights land mirrored"],
        ),
        (replaced(1, lambda x, w, g, s, p, r: r / len(x)), ["dw is wrong", "mean over the batch"]),
        (replaced(1, lambda x, w, g, s, p, r: r.flip(-1, -2)), ["dw is wrong", "flipped"]),
        (
            replaced(1, lambda x, w, g, s, p, r: conv_by_autograd(x, w, g * 0 + 1, s, p)[1]),
            ["dw is wrong", "local derivatives alone"],
        ),
        (replaced(2, lambda x, w, g, s, p, r: g.sum(0)), ["db should have shape (3,)", "spatial"]),
        (replaced(2, lambda x, w, g, s, p, r: g.sum((2, 3))), ["db should have", "the batch"]),
        (replaced(2, lambda x, w, g, s, p, r: -r), ["db is wrong", "wrong sign"]),
    ],
    ids=["dx-assigned", "dx-mirrored", "dw-mean", "dw-flipped", "dw-no-chain", "db-batch-only",
         "db-space-only", "db-sign"],
)  # fmt: skip
def test_conv_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("conv_backward", wrong, capsys, *words)


# -- maxpool_backward ---------------------------------------------------------------------


def pool_by_autograd(channels_last: bool):
    def backward(x, g, kernel, stride):
        x = x.clone()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.max_pool2d(x, kernel, stride), x, g)
        return grad.contiguous()

    return backward


def pool_by_loops(x, g, kernel, stride):
    """Another right answer: a loop over the windows that adds to the first largest input."""
    dx = torch.zeros_like(x)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            window = x[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            first = window.flatten(2).argmax(2)  # the first largest, reading row by row
            rows, columns = i * stride + first // kernel, j * stride + first % kernel
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    dx[n, c, rows[n, c], columns[n, c]] += g[n, c, i, j]
    return dx


def test_maxpool_backward_passes_the_solution_torch_in_both_layouts_and_a_loop(capsys):
    assert_passes("maxpool_backward", solution("maxpool_backward"), capsys)
    assert_passes("maxpool_backward", pool_by_autograd(channels_last=False), capsys)
    assert_passes("maxpool_backward", pool_by_autograd(channels_last=True), capsys)
    assert_passes("maxpool_backward", pool_by_loops, capsys)


def test_maxpool_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("maxpool_backward", capsys)


def routed(weigh):
    """Each window's gradient spread over its inputs by ``weigh(window_columns)``."""

    def backward(x, g, kernel, stride):
        cols, _ = lesson16.pool_windows(x, kernel, stride)
        return lesson16.pool_backward_by(weigh(cols), x, g, kernel, stride)

    return backward


def every_max(cols):
    return (cols == cols.max(2, keepdim=True).values).double()


def assigned_winners(x, g, kernel, stride):
    dx = torch.zeros_like(x)
    for i in range(g.shape[2]):
        for j in range(g.shape[3]):
            window = x[:, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            first = window.flatten(2).argmax(2)
            rows, columns = i * stride + first // kernel, j * stride + first % kernel
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    dx[n, c, rows[n, c], columns[n, c]] = g[n, c, i, j]  # = where += belongs
    return dx


@pytest.mark.parametrize(
    "wrong, words",
    [
        (routed(every_max), ["with ties", "every tied maximum got"]),
        (routed(lambda c: every_max(c) / every_max(c).sum(2, keepdim=True)), ["was shared"]),
        (routed(lambda c: lesson16.first_max(c.flip(2)).flip(2)), ["to the last largest"]),
        (routed(lambda c: torch.full_like(c, 1 / c.shape[2])), ["average pooling's backward"]),
        (assigned_winners, ["kernel 3, stride 2", "won two windows kept only one"]),
        (
            lambda x, g, k, s: pool_by_autograd(False)(x, torch.ones_like(g), k, s),
            ["local derivatives alone"],
        ),
    ],
    ids=["every-tie", "shared", "last-tie", "average", "assigned", "no-chain"],
)
def test_maxpool_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("maxpool_backward", wrong, capsys, *words)


def test_the_checks_tie_rule_is_torchs_on_many_tied_inputs():
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (3, 2, 9, 9), generator=generator).double()
    for kernel, stride in [(2, 2), (3, 2), (2, 1), (3, 3)]:
        cols, grid = lesson16.pool_windows(x, kernel, stride)
        g = torch.randn(3, 2, *grid, dtype=torch.float64, generator=generator)
        closed = lesson16.pool_backward_by(lesson16.first_max(cols), x, g, kernel, stride)
        for layout in (False, True):
            # (overlapping windows add in another order: rounding, not a different winner)
            assert torch.allclose(
                closed, pool_by_autograd(layout)(x, g, kernel, stride), atol=1e-12
            )
