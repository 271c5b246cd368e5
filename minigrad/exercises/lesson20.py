"""Lesson 20's exercises: the gaps between 16-bit numbers, the loss-scale rule, master weights.

The expected values are closed forms computed in float64 before the learner's
code runs: a format with eps = 2**-m and smallest normal number 2**e_min
has, next to w, the gap

    spacing(w) = eps * 2**max(floor(log2 |w|), e_min)

(torch.nextafter agrees: the tests check it); the loss scale follows
:func:`minigrad.optim.next_scale` (torch's kernel agrees, in
tests/test_grad_scaler.py); an SGD step on float32 master weights is
master - lr * float32(grad), then rounded into the 16-bit copy.
"""

from __future__ import annotations

import math

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.optim.grad_scaler import next_scale

HALVES = (torch.float16, torch.bfloat16)


def exponent_floor(w: torch.Tensor) -> torch.Tensor:
    """floor(log2 |w|) in float64, -inf at 0."""
    return torch.floor(torch.log2(w.double().abs()))


def spacing_of(w: torch.Tensor, dtype: torch.dtype, lowest: bool = True) -> torch.Tensor:
    """The gap from |w| to the next larger number of ``dtype`` (``lowest``: with subnormals)."""
    info = torch.finfo(dtype)
    exponent = exponent_floor(w)
    if lowest:
        exponent = exponent.clamp_min(math.log2(info.smallest_normal))
    return info.eps * torch.exp2(exponent)


# -- the gap next to a number -------------------------------------------------------------

SPACING_CASES = [
    (torch.float16, [1.0, 1.5, 3.3, 0.7, -2.5, 1000.0, 0.01, -0.3]),
    (torch.bfloat16, [1.0, 1.5, 3.3, 0.7, -2.5, 1000.0, 0.01, 1e30, -3e-20]),
    (torch.float16, [2.0, 0.5, -4.0, 60000.0, 6.1e-5, 1e-5, 1e-6, 3e-7, 0.0]),
    (torch.float16, [0.09, 12.0, -100.0, 3e-4, 2e-5, -7e-6, 0.0, 0.25]),
]


@exercise(
    "spacing",
    lesson=20,
    title="the gap next to a number",
    hints=(
        "Between two powers of two, 2**e <= |w| < 2**(e+1), a format has its numbers equally "
        "spaced: as many as its fraction bits can count. So the gap is the gap at 1 (the "
        "format's eps, torch.finfo(dtype).eps) times 2**e, the power of two at or below |w|. "
        "Below the smallest normal number (torch.finfo(dtype).smallest_normal) the exponent "
        "cannot go lower, and the gap stops shrinking.",
        "gap(w) = eps * 2**e with e = floor(log2 |w|), except that e never goes below "
        "log2(smallest_normal): for float16 that is -14, so every |w| below 2**-14 (and 0) has "
        "the gap eps * 2**-14 = 2**-24. torch.floor, torch.log2 and torch.clamp work on "
        "tensors; compute in float64 so that nothing rounds on the way.",
    ),
)
def check_spacing(check: Check, spacing) -> str:
    """``spacing(w, dtype)``: the gap from each |w| to the next larger number of dtype."""
    for dtype, values in SPACING_CASES:
        w = torch.tensor(values, dtype=dtype)
        want = spacing_of(w, dtype)
        info = torch.finfo(dtype)
        size = w.double().abs()
        power_of_two = (size == torch.exp2(exponent_floor(w))) & (size > info.smallest_normal)
        other = torch.float16 if dtype == torch.bfloat16 else torch.bfloat16
        mistakes = (
            Mistake(info.eps * size, "that is eps * |w|: the gap does not grow "
                    "smoothly with w, it is the same for every w between two powers of two "
                    "(eps times the power of two at or below |w|)"),
            Mistake(torch.full_like(want, info.eps), "that is eps, the gap next to 1 only: "
                    "the gap doubles with every power of two"),
            Mistake(spacing_of(w, dtype, lowest=False), "right for ordinary numbers, wrong for "
                    f"the tiny ones: below {info.smallest_normal:.3g} (the smallest normal "
                    f"number of {dtype}) the gap stops shrinking, and 0 has that gap too"),
            Mistake(torch.finfo(torch.float32).eps * want / info.eps, "that is float32's gap: "
                    f"use the eps of {dtype}"),
            Mistake(torch.finfo(other).eps * want / info.eps, f"that is {other}'s eps: "
                    f"{dtype} has another number of fraction bits"),
            Mistake(torch.where(power_of_two, want / 2, want),
                    "right except at the powers of two: that is the gap *below* them, half "
                    "the gap above; the gap to the next larger number is asked for"),
        )  # fmt: skip
        check.case = f"{dtype}, w = {values}"
        received = check.call(spacing, w, dtype, names=("w", "dtype"))
        check.expect("the gap", want, received, rtol=1e-9, atol=0, mistakes=mistakes,
                     factors={0.5: "that is half the gap: the threshold below which an update "
                              "of w is lost, not the gap itself"})  # fmt: skip
    return (
        f"right in float16 and bfloat16 for {sum(len(v) for _, v in SPACING_CASES)} numbers, "
        "powers of two, subnormals and 0 among them"
    )


# -- the rule of dynamic loss scaling -------------------------------------------------------

# (growth_factor, backoff_factor, growth_interval, overflow pattern over the steps)
SCALE_CASES = [
    (2.0, 0.5, 3, "..x....x.x......x..."),
    (3.0, 0.25, 2, ".....x..xx....x..."),
    (2.0, 0.5, 1, "..x..x...."),
    (1.5, 0.4, 5, "..........x.........x......"),
]


@exercise(
    "scale_update",
    lesson=20,
    title="the rule of dynamic loss scaling",
    hints=(
        "Two things can happen after a step. Its gradients overflowed (an inf or a nan): the "
        "scale was too large, so make it smaller, and start counting good steps again. Or "
        "they were all finite: count one more good step, and once there have been "
        "growth_interval good steps in a row, try a larger scale and start counting again.",
        "With t the good steps counted so far: on an overflow, return (scale * "
        "backoff_factor, 0). Otherwise t + 1 good steps: if t + 1 equals growth_interval, "
        "return (scale * growth_factor, 0), else (scale, t + 1).",
    ),
)
def check_scale_update(check: Check, update_scale) -> str:
    """``update_scale(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval)``.

    It must return the next ``(scale, tracker)``. Each step is checked on the
    right state, so the first wrong step is named.
    """
    steps = 0
    for growth, backoff, interval, pattern in SCALE_CASES:
        scale, tracker = 2.0**10, 0
        for step, mark in enumerate(pattern):
            found_inf = mark == "x"
            rule = dict(growth_factor=growth, backoff_factor=backoff, growth_interval=interval)
            want = next_scale(scale, tracker, found_inf, **rule)
            check.case = (
                f"growth_factor {growth}, backoff_factor {backoff}, growth_interval {interval}, "
                f"step {step}: scale {scale:g} after {tracker} good step(s), "
                + ("an overflow" if found_inf else "no overflow")
            )
            received = check.call(update_scale, scale, tracker, found_inf, growth, backoff,
                                  interval)  # fmt: skip
            got_scale, got_tracker = check.expect_sequence(received, 2, "(scale, tracker)")
            check.expect("the scale", want[0], got_scale, rtol=1e-6, mistakes=_scale_mistakes(
                scale, tracker, found_inf, growth, backoff, interval, want[0]))  # fmt: skip
            check.expect("the tracker", want[1], got_tracker, mistakes=_tracker_mistakes(
                tracker, found_inf, interval))  # fmt: skip
            scale, tracker = want
            steps += 1
    return f"right on {steps} steps with four rules, overflows and growths among them"


def _scale_mistakes(scale, tracker, found_inf, growth, backoff, interval, want):
    if found_inf:
        return (
            Mistake(scale * growth, "an overflow means the scale was too large: it must shrink "
                    "(by backoff_factor), not grow"),
            Mistake(scale, "after an overflow the scale must shrink, by backoff_factor"),
            Mistake(scale / growth, "shrink by backoff_factor, not by 1 / growth_factor (the "
                    "two differ here)"),
        )  # fmt: skip
    if tracker + 1 == interval:
        return (Mistake(scale, f"this is good step number {interval} in a row, which makes it "
                        "time to grow: grow when the count *reaches* growth_interval (an "
                        "off-by-one)"),)  # fmt: skip
    early = "the scale grew too early: it grows only once growth_interval good steps in a row"
    return (
        Mistake(scale * growth, early + " have been counted (an off-by-one, or no counting)"),
        Mistake(scale * backoff, "no overflow here: the scale must not shrink"),
    )  # fmt: skip


def _tracker_mistakes(tracker, found_inf, interval):
    if found_inf:
        return (Mistake(tracker + 1, "an overflow is not a good step: the count starts again "
                        "from 0"),
                Mistake(tracker, "after an overflow the count of good steps starts again from "
                        "0"))  # fmt: skip
    if tracker + 1 == interval:
        return (Mistake(interval, "after the scale grows, the count starts again from 0"),)
    return (Mistake(tracker, "a step without overflow adds one to the count of good steps"),)


# -- float32 master weights ---------------------------------------------------------------------

# (dtype, start, learning rate, steps, gradient size): updates far below the weights' gaps
MASTER_CASES = [
    (torch.float16, [1.0, -0.7, 3.3], 1e-3, 60, 0.05),
    (torch.bfloat16, [0.5, 2.0, -1.25], 1e-2, 60, 0.05),
    (torch.float16, [0.002, -0.0015, 0.005], 1e-3, 40, 4e-6),  # lr * grad: 0 in float16
]
# The master is float32 and may be computed in more than one right way: m - lr * g rounds
# twice, m.add(g, alpha=-lr) (torch's SGD) once, so they can differ by an ulp. Two or three
# ulps are allowed; every case's step is several times larger.
MASTER_RTOL = 2.5e-7


def drawn_grads(steps: int, count: int, size: float, dtype, seed: int) -> torch.Tensor:
    """One gradient a step, ``count`` numbers each, around ``size``, in ``dtype``."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(steps, count, generator=generator) * size + size).to(dtype)


@exercise(
    "master_step",
    lesson=20,
    title="one SGD step on float32 master weights",
    hints=(
        "The 16-bit weight cannot hold a small change: w - lr * grad rounds back to w. So the "
        "optimiser works on a float32 copy, the master weight, which can, and the 16-bit "
        "weight the model computes with is only the master, rounded, after every step. Keep "
        "every part of the update in float32, the gradient included.",
        "All in float32: the new master is the old master minus lr times the gradient, "
        "with the gradient converted to float32 before the product. The new 16-bit weight is "
        "that new master, rounded to the weight's own dtype. Return both, the weight first.",
    ),
)
def check_master_step(check: Check, master_step) -> str:
    """``master_step(weight, master, grad, lr)``: (the new 16-bit weight, the new master)."""
    for seed, (dtype, start, lr, steps, size) in enumerate(MASTER_CASES):
        grads = drawn_grads(steps, len(start), size, dtype, seed)
        master = torch.tensor(start, dtype=torch.float32)
        weight = master.to(dtype)
        for step, grad in enumerate(grads):
            want_master = master - lr * grad.float()
            check.case = f"{dtype} weights {start}, lr {lr}, step {step}"
            received = check.call(master_step, weight, master, grad, lr,
                                  names=("weight", "master", "grad", "lr"))  # fmt: skip
            got_weight, got_master = check.expect_sequence(received, 2, "(weight, master)")
            _expect_dtype(check, "the master", got_master, torch.float32)
            _expect_dtype(check, "the weight", got_weight, dtype)
            check.expect("the master", want_master, got_master, rtol=MASTER_RTOL, atol=0,
                         mistakes=(
                Mistake(master - (lr * grad).float(), f"lr * grad was computed in {dtype}, "
                        "where it rounds to 0 (or loses digits) before it reaches the master: "
                        "convert the gradient to float32 first"),
                Mistake(master, "the master did not move: subtract lr * grad from it"),
                Mistake(weight.float() - lr * grad.float(), "the master was rebuilt from the "
                        "16-bit weight, so the small steps it had gathered are lost: update "
                        "the master you were given"),
                Mistake(master + lr * grad.float(), "the step goes uphill: subtract lr * grad"),
            ))  # fmt: skip
            rounded = got_master.to(dtype)  # the 16-bit weight is the master, rounded
            check.expect("the weight", rounded, got_weight, rtol=0, atol=0, mistakes=(
                Mistake(weight, "the 16-bit weight never moved: after the step it takes the "
                        "new master's value, rounded to its dtype"),
                Mistake((weight.double() - lr * grad.double()).to(dtype), "the 16-bit weight "
                        "was updated by itself, where the small step rounds away: give it "
                        "the master's new value instead"),
            ))  # fmt: skip
            weight, master = want_master.to(dtype), want_master
    return "the master and the 16-bit weight are right on every step of three runs"


def _expect_dtype(check: Check, name: str, value, dtype: torch.dtype) -> None:
    if isinstance(value, torch.Tensor) and value.dtype != dtype:
        check.fail(f"{name} is {value.dtype}, expected {dtype}",
                   "the master weights are float32 and the weights the model computes with "
                   "are 16-bit: keep each in its own dtype")  # fmt: skip
