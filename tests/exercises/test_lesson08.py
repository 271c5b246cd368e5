"""Lesson 8's checks: schedules against torch.optim.lr_scheduler, the oracle.

The other right formulations are torch's own schedulers, stepped as torch
documents, and minigrad's ChainedScheduler (checked against torch elsewhere).
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson08
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- warmup_cosine ---------------------------------------------------------------------


def warmup_cosine_by_torch(epoch, base_lr, warmup, epochs, start_factor, lr_min):
    optimizer = torch.optim.SGD([torch.zeros(1)], lr=base_lr)
    sched = torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schedule = sched.SequentialLR(
            optimizer,
            [
                sched.LinearLR(optimizer, start_factor=start_factor, total_iters=warmup),
                sched.CosineAnnealingLR(optimizer, T_max=epochs - warmup, eta_min=lr_min),
            ],
            milestones=[warmup],
        )
        for _ in range(epoch):
            optimizer.step()
            schedule.step()
    return optimizer.param_groups[0]["lr"]


def warmup_cosine_by_minigrad(epoch, base_lr, warmup, epochs, start_factor, lr_min):
    optimizer = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=base_lr)
    ramp = mg.optim.LinearLR(optimizer, epochs=warmup, start_factor=start_factor, end_factor=1.0)
    decay = mg.optim.CosineAnnealingLR(optimizer, t_max=epochs - warmup, lr_min=lr_min)
    return torch.tensor(mg.optim.ChainedScheduler(ramp, decay).lr_at(epoch))  # float32, 0-d


def rule(**slip):
    return lambda *args: lesson08.warmup_cosine_rule(*args, **slip)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (rule(shift=1), ["at epoch 0 is wrong", "one epoch early"]),
        (rule(shift=-1), ["at epoch 0 is wrong", "one epoch late"]),
        (rule(short_ramp=True), ["warmup=5", "at epoch 1 is", "warm-up reaches base_lr one"]),
        (rule(ramp_from_zero=True), ["warm-up starts from 0"]),
        (rule(no_restart=True), ["at epoch 5 is wrong", "counts its epochs from epoch 0"]),
        (rule(whole_span=True), ["spread over all the epochs"]),
        (rule(no_floor=True), ["falls towards 0"]),
        (rule(rising=True), ["climbs from the bottom"]),
        (lambda *args: 0.1, ["at epoch 0 is wrong"]),
        (lambda *args: [0.1], ["should be a number"]),
    ],
    ids=[
        "early",
        "late",
        "short-ramp",
        "ramp-from-zero",
        "no-restart",
        "whole-span",
        "no-floor",
        "rising",
        "constant",
        "a-list",
    ],
)
def test_warmup_cosine_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("warmup_cosine", wrong, capsys, *words)


def test_warmup_cosine_fails_the_first_case_hard_coded(capsys):
    curve = lesson08.torch_warmup_cosine(*lesson08.WARMUP_CASES[0])
    assert_fails("warmup_cosine", lambda e, *rest: curve[e], capsys, "base_lr=1.0")


# -- epoch_loop ------------------------------------------------------------------------------


def loop_over_batches(epochs, batches, train_batch, scheduler):
    for _ in range(epochs * batches):
        train_batch()
        if (_ + 1) % batches == 0:
            scheduler.step()


def loop(where):
    def train_epochs(epochs, batches, train_batch, scheduler):
        for _ in range(epochs):
            if where == "before":
                scheduler.step()
            for _ in range(batches):
                train_batch()
                if where == "every_batch":
                    scheduler.step()
            for _ in range({"twice": 2, "after": 1}.get(where, 0)):
                scheduler.step()

    return train_epochs


@pytest.mark.parametrize(
    "wrong, words",
    [
        (loop("before"), ["StepLR", "at epoch 1, batch 0 is wrong", "the next epoch's rate"]),
        (loop("every_batch"), ["at epoch 0, batch 2 is wrong", "after every batch"]),
        (loop("never"), ["at epoch 2, batch 0", "never stepped"]),
        (loop("twice"), ["at epoch 1, batch 0", "twice per epoch"]),
        (
            lambda epochs, batches, train_batch, scheduler: [train_batch() for _ in range(epochs)],
            ["called 6 times", "18 calls"],
        ),
    ],
    ids=["before", "every-batch", "never", "twice", "one-batch-per-epoch"],
)
def test_epoch_loop_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("epoch_loop", wrong, capsys, *words)


def test_the_loops_rates_are_torchs():
    """The check's expected rates are torch's: the same as minigrad's schedule, epoch by epoch."""
    for name, make, make_torch, base_lr, epochs, batches in lesson08.LOOP_CASES:
        rates = lesson08.torch_rates(base_lr, epochs, batches, make_torch)
        _, scheduler = make()
        ours = [rate for rate in scheduler.lr_curve(epochs) for _ in range(batches)]
        assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(rates, ours)), name


# -- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("warmup_cosine", warmup_cosine_by_torch),
        ("warmup_cosine", warmup_cosine_by_minigrad),
        ("epoch_loop", loop("after")),
        ("epoch_loop", loop_over_batches),
    ],
    ids=["torch", "minigrad-chained", "nested-loops", "one-flat-loop"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["warmup_cosine", "epoch_loop"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)


def test_a_curve_one_part_in_ten_thousand_off_fails(capsys):
    """The tolerance admits float32 rounding (1e-7), not a rate that is slightly wrong."""
    right = solution("warmup_cosine")
    assert_fails("warmup_cosine", lambda *args: right(*args) * 1.0001, capsys, "at epoch 0")
