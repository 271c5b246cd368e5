"""Lesson 7's exercises: two optimisers' update rules, matched step for step against torch.optim.

The learner writes one step of an update rule as a function of plain tensors.
The check first runs ``torch.optim`` itself on a bowl-shaped loss (the gradient
is written out, ``g = h * (p - c)``, so no autograd is involved) and records,
step by step, what torch had before the step and what it had after. Then it
hands the learner exactly torch's state before each step: every step is judged
on its own, the first one that differs is named, and a slip that leaves a
fingerprint (a missing bias correction, the weight decay in the wrong place)
is recognised by computing what that slip gives on the same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.compare import mismatch
from minigrad.exercises.diagnoses import as_float64, close

STEPS = 6


@dataclass
class Step:
    """What torch.optim had before one step (``param``, ``grad``, ``state``) and after it."""

    number: int
    param: torch.Tensor
    grad: torch.Tensor
    state: dict[str, torch.Tensor]
    param_after: torch.Tensor
    state_after: dict[str, torch.Tensor]


def torch_steps(optimizer_class, settings: dict, shape, scale: float, seed: int, names) -> list:
    """``STEPS`` steps of ``optimizer_class(**settings)`` on a bowl, recorded as :class:`Step` s.

    The bowl's curvatures ``h`` spread over two orders of magnitude (a narrow
    valley) and ``scale`` sets the size of the gradients. ``names`` are the
    optimiser's state entries, zeros before the first step.
    """
    generator = torch.Generator().manual_seed(seed)
    param = draw(generator, *shape)
    centre = draw(generator, *shape)
    curvature = scale * torch.exp(1.2 * draw(generator, *shape))
    optimizer = optimizer_class([param], **settings)
    state = {name: torch.zeros_like(param) for name in names}
    steps = []
    for number in range(1, STEPS + 1):
        before = param.clone()
        grad = curvature * (param - centre)
        param.grad = grad.clone()
        optimizer.step()
        after = {name: optimizer.state[param][name].clone() for name in names}
        steps.append(Step(number, before, grad, state, param.detach().clone(), after))
        state = after
    return steps


def tolerance(expected: torch.Tensor) -> dict:
    """Tight enough for float64 rounding only, at the scale of ``expected``."""
    return {"rtol": 1e-9, "atol": 1e-12 * max(float(expected.abs().max()), 1e-300)}


def expect_step(check: Check, names, wanted, received, slips, order=None) -> None:
    """FAIL at the first output of ``received`` that differs from ``wanted``, with a diagnosis.

    ``slips`` are (outputs, words): what a known slip returns on this step. A slip
    whose every output matches the learner's explains the mistake best (two slips
    can agree on one output and differ on another); otherwise each output's own
    match is used. ``order`` is the order in which the outputs are compared.
    """
    got = check.expect_sequence(received, len(wanted), f"({', '.join(names)})")
    whole = next(
        (
            says
            for values, says in slips
            if all(_matches(g, v) for g, v in zip(got, values))
            and not all(_matches(w, v) for w, v in zip(wanted, values))
        ),
        None,
    )
    for position in order or range(len(wanted)):
        mistakes = tuple(Mistake(values[position], says) for values, says in slips)
        want = wanted[position]
        found = mismatch(names[position], want, got[position], mistakes=mistakes, **tolerance(want))
        if found is not None:
            check.fail(found.detail, whole or found.diagnosis)


def _matches(received, value) -> bool:
    received = as_float64(received)
    return received is not None and close(received, as_float64(value))


# -- SGD with momentum and Nesterov momentum ------------------------------------------


def momentum_rule(p, g, v, lr, momentum, nesterov, **slip):
    """One SGD-with-momentum step as torch.optim.SGD takes it, or with one ``slip``.

    Slips: ``velocity`` ("average", "with_lr", "factor_on_gradient", "stale",
    "gradient"), ``direction`` ("gradient", "old_velocity", "plain",
    "look_ahead_old", "look_ahead"), ``uphill``, ``without_lr``.
    """
    new_v = {
        "average": momentum * v + (1 - momentum) * g,
        "with_lr": momentum * v + lr * g,
        "factor_on_gradient": v + momentum * g,
        "stale": v,
        "gradient": g,
    }.get(slip.get("velocity"), momentum * v + g)
    kind = slip.get("direction", "look_ahead" if nesterov else "plain")
    direction = {
        "gradient": g,
        "old_velocity": v,
        "plain": new_v,
        "look_ahead_old": g + momentum * v,
        "look_ahead": g + momentum * new_v,
    }[kind]
    size = 1.0 if slip.get("without_lr") else lr
    new_p = p + size * direction if slip.get("uphill") else p - size * direction
    return new_p, new_v


MOMENTUM_SLIPS = [  # each slip, and what to say when the learner's numbers match it
    (
        {"velocity": "average"},
        "that is an average of the gradients, the new one weighted "
        "(1 - momentum): torch's SGD (dampening 0) adds each new gradient in full to the velocity",
    ),
    (
        {"velocity": "with_lr"},
        "your velocity has the learning rate in it; torch's velocity is "
        "made of gradients only, and the learning rate multiplies the step",
    ),
    (
        {"velocity": "factor_on_gradient"},
        "the momentum factor multiplied the new gradient; it "
        "belongs to the old velocity, which fades by that factor at every step",
    ),
    (
        {"velocity": "stale"},
        "that is the velocity you were given: this step's gradient is not in it yet",
    ),
    (
        {"velocity": "gradient"},
        "the new velocity is this step's gradient alone: the old "
        "velocity, faded by the momentum factor, must stay in it",
    ),
    (
        {"direction": "gradient"},
        "the step followed this step's gradient alone; with momentum it follows the velocity",
    ),
    (
        {"direction": "old_velocity"},
        "the step used the velocity from before this step's "
        "gradient was added: bring the velocity up to date first, then step along it",
    ),
    ({"uphill": True}, "the step went uphill: an optimiser steps against the slope"),
    ({"without_lr": True}, "the step was not multiplied by the learning rate"),
]
PLAIN_SLIPS = [
    (
        {"direction": "look_ahead"},
        "that is Nesterov's look-ahead step, but nesterov is False "
        "here: the plain step follows the velocity itself",
    ),
]
NESTEROV_SLIPS = [
    (
        {"direction": "plain"},
        "that is the plain momentum step, but nesterov=True asks for Nesterov's look-ahead step",
    ),
    (
        {"direction": "look_ahead_old"},
        "Nesterov's look-ahead used the old velocity; it looks "
        "ahead along the velocity that already holds this step's gradient",
    ),
]
FIRST_NESTEROV_SLIP = (  # at the first step the two slips above give the same numbers
    {"direction": "plain"}, "that is the plain momentum step (or a look-ahead along the old "
    "velocity, which is the same while the velocity is zero), but nesterov=True asks for "
    "Nesterov's look-ahead along the velocity that already holds this step's gradient",
)  # fmt: skip


def momentum_mistakes(step: Step, settings: dict) -> list:
    """Each slip's (new_param, new_velocity) on this step, with its words."""
    if not settings["nesterov"]:
        variants = PLAIN_SLIPS
    elif step.number == 1:
        variants = [FIRST_NESTEROV_SLIP]
    else:
        variants = NESTEROV_SLIPS
    inputs = (step.param, step.grad, step.state["momentum_buffer"])
    slips = variants + MOMENTUM_SLIPS
    return [(momentum_rule(*inputs, **settings, **s), says) for s, says in slips]


MOMENTUM_CASES = [  # settings, parameter shape, gradient scale
    ({"lr": 0.05, "momentum": 0.9, "nesterov": False}, (5,), 1.0),
    ({"lr": 0.02, "momentum": 0.8, "nesterov": True}, (3, 4), 10.0),
    ({"lr": 0.1, "momentum": 0.5, "nesterov": False}, (2, 3, 2), 1e-3),
    ({"lr": 0.003, "momentum": 0.99, "nesterov": True}, (6,), 100.0),
]


MOMENTUM_INPUTS = ("param", "grad", "velocity")


def describe(name: str, settings: dict) -> str:
    return f"{name}({', '.join(f'{k}={v}' for k, v in settings.items())})"


@exercise(
    "momentum_step",
    lesson=7,
    title="SGD with momentum and Nesterov momentum, as torch.optim.SGD",
    hints=(
        "The velocity is a running sum of the gradients seen so far, in which each older "
        "gradient has been multiplied by `momentum` once more for every step since. A step "
        "first brings the velocity up to date with this step's gradient, then moves the "
        "parameter against it, lr times as far. Nesterov's variant steps as if it had already "
        "rolled one more momentum step ahead: its direction is this step's gradient plus the "
        "momentum times the new velocity.",
        "torch.optim.SGD with dampening 0, in maths: v_new = momentum * v + g; the direction "
        "is d = v_new (plain) or d = g + momentum * v_new (Nesterov); then p_new = p - lr * d. "
        "Return (p_new, v_new).",
    ),
)
def check_momentum_step(check: Check, momentum_step) -> str:
    """``momentum_step(param, grad, velocity, lr, momentum, nesterov)`` -> (param, velocity)."""
    cases = [
        (
            settings,
            torch_steps(torch.optim.SGD, settings, shape, scale, 70 + i, ["momentum_buffer"]),
        )
        for i, (settings, shape, scale) in enumerate(MOMENTUM_CASES)
    ]  # every expected value is torch's, recorded before the learner's code runs
    for settings, steps in cases:
        for step in steps:
            check.case = f"{describe('SGD', settings)} at step {step.number} of {STEPS}"
            inputs = (step.param, step.grad, step.state["momentum_buffer"])
            received = check.call(momentum_step, *inputs, *settings.values(), names=MOMENTUM_INPUTS)
            wanted = (step.param_after, step.state_after["momentum_buffer"])
            slips = momentum_mistakes(step, settings)
            # The velocity first: a slip there explains a wrong step.
            names = ("new_param", "new_velocity")
            expect_step(check, names, wanted, received, slips, order=(1, 0))
    return (
        f"{len(cases)} runs of {STEPS} steps match torch.optim.SGD step for step, with and "
        "without Nesterov, for gradients from 1e-3 to 100"
    )


# -- Adam and AdamW -------------------------------------------------------------------


def adam_rule(p, g, m, v, t, lr, betas, eps, weight_decay, decoupled, **slip):
    """One Adam/AdamW step as torch.optim takes it, or with one ``slip`` (to recognise it).

    Slips: ``decay`` ("coupled", "decoupled", "none", "after", "without_lr"),
    ``correct`` ("none", "m", "v"), ``eps_at`` ("inside", "before_correction"),
    ``t_shift``, ``swap_beta1``, ``beta2_is_beta1``, ``unsquared``, ``uphill``.
    """
    beta1, beta2 = betas
    if slip.get("beta2_is_beta1"):
        beta2 = beta1
    decay = slip.get("decay", "decoupled" if decoupled else "coupled")
    if weight_decay and decay == "coupled":
        g = g + weight_decay * p
    elif weight_decay and decay == "decoupled":
        p = p * (1 - lr * weight_decay)
    elif weight_decay and decay == "without_lr":
        p = p * (1 - weight_decay)
    keep = (1 - beta1) if slip.get("swap_beta1") else beta1
    m = keep * m + (1 - keep) * g
    v = beta2 * v + (1 - beta2) * (g.abs() if slip.get("unsquared") else g * g)
    t = t + slip.get("t_shift", 0)
    correct = slip.get("correct", "both")
    m_hat = m / (1 - beta1**t) if correct in ("both", "m") else m
    v_hat = v / (1 - beta2**t) if correct in ("both", "v") else v
    eps_at = slip.get("eps_at", "outside")
    if eps_at == "inside":
        denominator = (v_hat + eps).sqrt()
    elif eps_at == "before_correction":
        denominator = (v.sqrt() + eps) / (1 - beta2**t) ** 0.5
    else:
        denominator = v_hat.sqrt() + eps
    step = lr * m_hat / denominator
    new_p = p + step if slip.get("uphill") else p - step
    if weight_decay and decay == "after":
        new_p = new_p * (1 - lr * weight_decay)
    return new_p, m, v


ADAM_SLIPS = [  # each slip, and what to say when the learner's numbers match it
    (
        {"correct": "none"},
        "the bias correction is missing: m and v start at zero, so in the "
        "first steps they are too small, by the factors (1 - beta1^t) and (1 - beta2^t); divide "
        "each by its factor before using it",
    ),
    ({"correct": "m"}, "only m was bias-corrected: v needs its correction too, with beta2"),
    ({"correct": "v"}, "only v was bias-corrected: m needs its correction too, with beta1"),
    (
        {"t_shift": 1},
        "the bias correction used step t + 1: `step` is already this step's number, counted from 1",
    ),
    (
        {"t_shift": -1},
        "the bias correction used step t - 1, as if steps counted from 0: "
        "`step` is already this step's number, counted from 1",
    ),
    ({"eps_at": "inside"}, "eps went inside the square root; torch adds it to sqrt(v_hat)"),
    (
        {"eps_at": "before_correction"},
        "eps was added to sqrt(v) before the bias correction; "
        "torch corrects v first and adds eps to sqrt(v_hat)",
    ),
    (
        {"swap_beta1": True},
        "the running average m gave the old value the weight (1 - beta1) "
        "and the new gradient beta1: it is the other way round, the old average keeps beta1",
    ),
    ({"beta2_is_beta1": True}, "v was averaged with beta1; v has its own rate, beta2"),
    ({"unsquared": True}, "v averages |g|; Adam's v is the running average of g squared"),
    ({"uphill": True}, "the step went uphill: an optimiser steps against the slope"),
    ({"decay": "none"}, "the weight decay is missing"),
]
COUPLED_SLIPS = [
    (
        {"decay": "decoupled"},
        "decoupled=False is Adam's L2 decay, which is part of the "
        "gradient (and so of m and v); you shrank the weight directly, which is AdamW's decay",
    ),
]
DECOUPLED_SLIPS = [
    ({"decay": "coupled"}, "the weight decay went into the gradient (and so into m and v): "
     "that is Adam's L2 decay, but decoupled=True asks for AdamW's, which leaves the gradient "
     "alone and shrinks the weight itself"),
    ({"decay": "after"}, "the weight was shrunk after the step; torch's AdamW shrinks it "
     "before, then steps"),
    ({"decay": "without_lr"}, "the decoupled decay must be scaled by the learning rate too: "
     "the weight shrinks by the fraction lr * weight_decay"),
]  # fmt: skip

ADAM_CASES = [  # optimiser, settings, parameter shape, gradient scale
    (torch.optim.Adam, {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
     (5,), 1.0),
    (torch.optim.AdamW, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-8, "weight_decay": 0.1},
     (3, 4), 10.0),
    (torch.optim.Adam, {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.05},
     (2, 3, 2), 0.1),
    (torch.optim.AdamW, {"lr": 0.02, "betas": (0.95, 0.9), "eps": 1e-8, "weight_decay": 0.01},
     (6,), 1e-5),  # gradients near eps: where eps sits matters
]  # fmt: skip


ADAM_INPUTS = ("param", "grad", "exp_avg", "exp_avg_sq", "step")
OUTPUTS = ("new_param", "new_exp_avg", "new_exp_avg_sq")


def adam_mistakes(step: Step, settings: dict, decoupled: bool) -> list:
    """Each slip's (new_param, new_exp_avg, new_exp_avg_sq) on this step, with its words."""
    inputs = (step.param, step.grad, step.state["exp_avg"], step.state["exp_avg_sq"], step.number)
    slips = ADAM_SLIPS + (DECOUPLED_SLIPS if decoupled else COUPLED_SLIPS)
    return [(adam_rule(*inputs, **settings, decoupled=decoupled, **s), says) for s, says in slips]


@exercise(
    "adam_step",
    lesson=7,
    title="Adam and AdamW, as torch.optim.Adam and AdamW",
    hints=(
        "Adam keeps two running averages per coordinate: m of the gradient and v of its "
        "square, each fading at its own rate (beta1, beta2). Both start at zero, so early on "
        "they are too small; Adam divides each by the fraction of its weight that has "
        "accumulated so far (the bias correction), then steps by lr * m_hat / (sqrt(v_hat) + "
        "eps). Weight decay is the difference between the two: Adam adds it to the gradient, "
        "AdamW shrinks the weight itself before the step.",
        "With t = step: Adam: g <- g + weight_decay * p. AdamW: p <- p * (1 - lr * "
        "weight_decay). Then m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2, "
        "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t), and p <- p - lr m_hat / "
        "(sqrt(v_hat) + eps). Return the new p, m and v.",
    ),
)
def check_adam_step(check: Check, adam_step) -> str:
    """``adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay,
    decoupled)`` -> (param, exp_avg, exp_avg_sq)."""
    names = ["exp_avg", "exp_avg_sq"]
    cases = [
        (optimizer, settings, torch_steps(optimizer, settings, shape, scale, 71 + i, names))
        for i, (optimizer, settings, shape, scale) in enumerate(ADAM_CASES)
    ]  # every expected value is torch's, recorded before the learner's code runs
    for optimizer, settings, steps in cases:
        decoupled = optimizer is torch.optim.AdamW
        for step in steps:
            check.case = (
                f"{describe(optimizer.__name__, settings)} at step {step.number} of {STEPS}"
            )
            inputs = (step.param, step.grad, step.state["exp_avg"], step.state["exp_avg_sq"])
            hyper = (step.number, *settings.values(), decoupled)
            received = check.call(adam_step, *inputs, *hyper, names=ADAM_INPUTS)
            wanted = (step.param_after, step.state_after["exp_avg"], step.state_after["exp_avg_sq"])
            slips = adam_mistakes(step, settings, decoupled)
            # The averages first: a slip there explains a wrong step.
            expect_step(check, OUTPUTS, wanted, received, slips, order=(1, 2, 0))
    return (
        f"{len(cases)} runs of {STEPS} steps match torch.optim.Adam and AdamW step for step, "
        "with and without weight decay, for gradients from 1e-5 to 10"
    )
