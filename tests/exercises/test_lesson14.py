"""Lesson 14's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

torch.autograd is the oracle: the other right formulations are torch's own
log_softmax and cross_entropy gradients, and a torch mirror of the staged MLP
whose every stage keeps its gradient (``retain_grad``).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from minigrad import exercises
from minigrad.exercises import lesson14
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- stable_log_softmax ------------------------------------------------------------------


def test_stable_log_softmax_passes_the_solution_and_torchs_forms(capsys):
    assert_passes("stable_log_softmax", solution("stable_log_softmax"), capsys)
    assert_passes("stable_log_softmax", lambda z: torch.log_softmax(z, dim=1), capsys)
    assert_passes("stable_log_softmax", lambda z: z - torch.logsumexp(z, 1, keepdim=True), capsys)


def test_stable_log_softmax_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("stable_log_softmax", capsys)


def naive_log_softmax(z):
    return (z.exp() / z.exp().sum(1, keepdim=True)).log()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (naive_log_softmax, ["is nan at index", "exp overflowed", "shift each row"]),
        (lambda z: z - z.max(1, keepdim=True).values, ["minus their max", "still to be"]),
        (lambda z: torch.softmax(z, 1), ["the softmax itself"]),
        (
            lambda z: z - torch.logsumexp(z - z.max(1, keepdim=True).values, 1, keepdim=True),
            ["from the logit outside it as well"],
        ),
        (lambda z: z - torch.logsumexp(z, 0, keepdim=True), ["ran over dim 0", "along dim 1"]),
        (lambda z: -torch.log_softmax(z, 1), ["wrong sign"]),
    ],
    ids=["naive", "no-log-sum", "softmax", "max-inside-only", "wrong-dim", "sign"],
)
def test_stable_log_softmax_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("stable_log_softmax", wrong, capsys, *words)


def test_stable_log_softmax_fails_an_answer_hard_coded_for_the_first_case(capsys):
    first = torch.log_softmax(lesson14.logit_cases(torch.Generator().manual_seed(14))[0], 1)
    assert_fails("stable_log_softmax", lambda z: first, capsys, "shape")


# -- cross_entropy_grad ----------------------------------------------------------------------


def cross_entropy_by_autograd(z, y):
    z = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(z, y), z)
    return grad


def test_cross_entropy_grad_passes_the_solution_and_torchs_gradient(capsys):
    assert_passes("cross_entropy_grad", solution("cross_entropy_grad"), capsys)
    assert_passes("cross_entropy_grad", cross_entropy_by_autograd, capsys)
    assert_passes(
        "cross_entropy_grad",
        lambda z, y: (torch.log_softmax(z, 1).exp() - F.one_hot(y, z.shape[1])) / len(y),
        capsys,
    )


def test_cross_entropy_grad_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("cross_entropy_grad", capsys)


def onehot(z, y):
    return F.one_hot(y, z.shape[1]).double()


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda z, y: torch.softmax(z, 1) - onehot(z, y), ["exactly 4x", "divide by N"]),
        (
            lambda z, y: (torch.softmax(z, 1) - onehot(z, y)) / z.shape[1],
            ["exactly 4/3x", "not by the classes"],
        ),
        (lambda z, y: (onehot(z, y) - torch.softmax(z, 1)) / len(y), ["wrong sign"]),
        (lambda z, y: torch.softmax(z, 1) / len(y), ["softmax / N alone"]),
        (lambda z, y: -onehot(z, y) / len(y), ["with respect to the log-probabilities"]),
        (
            lambda z, y: (naive_log_softmax(z).exp() - onehot(z, y)) / len(y),
            ["is nan at index", "exp overflowed"],
        ),
    ],
    ids=["no-mean", "by-classes", "sign", "no-onehot", "logprob-grad", "unstable"],
)
def test_cross_entropy_grad_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("cross_entropy_grad", wrong, capsys, *words)


# -- staged_backward ----------------------------------------------------------------------------


def staged_by_autograd(f, p, y):
    """The MLP rebuilt in torch from the same parameters; every stage keeps its gradient."""
    p = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    hpre = f["x"] @ p["W1"].T + p["b1"]
    h = torch.tanh(hpre)
    logits = h @ p["W2"].T + p["b2"]
    shifted = logits - logits.max(1, keepdim=True).values  # not detached: its path cancels
    counts = shifted.exp()
    total = counts.sum(1, keepdim=True)
    logprobs = shifted - total.log()
    loss = -logprobs[torch.arange(len(y)), y].mean()
    stages = dict(hpre=hpre, h=h, logits=logits, shifted=shifted, counts=counts, total=total,
                  logprobs=logprobs)  # fmt: skip
    for stage in stages.values():
        stage.retain_grad()
    loss.backward()
    return {**{k: v.grad for k, v in stages.items()}, **{k: v.grad for k, v in p.items()}}


def test_staged_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("staged_backward", solution("staged_backward"), capsys)
    assert_passes("staged_backward", staged_by_autograd, capsys)


def test_staged_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("staged_backward", capsys)


def changed(**wrong):
    """torch's right answer with some stages replaced by ``wrong[name](f, p, y, g)``."""

    def answer(f, p, y):
        g = staged_by_autograd(f, p, y)
        for name, make in wrong.items():
            if make is None:
                del g[name]
            else:
                g[name] = make(f, p, y, g)
        return g

    return answer


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            changed(logprobs=lambda f, p, y, g: g["logprobs"] * len(y)),
            ["gradient of logprobs", "first stage backward computes", "divide by N"],
        ),
        (
            changed(total=lambda f, p, y, g: g["total"] * f["total"]),
            ["gradient of total", "right: logprobs)", "1 / total"],
        ),
        (
            changed(counts=lambda f, p, y, g: g["total"]),
            ["gradient of counts", "should have shape (8, 4)", "spread it over"],
        ),
        (
            changed(shifted=lambda f, p, y, g: f["counts"] * g["counts"]),
            ["gradient of shifted", "right: logprobs, total, counts)", "accumulate"],
        ),
        (
            changed(W2=lambda f, p, y, g: g["W2"].T),
            ["gradient of W2", "the transpose of the expected"],
        ),
        (
            changed(b2=lambda f, p, y, g: g["logits"].sum(1)),
            ["gradient of b2", "summed over dimension(s) (1,)"],
        ),
        (
            changed(hpre=lambda f, p, y, g: g["h"] * (1 - f["hpre"] ** 2)),
            ["gradient of hpre", "square the output h"],
        ),
        (
            changed(hpre=lambda f, p, y, g: 1 - f["h"] ** 2),
            ["gradient of hpre", "local derivatives alone"],
        ),
        (
            changed(W1=lambda f, p, y, g: g["h"].T @ f["x"]),
            ["gradient of W1", "skips tanh", "nothing after it was checked (b1)"],
        ),
        (changed(W2=None), ["no entry 'W2' yet", "right: logprobs, total, counts, shifted"]),
    ],
    ids=["no-mean", "no-1/total", "counts-unspread", "overwritten", "W2-transposed",
         "b2-wrong-dim", "tanh-of-input", "no-chain", "W1-skips-tanh", "missing"],
)  # fmt: skip
def test_staged_backward_names_the_first_wrong_stage_and_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("staged_backward", wrong, capsys, *words)


def test_staged_backward_names_only_the_first_of_two_wrong_stages(capsys):
    two_wrong = changed(
        h=lambda f, p, y, g: 2 * g["h"], W1=lambda f, p, y, g: g["W1"].T, b1=lambda *a: None
    )
    out = assert_fails("staged_backward", two_wrong, capsys, "gradient of h ", "exactly 2x")
    assert "gradient of W1" not in out and "gradient of b1" not in out
    assert "nothing after it was checked (W2, b2, hpre, W1, b1)" in out


def test_staged_backward_fails_an_answer_hard_coded_for_the_first_network(capsys):
    n, inputs, hidden, classes, scale = lesson14.STAGED_CASES[0]
    generator = torch.Generator().manual_seed(1400)
    params = lesson14.init_mlp((inputs, hidden, classes), seed=1400, scale=scale)
    x = torch.randn(n, inputs, generator=generator, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=generator)
    first = staged_by_autograd({"x": x}, params, y)
    assert_passes("staged_backward", lambda f, p, y: staged_by_autograd(f, p, y), capsys)
    assert_fails("staged_backward", lambda f, p, y: first, capsys, "N=5, D=5")


# -- the MLP's forward and minigrad's tape, judged by torch -------------------------------------


def test_the_stages_compute_torchs_cross_entropy():
    params = exercises.init_mlp((6, 5, 4), seed=3)
    x = torch.randn(7, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (7,))
    f = exercises.mlp_stages(x, y, params)
    logits = torch.tanh(x @ params["W1"].T + params["b1"]) @ params["W2"].T + params["b2"]
    assert torch.allclose(f["loss"], F.cross_entropy(logits, y))
    assert torch.allclose(f["logprobs"], torch.log_softmax(logits, 1))


def test_minigrads_tape_gives_torchs_gradient_for_every_stage():
    params = exercises.init_mlp((6, 5, 4), seed=4, scale=2.0)
    x = torch.randn(9, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (9,))
    loss, stages = exercises.mlp_on_tape(x, y, params)
    on_tape = exercises.tape_gradients(loss, stages)
    oracle = staged_by_autograd({"x": x}, params, y)
    assert list(on_tape) == list(lesson14.BACKWARD_ORDER)
    for name, grad in on_tape.items():
        assert torch.allclose(grad, oracle[name], atol=1e-12), name
    rows = exercises.compare_stages(oracle, on_tape)
    assert [verdict for _, verdict, _ in rows] == ["right"] * len(on_tape)
    oracle["h"] = oracle["h"] * 2
    del oracle["b1"]
    verdicts = {name: verdict for name, verdict, _ in exercises.compare_stages(oracle, on_tape)}
    assert verdicts["h"] == "WRONG" and verdicts["b1"] == "missing" and verdicts["W1"] == "right"
