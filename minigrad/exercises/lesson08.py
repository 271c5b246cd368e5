"""Lesson 8's exercises: a warm-up-then-cosine schedule, and where ``scheduler.step()`` goes.

Both are matched epoch by epoch against torch.optim.lr_scheduler, stepped the
way torch documents (once, after each epoch's training). Most schedule bugs
are off by one epoch somewhere, so the checks compute what each such slip
gives on the same settings and name it when the learner's curve matches.
"""

from __future__ import annotations

import math
import warnings

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.exercises.compare import mismatch, number
from minigrad.exercises.diagnoses import as_float64
from minigrad.optim import SGD, ChainedScheduler, CosineAnnealingLR, LinearLR, StepLR
from minigrad.variable import tensor

# Loose enough for a rate computed in float32, tight enough for any slip of an epoch.
CURVE_TOLERANCE = {"rtol": 1e-6, "atol": 1e-12}


def torch_rates(base_lr: float, epochs: int, batches: int, make_scheduler) -> list[float]:
    """The rate torch's optimiser holds at each batch, stepping the scheduler after each epoch."""
    optimizer = torch.optim.SGD([torch.zeros(1)], lr=base_lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR steps its parts with an epoch: a warning
        scheduler = make_scheduler(optimizer)
        rates = []
        for _ in range(epochs):
            rates += [optimizer.param_groups[0]["lr"]] * batches
            optimizer.step()
            scheduler.step()
    return rates


def expect_curve(check: Check, want: list, got: list, mistakes=(), where=str) -> None:
    """FAIL at the first rate that differs (``where(i)`` names position i), saying what slip."""
    found = mismatch(
        "the learning rates",
        torch.tensor(want, dtype=torch.float64),
        torch.tensor(got, dtype=torch.float64),
        mistakes=tuple(mistakes),
        **CURVE_TOLERANCE,
    )
    if found is None:
        return
    rtol, atol = CURVE_TOLERANCE["rtol"], CURVE_TOLERANCE["atol"]
    bad = [i for i, (w, g) in enumerate(zip(want, got)) if abs(w - g) > atol + rtol * abs(w)]
    first = bad[0] if bad else 0
    check.fail(
        f"the learning rate at {where(first)} is wrong: expected {number(want[first])}, "
        f"received {number(got[first])} ({len(bad)} of {len(want)} rates differ)",
        found.diagnosis,
    )


# -- warm-up, then cosine ---------------------------------------------------------------


def warmup_cosine_rule(epoch, base_lr, warmup, epochs, start_factor, lr_min, **slip):
    """The rate during ``epoch``, as torch's SequentialLR(LinearLR, CosineAnnealingLR) gives it.

    Slips: ``shift`` (an epoch early or late), ``short_ramp``, ``ramp_from_zero``,
    ``no_restart``, ``whole_span``, ``no_floor``, ``rising``.
    """
    e = epoch + slip.get("shift", 0)
    if e < warmup:
        ramp = warmup - 1 if slip.get("short_ramp") else warmup
        start = 0.0 if slip.get("ramp_from_zero") else start_factor
        return base_lr * (start + (1 - start) * min(e / ramp, 1.0)) if ramp else base_lr
    t = e if slip.get("no_restart") else e - warmup
    span = epochs if slip.get("whole_span") else epochs - warmup
    low = 0.0 if slip.get("no_floor") else lr_min
    wave = -math.cos(math.pi * t / span) if slip.get("rising") else math.cos(math.pi * t / span)
    return low + (base_lr - low) * (1 + wave) / 2


WARMUP_SLIPS = [
    ({"shift": 1}, "your curve runs one epoch early: at epoch e it has the rate of epoch e + 1. "
     "The value at epoch e is the rate used during epoch e, and epoch 0 starts the schedule"),
    ({"shift": -1}, "your curve runs one epoch late: at epoch e it has the rate of epoch e - 1. "
     "The value at epoch 0 is already the first rate of the schedule"),
    ({"short_ramp": True}, "the warm-up reaches base_lr one epoch early: torch's LinearLR is "
     "still one step short of it at epoch warmup - 1, and base_lr comes at epoch warmup, "
     "where the cosine begins"),
    ({"ramp_from_zero": True}, "the warm-up starts from 0: it starts from start_factor * "
     "base_lr"),
    ({"no_restart": True}, "the cosine counts its epochs from epoch 0; it begins at the end "
     "of the warm-up, so count them from there"),
    ({"whole_span": True}, "the cosine is spread over all the epochs; it has only those after "
     "the warm-up"),
    ({"no_floor": True}, "the cosine falls towards 0: it falls towards lr_min"),
    ({"rising": True}, "the cosine climbs from the bottom: it starts at base_lr and falls"),
]  # fmt: skip

WARMUP_CASES = [  # base_lr, warmup, epochs, start_factor, lr_min
    (0.1, 5, 20, 0.1, 0.001),
    (1.0, 3, 10, 0.25, 0.0),
    (0.03, 1, 7, 0.5, 1e-4),
    (2.0, 8, 40, 0.01, 0.1),
]


def torch_warmup_cosine(base_lr, warmup, epochs, start_factor, lr_min) -> list[float]:
    """torch's rates for the schedule, epoch by epoch."""
    lr = torch.optim.lr_scheduler

    def make(optimizer):
        ramp = lr.LinearLR(optimizer, start_factor=start_factor, total_iters=warmup)
        decay = lr.CosineAnnealingLR(optimizer, T_max=epochs - warmup, eta_min=lr_min)
        return lr.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])

    return torch_rates(base_lr, epochs, 1, make)


@exercise(
    "warmup_cosine",
    lesson=8,
    title="warm-up, then cosine annealing, epoch by epoch",
    hints=(
        "Two pieces joined at epoch `warmup`. Before it, the rate climbs in a straight line "
        "that starts at start_factor * base_lr and would reach base_lr at epoch `warmup` "
        "itself. From epoch `warmup` on, half a cosine falls from base_lr to lr_min over the "
        "remaining epochs - warmup epochs, counted from the join. Count every epoch from 0, "
        "and give the rate used *during* the epoch.",
        "For e < warmup: base_lr * (start_factor + (1 - start_factor) * e / warmup). For e >= "
        "warmup, with t = e - warmup and T = epochs - warmup: lr_min + (base_lr - lr_min) * "
        "(1 + cos(pi t / T)) / 2.",
    ),
)
def check_warmup_cosine(check: Check, warmup_cosine) -> str:
    """``warmup_cosine(epoch, base_lr, warmup, epochs, start_factor, lr_min)`` -> the rate."""
    cases = [(settings, torch_warmup_cosine(*settings)) for settings in WARMUP_CASES]
    for settings, want in cases:
        base_lr, warmup, epochs, start_factor, lr_min = settings
        check.case = (
            f"base_lr={base_lr}, warmup={warmup}, epochs={epochs}, start_factor={start_factor}, "
            f"lr_min={lr_min}"
        )
        got = []
        for epoch in range(epochs):
            rate = check.call(warmup_cosine, epoch, *settings, names=("epoch",))
            value = as_float64(rate)
            if value is None or value.numel() != 1:
                check.fail(f"the rate for epoch {epoch} should be a number, received {rate!r:.60}")
            got.append(float(value))
        mistakes = [
            Mistake(
                torch.tensor([warmup_cosine_rule(e, *settings, **slip) for e in range(epochs)]),
                says,
            )
            for slip, says in WARMUP_SLIPS
        ]
        expect_curve(check, want, got, mistakes, where=lambda e: f"epoch {e}")
    return (
        f"every epoch of {len(cases)} schedules matches torch's SequentialLR(LinearLR, "
        "CosineAnnealingLR), warm-ups from 1 to 8 epochs"
    )


# -- the epoch loop: where scheduler.step() goes -------------------------------------------

LOOP_SLIPS = {  # where a loop steps the scheduler, and what to say
    "before": "every epoch trained with the next epoch's rate: the scheduler was stepped before "
    "the epoch's batches; step it once the epoch is over",
    "every_batch": "the scheduler was stepped after every batch, so the schedule ran `batches` "
    "times too fast: it counts epochs, so step it once per epoch",
    "never": "the rate never changed: the scheduler was never stepped",
    "twice": "the schedule ran twice as fast: the scheduler was stepped twice per epoch",
}


def loop_rates(make_scheduler, epochs: int, batches: int, steps: str) -> list[float]:
    """The rates of a loop that steps a fresh minigrad scheduler ``steps`` ("after", ...)."""
    optimizer, scheduler = make_scheduler()
    rates = []
    for _ in range(epochs):
        if steps == "before":
            scheduler.step()
        for _ in range(batches):
            rates.append(optimizer.lr)
            if steps == "every_batch":
                scheduler.step()
        for _ in range({"after": 1, "twice": 2}.get(steps, 0)):
            scheduler.step()
    return rates


def _step_lr(base_lr):
    optimizer = SGD([tensor([0.0], requires_grad=True)], lr=base_lr)
    return optimizer, StepLR(optimizer, step_size=2, gamma=0.5)


def _cosine(base_lr, t_max):
    optimizer = SGD([tensor([0.0], requires_grad=True)], lr=base_lr)
    return optimizer, CosineAnnealingLR(optimizer, t_max=t_max, lr_min=0.01 * base_lr)


def _warm_cosine(base_lr, warmup, t_max):
    optimizer = SGD([tensor([0.0], requires_grad=True)], lr=base_lr)
    ramp = LinearLR(optimizer, epochs=warmup, start_factor=0.2, end_factor=1.0)
    return optimizer, ChainedScheduler(ramp, CosineAnnealingLR(optimizer, t_max=t_max))


def _torch_warm_cosine(optimizer, warmup, t_max):
    lr = torch.optim.lr_scheduler
    ramp = lr.LinearLR(optimizer, start_factor=0.2, total_iters=warmup)
    decay = lr.CosineAnnealingLR(optimizer, T_max=t_max)
    return lr.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])


LOOP_CASES = [  # minigrad's scheduler, torch's, base_lr, epochs, batches per epoch
    ("StepLR(step_size=2, gamma=0.5)", lambda: _step_lr(0.1),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5), 0.1, 6, 3),
    ("CosineAnnealingLR(t_max=5)", lambda: _cosine(0.5, 5),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.005), 0.5, 5, 4),
    ("a 3-epoch warm-up, then CosineAnnealingLR(t_max=4)", lambda: _warm_cosine(1.0, 3, 4),
     lambda o: _torch_warm_cosine(o, 3, 4), 1.0, 7, 2),
]  # fmt: skip


@exercise(
    "epoch_loop",
    lesson=8,
    title="where scheduler.step() goes in the training loop",
    hints=(
        "A scheduler counts epochs, and the rate it sets for epoch e is meant for every batch "
        "of epoch e. So every batch of an epoch must see the same rate, and the scheduler moves "
        "on only when the epoch is over.",
        "Two nested loops, over the epochs and over the batches of each; call train_batch once "
        "per batch, and step the scheduler once per epoch, after that epoch's batches.",
    ),
)
def check_epoch_loop(check: Check, train_epochs) -> str:
    """``train_epochs(epochs, batches, train_batch, scheduler)`` trains with the right rates."""
    cases = [
        (name, make, base_lr, epochs, batches, torch_rates(base_lr, epochs, batches, make_torch))
        for name, make, make_torch, base_lr, epochs, batches in LOOP_CASES
    ]
    for name, make, _, epochs, batches, want in cases:
        check.case = f"{name}, {epochs} epochs of {batches} batches"
        optimizer, scheduler = make()
        seen = []
        check.call(
            train_epochs,
            epochs,
            batches,
            lambda optimizer=optimizer, seen=seen: seen.append(optimizer.lr),
            scheduler,
            names=("epochs", "batches", "train_batch", "scheduler"),
        )
        if len(seen) != len(want):
            check.fail(
                f"train_batch was called {len(seen)} times; {epochs} epochs of {batches} "
                f"batches are {len(want)} calls",
                "every batch of every epoch is trained once",
            )
        mistakes = [
            Mistake(torch.tensor(loop_rates(make, epochs, batches, where)), says)
            for where, says in LOOP_SLIPS.items()
        ]
        expect_curve(
            check,
            want,
            seen,
            mistakes,
            where=lambda i, n=batches: f"epoch {i // n}, batch {i % n}",
        )
    return (
        f"every batch of {len(cases)} runs trained with torch's rate for its epoch (StepLR, "
        "cosine, and a warm-up chained to a cosine)"
    )
