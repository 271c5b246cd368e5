"""Lesson 6's exercises: fan-in and fan-out, and an initialisation that keeps 20 layers alive."""

from __future__ import annotations

import math

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.exercises.diagnoses import as_float64

# -- fan-in and fan-out ----------------------------------------------------------------------


@exercise(
    "conv_fans",
    lesson=6,
    title="fan-in and fan-out of linear and conv weights",
    hints=(
        "A weight's shape is (out, in, *kernel): a linear layer has no kernel dimensions, a "
        "1-D, 2-D or 3-D convolution has one, two or three. The fan-in counts how many "
        "input values one output value sums over; the fan-out, how many output values one "
        "input value reaches.",
        "One output of a convolution sums over every input channel at every position of its "
        "kernel: fan_in = in * (product of the kernel sizes). Likewise fan_out = out * "
        "(product of the kernel sizes). For a linear weight that product is 1.",
    ),
)
def check_conv_fans(check: Check, fans) -> str:
    """``fans(shape)`` must return (fan_in, fan_out) of a weight of that shape, as torch does."""
    shapes = [(64, 128), (10, 1), (16, 3, 5, 5), (8, 4, 3), (6, 2, 3, 3, 3), (32, 16, 1, 1)]
    shapes.append((5, 7, 2, 3))
    for shape in shapes:
        check.case = f"a weight of shape {shape}"
        kernel = math.prod(shape[2:])
        fan_in, fan_out = shape[1] * kernel, shape[0] * kernel
        received = check.call(fans, shape, names=("shape",))
        got_in, got_out = check.expect_sequence(received, 2, "a pair (fan_in, fan_out)")
        swapped = Mistake(fan_out, "fan_in and fan_out are swapped: a weight's shape lists the "
                          "outputs first, then the inputs")  # fmt: skip
        no_kernel = (
            "the kernel is missing: one output sums over a whole patch, every kernel position "
            "of every input channel"
        )
        check.expect("fan_in", fan_in, got_in, mistakes=(swapped, Mistake(shape[1], no_kernel)))
        swapped = Mistake(fan_in, swapped.says)
        check.expect("fan_out", fan_out, got_out, mistakes=(swapped, Mistake(shape[0], no_kernel)))
    return f"right for {len(shapes)} weights: linear, and 1-D, 2-D and 3-D convolutions"


# -- an initialisation that keeps layer 20 alive ------------------------------------------


def activation_ratio(std: float, width: int, depth: int = 20, seed: int = 6) -> float:
    """std of the activations after ``depth`` ReLU layers over their std after the first."""
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(256, width, generator=generator, dtype=torch.float64)
    first = None
    for _ in range(depth):
        w = torch.randn(width, width, generator=generator, dtype=torch.float64) * std
        h = torch.relu(h @ w.T)
        first = float(h.std()) if first is None else first
    return float(h.std()) / first if first else 0.0


@exercise(
    "deep_init",
    lesson=6,
    title="an initialisation that keeps 20 ReLU layers alive",
    hints=(
        "One layer's output is a sum of fan_in products w * x: its variance is fan_in * "
        "Var(w) * E[x^2]. ReLU then zeroes about half of the values, which halves the second "
        "moment. Choose Var(w) so that one layer times the other leaves the size unchanged.",
        "fan_in * Var(w) / 2 = 1, so Var(w) = 2 / fan_in. The function returns the standard "
        "deviation, the square root of the variance.",
    ),
)
def check_deep_init(check: Check, relu_init_std) -> str:
    """``relu_init_std(fan_in)``: a weight std that keeps a deep ReLU net's activations in range."""
    stds = []
    for width in (128, 512, 64):
        check.case = f"20 ReLU layers of width {width}"
        received = check.call(relu_init_std, width, names=("fan_in",))
        std = as_float64(received)
        if std is None or std.numel() != 1:
            check.fail(f"expected a number (the std), received {type(received).__name__}")
        std = float(std)
        stds.append(std)
        ratio = activation_ratio(std, width) if math.isfinite(std) else float("nan")
        if 0.5 <= ratio <= 2:
            continue
        mistakes = (
            Mistake(1 / math.sqrt(width), "that is 1/sqrt(fan_in), right for a linear "
                    "unit: ReLU zeroes half its inputs and halves the variance, so the signal "
                    "shrinks by about sqrt(2) per layer"),
            Mistake(2 / width, "that looks like the variance, not the standard deviation"),
            Mistake(math.sqrt(1 / (2 * width)), "the factor 2 should grow the variance, "
                    "not shrink it: ReLU halves the signal, the init must double it"),
        )  # fmt: skip
        diagnosis = next(
            (m.says for m in mistakes if math.isclose(std, m.value, rel_tol=1e-6)), None
        )
        if diagnosis is None and len(set(stds)) == 1 and len(stds) > 1:
            diagnosis = (
                "your std is the same at every width, but the variance of a sum grows with "
                "the number of terms: the std must depend on fan_in"
            )
        if diagnosis is None:
            diagnosis = (
                "the signal "
                + ("dies out" if ratio < 0.5 else "blows up")
                + (": the std is too " + ("small" if ratio < 0.5 else "large"))
            )
        check.fail(
            f"with std {std:.4g}, layer 20's activations are {ratio:.3g}x the size of layer 1's "
            "(they should stay between 0.5x and 2x)",
            diagnosis,
        )
    return "layer 20's activations stay the size of layer 1's at widths 64, 128 and 512"
