"""Lesson 7's checks: optimiser steps against torch.optim, the oracle.

The other right formulations hand each step to torch.optim itself (with the
state the check gives), so they are right by torch's definition.
"""

from __future__ import annotations

import pytest
import torch

from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- momentum_step ----------------------------------------------------------------------


def momentum_by_torch(param, grad, velocity, lr, momentum, nesterov):
    p = param.clone()
    optimizer = torch.optim.SGD([p], lr=lr, momentum=momentum, nesterov=nesterov)
    optimizer.state[p]["momentum_buffer"] = velocity.clone()  # zeros first: mu * 0 + g = g
    p.grad = grad.clone()
    optimizer.step()
    return p, optimizer.state[p]["momentum_buffer"]


def momentum_as_a_sum(param, grad, velocity, lr, momentum, nesterov):
    new_velocity = torch.add(grad, velocity, alpha=momentum)
    step = new_velocity.mul(momentum).add(grad) if nesterov else new_velocity
    return torch.sub(param, step, alpha=lr), new_velocity


def _momentum(velocity_rule, step_rule):
    def step(p, g, v, lr, mu, nesterov):
        new_v = velocity_rule(g, v, lr, mu)
        return step_rule(p, g, v, new_v, lr, mu, nesterov), new_v

    return step


def _right_velocity(g, v, lr, mu):
    return mu * v + g


def _right_step(p, g, v, new_v, lr, mu, nesterov):
    return p - lr * (g + mu * new_v if nesterov else new_v)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            _momentum(lambda g, v, lr, mu: mu * v + (1 - mu) * g, _right_step),
            ["step 1 of 6", "new_velocity", "an average of the gradients"],
        ),
        (
            _momentum(lambda g, v, lr, mu: mu * v + lr * g, _right_step),
            ["new_velocity", "has the learning rate in it"],
        ),
        (
            _momentum(_right_velocity, lambda p, g, v, nv, lr, mu, n: p - lr * v),
            ["step 1 of 6", "new_param", "the velocity from before"],
        ),
        (
            _momentum(_right_velocity, lambda p, g, v, nv, lr, mu, n: p - lr * nv),
            ["nesterov=True", "step 1 of 6", "plain momentum step"],
        ),
        (
            _momentum(_right_velocity, lambda p, g, v, nv, lr, mu, n: p - lr * (g + mu * nv)),
            ["nesterov=False", "Nesterov's look-ahead step, but nesterov is False"],
        ),
        (
            _momentum(
                _right_velocity,
                lambda p, g, v, nv, lr, mu, n: p - lr * (g + mu * v if n else nv),
            ),
            ["nesterov=True", "step 1 of 6", "a look-ahead along the old velocity"],
        ),
        (
            _momentum(_right_velocity, lambda p, g, v, nv, lr, mu, n: p - lr * g),
            ["step 2 of 6", "this step's gradient alone"],
        ),
        (
            _momentum(_right_velocity, lambda p, g, v, nv, lr, mu, n: p + lr * nv),
            ["went uphill"],
        ),
        (
            _momentum(lambda g, v, lr, mu: v, _right_step),
            ["step 1 of 6", "the velocity you were given"],
        ),
        (lambda p, g, v, lr, mu, n: p - lr * g, ["(new_param, new_velocity) (2 items)"]),
    ],
    ids=[
        "dampened",
        "lr-in-velocity",
        "old-velocity",
        "nesterov-ignored",
        "nesterov-always",
        "nesterov-old-velocity",
        "no-momentum",
        "uphill",
        "velocity-not-updated",
        "one-value",
    ],
)
def test_momentum_step_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("momentum_step", wrong, capsys, *words)


def test_momentum_step_names_the_first_step_that_diverged(capsys):
    # Right while the velocity is zero (step 1), wrong after: forgets all but the last gradient.
    out = assert_fails(
        "momentum_step", _momentum(lambda g, v, lr, mu: g, _right_step), capsys, "step 2 of 6"
    )
    assert "step 1 of 6" not in out


def test_momentum_step_fails_an_answer_that_changes_its_inputs(capsys):
    def in_place(p, g, v, lr, mu, nesterov):
        v.mul_(mu).add_(g)
        return p - lr * (g + mu * v if nesterov else v), v

    assert_fails("momentum_step", in_place, capsys, "changed its input velocity")


def test_momentum_step_fails_a_hard_coded_first_step(capsys):
    from minigrad.exercises import lesson07

    settings, shape, scale = lesson07.MOMENTUM_CASES[0]
    first = lesson07.torch_steps(torch.optim.SGD, settings, shape, scale, 70, ["momentum_buffer"])
    answer = (first[0].param_after, first[0].state_after["momentum_buffer"])
    assert_fails("momentum_step", lambda *args: answer, capsys, "step 2 of 6")


# -- adam_step -----------------------------------------------------------------------------


def adam_by_torch(param, grad, m, v, step, lr, betas, eps, weight_decay, decoupled):
    p = param.clone()
    kind = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = kind([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    optimizer.state[p].update(
        step=torch.tensor(float(step - 1)), exp_avg=m.clone(), exp_avg_sq=v.clone()
    )
    p.grad = grad.clone()
    optimizer.step()
    state = optimizer.state[p]
    return p, state["exp_avg"], state["exp_avg_sq"]


def adam_with_lerp(param, grad, m, v, step, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    if decoupled:
        param = param - lr * weight_decay * param
    else:
        grad = grad + weight_decay * param
    m = torch.lerp(m, grad, 1 - beta1)
    v = torch.lerp(v, grad * grad, 1 - beta2)
    step_size = lr / (1 - beta1**step)
    denominator = v.sqrt() / (1 - beta2**step) ** 0.5 + eps
    return param - step_size * m / denominator, m, v


# -- both: right answers pass, the gap fails quietly ---------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("momentum_step", momentum_by_torch),
        ("momentum_step", momentum_as_a_sum),
        ("adam_step", adam_by_torch),
        ("adam_step", adam_with_lerp),
    ],
    ids=["sgd-by-torch", "sgd-as-a-sum", "adam-by-torch", "adam-with-lerp"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["momentum_step", "adam_step"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)


def _adam(**slip):
    """The check's own rule with one slip: what a learner who made it would return."""
    from minigrad.exercises.lesson07 import adam_rule

    return lambda p, g, m, v, t, lr, betas, eps, wd, dec: adam_rule(
        p, g, m, v, t, lr, betas, eps, wd, dec, **slip
    )


def adam_without_correction(param, grad, m, v, step, lr, betas, eps, weight_decay, decoupled):
    beta1, beta2 = betas
    if decoupled:
        param = param * (1 - lr * weight_decay)
    else:
        grad = grad + weight_decay * param
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return param - lr * m / (v.sqrt() + eps), m, v


def adamw_with_l2_decay(param, grad, m, v, step, lr, betas, eps, weight_decay, decoupled):
    return adam_by_torch(param, grad, m, v, step, lr, betas, eps, weight_decay, False)


def adam_counting_from_zero(param, grad, m, v, step, lr, betas, eps, weight_decay, decoupled):
    return adam_by_torch(param, grad, m, v, step + 1, lr, betas, eps, weight_decay, decoupled)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (adam_without_correction, ["Adam(lr=0.1", "step 1 of 6", "bias correction is missing"]),
        (_adam(correct="m"), ["new_param", "only m was bias-corrected"]),
        (_adam(correct="v"), ["only v was bias-corrected"]),
        (adamw_with_l2_decay, ["AdamW(", "new_exp_avg", "went into the gradient"]),
        (_adam(decay="decoupled"), ["Adam(lr=0.01", "decoupled=False is Adam's L2 decay"]),
        (_adam(decay="after"), ["AdamW(", "shrunk after the step"]),
        (_adam(decay="without_lr"), ["scaled by the learning rate too"]),
        (_adam(eps_at="inside"), ["Adam(lr=0.1", "inside the square root"]),
        (_adam(eps_at="before_correction"), ["before the bias correction"]),
        (adam_counting_from_zero, ["step 1 of 6", "used step t + 1"]),
        (_adam(t_shift=-1), ["step t - 1, as if steps counted from 0"]),
        (_adam(swap_beta1=True), ["new_exp_avg", "the other way round"]),
        (_adam(beta2_is_beta1=True), ["new_exp_avg_sq", "v has its own rate"]),
        (_adam(unsquared=True), ["new_exp_avg_sq", "g squared"]),
        (_adam(uphill=True), ["went uphill"]),
    ],
    ids=[
        "no-bias-correction",
        "only-m-corrected",
        "only-v-corrected",
        "adamw-coupled",
        "adam-decoupled",
        "decay-after",
        "decay-without-lr",
        "eps-inside-sqrt",
        "eps-before-correction",
        "step-plus-one",
        "step-minus-one",
        "beta1-swapped",
        "v-with-beta1",
        "v-unsquared",
        "uphill",
    ],
)
def test_adam_step_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("adam_step", wrong, capsys, *words)


def test_adam_rule_without_a_slip_is_torchs_step():
    """The check's mistakes are the right rule with one change: the right rule must be torch's."""
    from minigrad.exercises import lesson07

    for optimizer, settings, shape, scale in lesson07.ADAM_CASES:
        names = ["exp_avg", "exp_avg_sq"]
        for step in lesson07.torch_steps(optimizer, settings, shape, scale, 5, names):
            got = lesson07.adam_rule(
                step.param,
                step.grad,
                step.state["exp_avg"],
                step.state["exp_avg_sq"],
                step.number,
                **settings,
                decoupled=optimizer is torch.optim.AdamW,
            )
            want = (step.param_after, step.state_after["exp_avg"], step.state_after["exp_avg_sq"])
            for a, b in zip(got, want):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


def test_adam_step_names_the_first_step_that_diverged(capsys):
    calls = []

    def right_then_wrong(*args):
        calls.append(1)
        p, m, v = adam_by_torch(*args)
        return (p * 1.001 if args[4] == 3 else p), m, v  # a slip only at step 3

    out = assert_fails("adam_step", right_then_wrong, capsys, "step 3 of 6", "new_param")
    assert "Adam(lr=0.1" in out and len(calls) == 3
