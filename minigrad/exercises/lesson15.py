"""Lesson 15's exercises: batch norm's and layer norm's backward, and the running statistics.

Both normalisations compute, over some dimensions holding n values,

    mu = mean(x),  var = mean((x - mu)**2)  (biased: divide by n),
    x_hat = (x - mu) / sqrt(var + eps),  y = gamma * x_hat + beta,

batch norm over the batch (dim 0, per feature), layer norm over the features
(the last dim, per sample). With g = dL/dy and g_hat = g * gamma, the whole
backward through mu and var is one formula:

    dL/dx = 1/sqrt(var + eps) * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat))

with the means over the same n values. The expected values here are that
closed form; the tests hold it against torch.nn.functional's autograd.
"""

from __future__ import annotations

import math

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import wrong_broadcast_dims

EPS = 1e-5


def normalize(x: torch.Tensor, dims: tuple[int, ...], eps: float = EPS, correction: int = 0):
    """(x_hat, 1/sqrt(var + eps)) over ``dims``, the variance divided by n - correction."""
    var, mu = torch.var_mean(x, dims, correction=correction, keepdim=True)
    inv_std = 1 / torch.sqrt(var + eps)
    return (x - mu) * inv_std, inv_std


def normalized_backward(g_hat, x_hat, inv_std, dims, count=None) -> torch.Tensor:
    """dL/dx from g_hat = dL/dx_hat: the gradient, less its mean and its part along x_hat."""
    count = count or math.prod(g_hat.shape[d] for d in dims)
    mean_g = g_hat.sum(dims, keepdim=True) / count
    mean_gx = (g_hat * x_hat).sum(dims, keepdim=True) / count
    return inv_std * (g_hat - mean_g - x_hat * mean_gx)


def common_mistakes(x, gamma, g, dims, eps) -> tuple[Mistake, ...]:
    """dL/dx as the usual slips of a normalisation's backward compute it, on this case."""
    x_hat, inv_std = normalize(x, dims, eps)
    g_hat = g * gamma
    mean_g = g_hat.mean(dims, keepdim=True)
    mean_gx = (g_hat * x_hat).mean(dims, keepdim=True)
    no_eps_hat, no_eps_inv = normalize(x, dims, 0.0)
    unbiased_hat, unbiased_inv = normalize(x, dims, eps, correction=1)
    return (
        Mistake(g_hat * inv_std, "that treats the mean and the variance as constants (it is "
                "evaluation mode's backward): in training every x also moves the statistics "
                "it is normalised by, and those two paths add to the gradient"),
        Mistake(inv_std * (g_hat - mean_g), "the path through the mean is there, the one "
                "through the variance is missing"),
        Mistake(inv_std * (g_hat - x_hat * mean_gx), "the path through the variance is there, "
                "the one through the mean is missing"),
        Mistake(normalized_backward(g, x_hat, inv_std, dims), "gamma is missing: it scaled "
                "x_hat on the way forward, so it scales the gradient on the way back"),
        Mistake(normalized_backward(g_hat, no_eps_hat, no_eps_inv, dims), "eps is missing: it "
                "sits inside the square root, sqrt(var + eps), in the backward as in forward"),
        Mistake(normalized_backward(g_hat, unbiased_hat, unbiased_inv, dims), "that normalises "
                "with the variance divided by n - 1 (torch's var does that unless told "
                "otherwise): the normalisation uses the biased variance, divided by n; n - 1 "
                "is only for batch norm's running estimate"),
    )  # fmt: skip


def parameter_mistakes(x_hat, x, g, dims, kept) -> dict:
    """Wrong dL/dgamma and dL/dbeta: paired with x instead of x_hat, summed the wrong way."""
    return {
        "gamma": (
            Mistake((g * x).sum(dims), "gamma multiplies x_hat, not x: pair g with x_hat"),
            Mistake(g.sum(dims), "that is dL/dbeta: gamma's gradient also multiplies by x_hat"),
            wrong_broadcast_dims((g * x_hat).sum(kept), kept, dims),
        ),
        "beta": (
            Mistake(g.mean(dims), "that is the mean: beta was added to every position, so "
                    "every position's gradient adds up"),
            wrong_broadcast_dims(g.sum(kept), kept, dims),
        ),
    }  # fmt: skip


def expect_triple(check: Check, received, want: tuple, mistakes: dict) -> None:
    """Compare (dx, dgamma, dbeta), in that order, with their recorded mistakes."""
    grad_x, grad_gamma, grad_beta = check.expect_sequence(received, 3, "(dx, dgamma, dbeta)")
    check.expect("dx", want[0], grad_x, mistakes=mistakes["x"])
    check.expect("dgamma", want[1], grad_gamma, mistakes=mistakes["gamma"])
    check.expect("dbeta", want[2], grad_beta, mistakes=mistakes["beta"])


# (shape, scale and offset of x): square ones, tiny variances where eps matters, big offsets.
BATCH_CASES = [((4, 3), 1.0, 0.0), ((8, 5), 10.0, 50.0), ((5, 5), 1.0, -2.0), ((16, 4), 3e-3, 1.0)]


@exercise(
    "batchnorm_backward",
    lesson=15,
    title="batch norm's backward in one formula",
    hints=(
        "Each x[i, d] reaches the loss along three paths: directly through its own x_hat, "
        "through the batch mean of feature d (which every example of the batch feeds), and "
        "through the batch variance of feature d. Work out dL/dx_hat first (gamma times g), "
        "then add the three paths. The printed properties above say what the two extra paths "
        "remove from the gradient.",
        "Call gamma times g g_hat, and take every mean over the batch (dim 0): dx is "
        "(g_hat - mean(g_hat) - x_hat times mean(g_hat x_hat)) / sqrt(var + eps). dgamma "
        "sums g times x_hat over the batch, dbeta sums g over the batch. var is the biased "
        "batch variance, as in forward.",
    ),
)
def check_batchnorm_backward(check: Check, batchnorm_backward) -> str:
    """``batchnorm_backward(x, gamma, g, eps)`` -> (dx, dgamma, dbeta): training mode, (N, D)."""
    generator = torch.Generator().manual_seed(15)
    for shape, scale, offset in BATCH_CASES:
        x = draw(generator, *shape, scale=scale) + offset
        gamma, g = draw(generator, shape[1]) + 1, draw(generator, *shape)
        x_hat, inv_std = normalize(x, (0,))
        want = (normalized_backward(g * gamma, x_hat, inv_std, (0,)), (g * x_hat).sum(0), g.sum(0))
        mistakes = parameter_mistakes(x_hat, x, g, (0,), (1,))
        mistakes["x"] = common_mistakes(x, gamma, g, (0,), EPS)
        check.case = f"x of shape {shape} (spread {scale:g}, offset {offset:g})"
        received = check.call(batchnorm_backward, x, gamma, g, EPS, names=("x", "gamma", "g"))
        expect_triple(check, received, want, mistakes)
    return f"dx, dgamma and dbeta are right for {len(BATCH_CASES)} batches, tiny variances too"


# (shape, scale, offset): 2-D and 3-D (batch, time, features) inputs.
LAYER_CASES = [((4, 6), 1.0, 0.0), ((3, 5, 4), 2.0, 3.0), ((6, 6), 1.0, -1.0), ((2, 3, 8), 1e-2, 0)]


@exercise(
    "layernorm_backward",
    lesson=15,
    title="layer norm's backward",
    hints=(
        "Layer norm is batch norm turned sideways: each sample is normalised over its own "
        "features (the last dimension), so the mean and variance paths run along the last "
        "dimension. One difference matters: gamma now varies along the dimension you "
        "normalise over.",
        "Call gamma times g g_hat, and take every mean over the last dim (keep it, for "
        "broadcasting): dx is (g_hat - mean(g_hat) - x_hat times mean(g_hat x_hat)) / "
        "sqrt(var + eps). gamma "
        "cannot be taken out of those means. dgamma and dbeta sum over every leading "
        "dimension (batch, and time if there is one).",
    ),
)
def check_layernorm_backward(check: Check, layernorm_backward) -> str:
    """``layernorm_backward(x, gamma, g, eps)`` -> (dx, dgamma, dbeta), over the last dim."""
    generator = torch.Generator().manual_seed(150)
    for shape, scale, offset in LAYER_CASES:
        x = draw(generator, *shape, scale=scale) + offset
        gamma, g = draw(generator, shape[-1]) + 1, draw(generator, *shape)
        last, lead = (x.ndim - 1,), tuple(range(x.ndim - 1))
        x_hat, inv_std = normalize(x, last)
        want = (normalized_backward(g * gamma, x_hat, inv_std, last), (g * x_hat).sum(lead),
                g.sum(lead))  # fmt: skip
        mistakes = parameter_mistakes(x_hat, x, g, lead, last)
        mistakes["x"] = common_mistakes(x, gamma, g, last, EPS) + (
            Mistake(gamma * normalized_backward(g, x_hat, inv_std, last), "gamma was taken out "
                    "of the means: in layer norm it varies along the normalised dimension, so "
                    "multiply g by gamma first"),
        )  # fmt: skip
        if x.ndim == 2:
            bn_hat, bn_inv = normalize(x, (0,))
            mistakes["x"] += (
                Mistake(normalized_backward(g * gamma, bn_hat, bn_inv, (0,)), "that normalises "
                        "over the batch (dim 0), as batch norm does: layer norm normalises each "
                        "sample over its features, the last dimension"),
            )  # fmt: skip
        else:
            first = "sum over every leading dimension (batch and time), not only the first"
            mistakes["gamma"] += (Mistake((g * x_hat).sum(0), first),)
            mistakes["beta"] += (Mistake(g.sum(0), first),)
        check.case = f"x of shape {shape} (spread {scale:g}, offset {offset:g})"
        received = check.call(layernorm_backward, x, gamma, g, EPS, names=("x", "gamma", "g"))
        expect_triple(check, received, want, mistakes)
    return f"dx, dgamma and dbeta are right for {len(LAYER_CASES)} inputs, 2-D and 3-D"


# -- the running statistics --------------------------------------------------------------


# (shape of x, momentum): (N, C) and (N, C, H, W) inputs, torch's momentum and others.
RUNNING_CASES = [((8, 3), 0.1), ((4, 3, 2, 2), 0.1), ((5, 5), 0.3), ((2, 4, 3, 3), 0.05)]


@exercise(
    "running_stats",
    lesson=15,
    title="the running statistics, with Bessel's correction",
    hints=(
        "During training, batch norm also keeps a running estimate of each channel's mean "
        "and variance, for evaluation mode. Each step moves the estimate a fraction "
        "`momentum` of the way towards this batch's statistics. A variance estimated from n "
        "samples around their own mean comes out too small on average, by a factor "
        "(n - 1) / n; the running estimate corrects for that (Bessel's correction).",
        "Per channel (dim 1), over the n = N H W values of that channel: the new mean is "
        "(1 - momentum) times the running mean plus momentum times the batch's mean; the new "
        "variance is (1 - momentum) times the running variance plus momentum times the "
        "batch's variance with Bessel's correction, the squared deviations summed and "
        "divided by n - 1.",
    ),
)
def check_running_stats(check: Check, running_stats) -> str:
    """``running_stats(running_mean, running_var, x, momentum)`` -> (new_mean, new_var), (C,) each.

    New tensors: the running ones passed in are left as they are.
    """
    generator = torch.Generator().manual_seed(151)
    for shape, momentum in RUNNING_CASES:
        x = draw(generator, *shape, scale=2.0) + 1.0
        channels = shape[1]
        mean0, var0 = draw(generator, channels), draw(generator, channels).abs() + 0.5
        dims = (0,) + tuple(range(2, x.ndim))
        n = x.numel() // channels
        biased, batch_mean = torch.var_mean(x, dims, correction=0)
        want_mean = (1 - momentum) * mean0 + momentum * batch_mean
        want_var = (1 - momentum) * var0 + momentum * biased * n / (n - 1)
        mean_mistakes = (
            Mistake(momentum * mean0 + (1 - momentum) * batch_mean, "momentum is the weight of "
                    "the new batch, not of the old estimate: (1 - momentum) * running + "
                    "momentum * batch"),
        )  # fmt: skip
        var_mistakes = (
            Mistake((1 - momentum) * var0 + momentum * biased, "that is the biased variance "
                    "(divided by n): it underestimates on average, so the running estimate "
                    "uses Bessel's correction, dividing by n - 1"),
            Mistake(momentum * var0 + (1 - momentum) * biased * n / (n - 1), "momentum is the "
                    "weight of the new batch: (1 - momentum) * running + momentum * batch"),
        )  # fmt: skip
        if x.ndim == 4:
            var_mistakes += (
                Mistake((1 - momentum) * var0 + momentum * biased * shape[0] / (shape[0] - 1),
                        f"n counts every value of a channel, N * H * W = {n} here, not the "
                        f"batch size N = {shape[0]}"),
            )  # fmt: skip
        elif shape[0] == channels:  # statistics per example, over the channels, fit too
            per_example = x.var(1, correction=1)
            mean_mistakes += (
                wrong_broadcast_dims((1 - momentum) * mean0 + momentum * x.mean(1), (1,), (0,)),
            )
            var_mistakes += (
                wrong_broadcast_dims((1 - momentum) * var0 + momentum * per_example, (1,), (0,)),
            )
        check.case = f"x of shape {shape}, momentum {momentum}"
        received = check.call(
            running_stats, mean0, var0, x, momentum, names=("running_mean", "running_var", "x")
        )
        new_mean, new_var = check.expect_sequence(received, 2, "(new_mean, new_var)")
        check.expect("the new running mean", want_mean, new_mean, mistakes=mean_mistakes)
        check.expect("the new running variance", want_var, new_var, mistakes=var_mistakes)
    return f"both estimates are right for {len(RUNNING_CASES)} batches, 2-D and 4-D"
