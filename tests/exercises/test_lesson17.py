"""Lesson 17's checks, and its cells (plain and gated) judged by torch.autograd and torch.nn.

The other right formulations are torch.autograd through a torch copy of the
network (with ``detach()`` every k steps for truncated BPTT); the gated cell
is held against torch.nn.GRUCell, the plain one against torch.nn.RNN.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import exercises
from minigrad.exercises import lesson17
from tests.exercises.helpers import (
    CHECKED_NAME,
    assert_fails,
    assert_gap_fails_quietly,
    assert_passes,
    cells,
    namespace,
    solution,
    solution_source,
)


def solution_with_step(exercise_id: str):
    """A solution that calls the learner's rnn_step_backward, run after that one's solution."""
    scope = namespace()
    exec(solution_source("rnn_step_backward"), scope)
    exec(solution_source(exercise_id), scope)
    return scope[CHECKED_NAME.search(cells("check", exercise_id)).group(1)]


# -- rnn_step_backward ------------------------------------------------------------------


def step_by_autograd(x, h_prev, Wx, Wh, h, dh):
    """torch.autograd through tanh(a), with the bias that makes tanh(a) = h held constant."""
    x, h_prev, Wx, Wh = (t.clone().requires_grad_(True) for t in (x, h_prev, Wx, Wh))
    b = torch.zeros(len(Wh), dtype=x.dtype, requires_grad=True)
    linear = x @ Wx.T + h_prev @ Wh.T
    offset = (torch.atanh(h) - linear).detach()
    return torch.autograd.grad(torch.tanh(linear + offset + b), (x, h_prev, Wx, Wh, b), dh)


def test_rnn_step_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("rnn_step_backward", solution("rnn_step_backward"), capsys)
    assert_passes("rnn_step_backward", step_by_autograd, capsys)


def test_rnn_step_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("rnn_step_backward", capsys)


def step_with(**wrong):
    """torch's five gradients with some replaced by ``wrong[name](x, h_prev, Wx, Wh, h, dh)``."""
    names = ("dx", "dh_prev", "dWx", "dWh", "db")

    def answer(*args):
        right = dict(zip(names, step_by_autograd(*args)))
        return tuple(wrong[n](*args) if n in wrong else right[n] for n in names)

    return answer


@pytest.mark.parametrize(
    "wrong, words",
    [
        (step_with(dx=lambda x, hp, wx, wh, h, dh: dh @ wx), ["dx is wrong", "tanh's derivative"]),
        (
            step_with(dh_prev=lambda x, hp, wx, wh, h, dh: (dh * (1 - h**2)) @ wh.T),
            ["dh_prev is wrong", "multiplies by Wh itself"],
        ),
        (
            step_with(dWh=lambda x, hp, wx, wh, h, dh: (dh * (1 - h**2)).T @ h),
            ["dWh is wrong", "the state that went *in*"],
        ),
        (
            step_with(dWx=lambda x, hp, wx, wh, h, dh: x.T @ (dh * (1 - h**2))),
            ["dWx", "the transpose of the expected"],
        ),
        (
            step_with(db=lambda x, hp, wx, wh, h, dh: (dh * (1 - h**2)).sum(1)),
            ["db should have shape (4,)", "summed over dimension(s) (1,)"],
        ),
        (lambda *a: tuple(step_by_autograd(*a))[:4], ["(dx, dh_prev, dWx, dWh, db) (5 items)"]),
    ],
    ids=["no-tanh", "Wh-transposed", "dWh-output", "dWx-transposed", "db-wrong-dim", "four"],
)
def test_rnn_step_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("rnn_step_backward", wrong, capsys, *words)


# -- bptt and truncated_bptt -------------------------------------------------------------------


def bptt_by_autograd(xs, h0, Wx, Wh, hs, dhs, k=None):
    """torch.autograd through the unrolled network, h detached every k steps when k is given.

    The bias is recovered from the first state (tanh is invertible), so the
    forward reproduces ``hs`` exactly.
    """
    Wx, Wh, h0 = (t.clone().requires_grad_(True) for t in (Wx, Wh, h0))
    offset = (torch.atanh(hs[0]) - xs[0] @ Wx.T - h0 @ Wh.T).mean(0).detach()
    b = torch.zeros(len(Wh), dtype=xs.dtype, requires_grad=True)
    h, states = h0, []
    for t, x in enumerate(xs):
        if k and t and t % k == 0:
            h = h.detach()  # a new chunk: no gradient crosses into the one before
        h = torch.tanh(x @ Wx.T + h @ Wh.T + offset + b)
        states.append(h)
    assert torch.allclose(torch.stack(states), hs)
    return torch.autograd.grad(torch.stack(states), (Wx, Wh, b, h0), dhs)


def test_bptt_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("bptt", solution_with_step("bptt"), capsys)
    assert_passes("bptt", bptt_by_autograd, capsys)


def test_bptt_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("bptt", capsys)


def replayed(**replay):
    return lambda xs, h0, Wx, Wh, hs, dhs, *k: lesson17.bptt_closed(
        xs, h0, Wx, Wh, hs, dhs, **replay
    )  # noqa: E501, N803


def only_last_loss(xs, h0, Wx, Wh, hs, dhs):
    last = torch.zeros_like(dhs)
    last[-1] = dhs[-1]
    return bptt_by_autograd(xs, h0, Wx, Wh, hs, last)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda *a: bptt_by_autograd(*a, k=1), ["dWx is wrong", "only its own loss's gradient"]),
        (only_last_loss, ["a loss at every step", "only the last step's loss"]),
        (replayed(paired_with="output"), ["dWh", "paired the gradient with h_t"]),
        (replayed(accumulate=False), ["accumulate, do not overwrite"]),
        (replayed(forward=True), ["walking the tape forward"]),
        (lambda *a: bptt_by_autograd(*a)[:3], ["(dWx, dWh, db, dh0) (4 items)"]),
    ],
    ids=["no-carry", "last-loss-only", "dWh-output", "overwritten", "forward", "three"],
)
def test_bptt_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("bptt", wrong, capsys, *words)


def test_truncated_bptt_passes_the_solution_and_torchs_detached_gradients(capsys):
    assert_passes("truncated_bptt", solution_with_step("truncated_bptt"), capsys)
    assert_passes("truncated_bptt", bptt_by_autograd, capsys)


def test_truncated_bptt_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("truncated_bptt", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda *a: bptt_by_autograd(*a[:6]), ["T=7 steps in chunks of k=3", "nothing was"]),
        (
            lambda xs, *a: lesson17.bptt_closed(
                xs, *a[:5], cuts=lesson17.chunk_cuts(len(xs), a[5], from_end=True)
            ),
            ["counted from the end"],
        ),
        (lambda *a: bptt_by_autograd(*a[:6], k=a[6] + 1), ["the cuts fall every 4 steps"]),
        (lambda *a: bptt_by_autograd(*a[:6], k=a[6] - 1 or 1), ["the cuts fall every 2 steps"]),
    ],
    ids=["full", "from-the-end", "k-plus-one", "k-minus-one"],
)  # fmt: skip
def test_truncated_bptt_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("truncated_bptt", wrong, capsys, *words)


# -- the lesson's cells and measurements, against torch -------------------------------------


def test_rnn_forward_is_torchs_rnn():
    xs = torch.randn(6, 3, 4, dtype=torch.float64)
    h0 = torch.randn(3, 5, dtype=torch.float64)
    p = exercises.rnn_params(4, 5, gain=1.3, seed=2)
    p["b"] = torch.randn(5, dtype=torch.float64)
    rnn = torch.nn.RNN(4, 5, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(p["Wx"]), rnn.weight_hh_l0.copy_(p["Wh"])
        rnn.bias_ih_l0.copy_(p["b"]), rnn.bias_hh_l0.zero_()
    want, _ = rnn(xs, h0[None])
    assert torch.allclose(exercises.rnn_forward(xs, h0, p["Wx"], p["Wh"], p["b"]), want)


def torch_norms_through_time(step, xs, h0):
    """||dL/dh_t|| by torch.autograd, L = sum of h_T."""
    h, states = h0, []
    for x in xs:
        h = step(x, h)
        h.retain_grad()
        states.append(h)
    h.sum().backward()
    return [s.grad.norm().item() for s in states]


@pytest.mark.parametrize("gated", [False, True], ids=["tanh", "gru"])
def test_gradient_through_time_is_torchs(gated):
    xs = torch.randn(12, 3, 4, dtype=torch.float64)
    h0 = torch.randn(3, 6, dtype=torch.float64)
    if gated:
        params = exercises.gru_params(4, 6, remember_bias=2.0, seed=1)
        cell = torch.nn.GRUCell(4, 6, dtype=torch.float64)
        with torch.no_grad():
            for name, value in params.items():
                getattr(cell, name).copy_(value)
        step = cell
    else:
        params = exercises.rnn_params(4, 6, gain=2.0, seed=1)
        leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}

        def step(x, h):
            return torch.tanh(x @ leaves["Wx"].T + h @ leaves["Wh"].T + leaves["b"])

    norms, grads = exercises.gradient_through_time(
        exercises.gru_cell if gated else exercises.rnn_cell, params, xs, h0
    )
    want = torch_norms_through_time(step, xs, h0)
    assert norms == pytest.approx(want, rel=1e-9)
    torch_grads = {k: getattr(cell, k).grad for k in params} if gated else {
        k: v.grad for k, v in leaves.items()
    }  # fmt: skip
    for name, grad in grads.items():
        assert torch.allclose(grad, torch_grads[name]), name


def test_gru_cell_computes_torchs_gru_cell():
    params = exercises.gru_params(3, 4, remember_bias=1.0, seed=5)
    cell = torch.nn.GRUCell(3, 4, dtype=torch.float64)
    with torch.no_grad():
        for name, value in params.items():
            getattr(cell, name).copy_(value)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    leaves = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    out = exercises.gru_cell(mg.tensor(x), mg.tensor(h), leaves)
    assert torch.allclose(out.value, cell(x, h))


@pytest.mark.parametrize("k", [None, 4])
def test_step_shares_are_the_per_step_gradients_of_wh(k):
    """torch's oracle: one copy of Wh per step, so each copy's gradient is that step's share."""
    xs = torch.randn(10, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 5, dtype=torch.float64)
    p = exercises.rnn_params(3, 5, gain=1.5, seed=3)
    dhs = torch.randn(10, 2, 5, dtype=torch.float64)
    copies = [p["Wh"].clone().requires_grad_(True) for _ in xs]
    h, states = h0, []
    for t, (x, wh) in enumerate(zip(xs, copies)):
        if k and t and t % k == 0:
            h = h.detach()
        h = torch.tanh(x @ p["Wx"].T + h @ wh.T + p["b"])
        states.append(h)
    grads = torch.autograd.grad(torch.stack(states), copies, dhs)
    want = [g.norm().item() for g in grads]
    assert exercises.step_shares(xs, h0, p, dhs, k=k) == pytest.approx(want, rel=1e-9)
