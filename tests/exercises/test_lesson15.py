"""Lesson 15's checks: right answers pass, the gap and recorded wrong answers FAIL with a diagnosis.

The oracle is torch: torch.nn.functional.batch_norm and layer_norm with their
autograd for the backward, and batch_norm's own in-place update of the
running statistics for the running estimate.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution


def by_autograd(normalise):
    """(dx, dgamma, dbeta) of ``normalise(x, gamma, beta, eps)`` by torch.autograd."""

    def backward(x, gamma, g, eps):
        x, gamma = x.clone().requires_grad_(True), gamma.clone().requires_grad_(True)
        beta = torch.zeros_like(gamma, requires_grad=True)
        return torch.autograd.grad(normalise(x, gamma, beta, eps), (x, gamma, beta), g)

    return backward


batchnorm_by_autograd = by_autograd(
    lambda x, w, b, eps: F.batch_norm(x, None, None, w, b, training=True, eps=eps)
)
layernorm_by_autograd = by_autograd(lambda x, w, b, eps: F.layer_norm(x, x.shape[-1:], w, b, eps))


def stats(x, dims, eps, correction=0):
    var, mean = torch.var_mean(x, dims, correction=correction, keepdim=True)
    inv_std = 1 / torch.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std


def with_dx(dx_of, dims):
    """torch's dgamma and dbeta, with dx from ``dx_of(x_hat, inv_std, g_hat)``."""
    autograd = batchnorm_by_autograd if dims == (0,) else layernorm_by_autograd

    def answer(x, gamma, g, eps):
        _, grad_gamma, grad_beta = autograd(x, gamma, g, eps)
        x_hat, inv_std = stats(x, dims, eps)
        return dx_of(x_hat, inv_std, g * gamma), grad_gamma, grad_beta

    return answer


def with_params(grad_gamma, grad_beta, autograd):
    """torch's dx, with dgamma and dbeta from ``grad_gamma(g, x_hat)`` / ``grad_beta(g)``."""

    def answer(x, gamma, g, eps):
        dx, _, _ = autograd(x, gamma, g, eps)
        x_hat, _ = stats(x, (0,) if autograd is batchnorm_by_autograd else (-1,), eps)
        return dx, grad_gamma(g, x_hat, x), grad_beta(g)

    return answer


# -- batchnorm_backward ------------------------------------------------------------------


def batchnorm_staged(x, gamma, g, eps):
    """Another right answer: the stage-by-stage derivation (as in lesson 14), not the formula."""
    n = x.shape[0]
    mean = x.mean(0, keepdim=True)
    diff = x - mean
    var = (diff**2).sum(0, keepdim=True) / n
    inv = (var + eps) ** -0.5
    x_hat = diff * inv
    d_hat = g * gamma
    d_inv = (d_hat * diff).sum(0, keepdim=True)
    d_var = d_inv * -0.5 * (var + eps) ** -1.5
    d_diff = d_hat * inv + 2 * diff / n * d_var
    dx = d_diff - d_diff.mean(0, keepdim=True)
    return dx, (g * x_hat).sum(0), g.sum(0)


def unbiased_batchnorm(x, gamma, g, eps):
    """The formula right, but x normalised with the variance divided by n - 1."""
    x_hat, inv = stats(x, (0,), eps, correction=1)
    gh = g * gamma
    dx = inv * (gh - gh.mean(0) - x_hat * (gh * x_hat).mean(0))
    return dx, (g * x_hat).sum(0), g.sum(0)


def test_batchnorm_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("batchnorm_backward", solution("batchnorm_backward"), capsys)
    assert_passes("batchnorm_backward", batchnorm_by_autograd, capsys)
    assert_passes("batchnorm_backward", batchnorm_staged, capsys)


def test_batchnorm_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("batchnorm_backward", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (with_dx(lambda xh, inv, gh: gh * inv, (0,)), ["dx is wrong", "as constants"]),
        (
            with_dx(lambda xh, inv, gh: inv * (gh - gh.mean(0)), (0,)),
            ["through the variance is missing"],
        ),
        (
            with_dx(lambda xh, inv, gh: inv * (gh - xh * (gh * xh).mean(0)), (0,)),
            ["through the mean is missing"],
        ),
        (
            lambda x, gamma, g, eps: batchnorm_by_autograd(x, gamma, g, eps=1e-300),
            ["eps is missing"],
        ),
        (
            lambda x, gamma, g, eps: batchnorm_by_autograd(x, torch.ones_like(gamma), g, eps),
            ["gamma is missing"],
        ),
        (unbiased_batchnorm, ["divided by n - 1"]),
        (
            with_params(lambda g, xh, x: (g * x).sum(0), lambda g: g.sum(0),
                        batchnorm_by_autograd),
            ["dgamma is wrong", "pair g with x_hat"],
        ),
        (
            with_params(lambda g, xh, x: (g * xh).sum(0), lambda g: g.mean(0),
                        batchnorm_by_autograd),
            ["dbeta is wrong", "that is the mean"],
        ),
        (
            with_params(lambda g, xh, x: (g * xh).sum(1), lambda g: g.sum(0),
                        batchnorm_by_autograd),
            ["dgamma should have shape (3,)", "summed over dimension(s) (1,)"],
        ),
    ],
    ids=["constants", "no-var-path", "no-mean-path", "no-eps", "no-gamma", "unbiased",
         "dgamma-x", "dbeta-mean", "dgamma-wrong-dim"],
)  # fmt: skip
def test_batchnorm_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("batchnorm_backward", wrong, capsys, *words)


# -- layernorm_backward ---------------------------------------------------------------------


def layernorm_by_hand_on_rows(x, gamma, g, eps):
    """Another right answer: batch norm's formula on the transposed rows (features as the batch)."""
    flat, flat_g = x.reshape(-1, x.shape[-1]).T, (g * gamma).reshape(-1, x.shape[-1]).T
    x_hat, inv_std = stats(flat, (0,), eps)
    dx = inv_std * (flat_g - flat_g.mean(0) - x_hat * (flat_g * x_hat).mean(0))
    x_hat = x_hat.T.reshape(x.shape)
    lead = tuple(range(x.ndim - 1))
    return dx.T.reshape(x.shape), (g * x_hat).sum(lead), g.sum(lead)


def test_layernorm_backward_passes_the_solution_and_torchs_gradients(capsys):
    assert_passes("layernorm_backward", solution("layernorm_backward"), capsys)
    assert_passes("layernorm_backward", layernorm_by_autograd, capsys)
    assert_passes("layernorm_backward", layernorm_by_hand_on_rows, capsys)


def test_layernorm_backward_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("layernorm_backward", capsys)


def gamma_outside(x, gamma, g, eps):
    x_hat, inv = stats(x, (-1,), eps)
    mean = lambda t: t.mean(-1, keepdim=True)  # noqa: E731
    dx = gamma * inv * (g - mean(g) - x_hat * mean(g * x_hat))
    _, grad_gamma, grad_beta = layernorm_by_autograd(x, gamma, g, eps)
    return dx, grad_gamma, grad_beta


def over_the_batch(x, gamma, g, eps):
    _, grad_gamma, grad_beta = layernorm_by_autograd(x, gamma, g, eps)
    x_hat, inv = stats(x, (0,), eps)
    gh = g * gamma
    return inv * (gh - gh.mean(0) - x_hat * (gh * x_hat).mean(0)), grad_gamma, grad_beta


def only_first_dim(x, gamma, g, eps):
    dx, _, _ = layernorm_by_autograd(x, gamma, g, eps)
    x_hat, _ = stats(x, (-1,), eps)
    return dx, (g * x_hat).sum(0), g.sum(0)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (gamma_outside, ["dx is wrong", "gamma was taken out of the means"]),
        (over_the_batch, ["normalises over the batch (dim 0)"]),
        (
            only_first_dim,
            ["shape (3, 5, 4)", "dgamma should have shape (4,)", "not only the first"],
        ),
        (
            with_dx(lambda xh, inv, gh: gh * inv, (-1,)),
            ["as constants"],
        ),
        (
            lambda x, gamma, g, eps: tuple(-t for t in layernorm_by_autograd(x, gamma, g, eps)),
            ["dx is wrong", "wrong sign"],
        ),
    ],
    ids=["gamma-outside", "batch-dim", "lead-dims", "constants", "sign"],
)
def test_layernorm_backward_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("layernorm_backward", wrong, capsys, *words)


# -- running_stats ----------------------------------------------------------------------------


def running_by_torch(running_mean, running_var, x, momentum):
    mean, var = running_mean.clone(), running_var.clone()
    F.batch_norm(x, mean, var, training=True, momentum=momentum)  # updates them in place
    return mean, var


def channels(x):
    return [d for d in range(x.ndim) if d != 1]


def test_running_stats_passes_the_solution_and_torchs_update(capsys):
    assert_passes("running_stats", solution("running_stats"), capsys)
    assert_passes("running_stats", running_by_torch, capsys)
    assert_passes(
        "running_stats",
        lambda m, v, x, mom: (
            torch.lerp(m, x.mean(channels(x)), mom),
            torch.lerp(v, x.var(channels(x)), mom),
        ),
        capsys,
    )


def test_running_stats_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("running_stats", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda m, v, x, mom: (
                torch.lerp(m, x.mean(channels(x)), mom),
                torch.lerp(v, x.var(channels(x), correction=0), mom),
            ),
            ["running variance is wrong", "the biased variance", "Bessel"],
        ),
        (
            lambda m, v, x, mom: (torch.lerp(m, x.mean(channels(x)), 1 - mom), v),
            ["running mean is wrong", "the weight of the new batch"],
        ),
        (
            lambda m, v, x, mom: (
                torch.lerp(m, x.mean(channels(x)), mom),
                torch.lerp(
                    v, x.var(channels(x), correction=0) * len(x) / (len(x) - 1), mom
                ),
            ),
            ["shape (4, 3, 2, 2)", "N * H * W = 16 here"],
        ),
        (
            lambda m, v, x, mom: (m.mul_(1 - mom).add_(mom * x.mean(channels(x))),
                                  v.mul_(1 - mom).add_(mom * x.var(channels(x)))),
            ["changed its input running_mean", "changed in place"],
        ),
        (
            lambda m, v, x, mom: running_by_torch(m, v, x, mom)
            if x.ndim == 2
            else ((1 - mom) * m[:, None, None] + mom * x.mean(0), v),
            ["x of shape (4, 3, 2, 2)", "should have shape (3,), received shape (3, 2, 2)"],
        ),
    ],
    ids=["biased", "momentum-reversed", "n-is-N", "in-place", "wrong-dims"],
)  # fmt: skip
def test_running_stats_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("running_stats", wrong, capsys, *words)


def test_running_stats_recognises_per_example_statistics_on_a_square_batch(capsys):
    def per_example(m, v, x, mom):
        if x.shape[0] == x.shape[1] and x.ndim == 2:
            return torch.lerp(m, x.mean(1), mom), v
        return running_by_torch(m, v, x, mom)

    assert_fails("running_stats", per_example, capsys, "(5, 5)", "summed over dimension(s) (1,)")
