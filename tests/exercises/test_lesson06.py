"""Lesson 6's checks: fans against torch.nn.init, an initialisation against 20 real layers."""

from __future__ import annotations

import math

import pytest
import torch

from minigrad.exercises import lesson06
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- conv_fans --------------------------------------------------------------------------------


def fans_by_torch(shape):
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_conv_fans_passes_the_solution_and_torchs_fans(capsys):
    assert_passes("conv_fans", solution("conv_fans"), capsys)
    assert_passes("conv_fans", fans_by_torch, capsys)
    assert_passes("conv_fans", lambda s: [math.prod(s) // s[0], math.prod(s) // s[1]], capsys)


def test_conv_fans_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("conv_fans", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda s: fans_by_torch(s)[::-1], ["(64, 128)", "swapped"]),
        (lambda s: (s[1], s[0]), ["(16, 3, 5, 5)", "the kernel is missing"]),
        (lambda s: (s[1] * math.prod(s[2:]), s[0]), ["fan_out", "the kernel is missing"]),
        (lambda s: (128, 64), ["(10, 1)", "fan_in is wrong"]),
        (lambda s: fans_by_torch(s)[0], ["a pair (fan_in, fan_out)"]),
    ],
    ids=["swapped", "no-kernel", "no-kernel-out", "hard-coded", "not-a-pair"],
)
def test_conv_fans_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("conv_fans", wrong, capsys, *words)


# -- deep_init ------------------------------------------------------------------------------


def kaiming_std(fan_in):
    """torch's own He initialisation, measured: the std of kaiming_normal_ for ReLU."""
    return torch.nn.init.calculate_gain("relu") / math.sqrt(fan_in)


def test_deep_init_passes_the_solution_and_torchs_kaiming_std(capsys):
    assert_passes("deep_init", solution("deep_init"), capsys)
    assert_passes("deep_init", kaiming_std, capsys)


def test_the_check_measures_the_signal_with_torchs_kaiming_init():
    """The network the check builds keeps torch's Kaiming-initialised signal in range, and
    loses a Glorot-like one: the check's verdicts agree with torch's own initialisers."""
    for width in (64, 512):
        w = torch.empty(width, width, dtype=torch.float64)
        torch.nn.init.kaiming_normal_(w, nonlinearity="relu")
        assert 0.5 < lesson06.activation_ratio(float(w.std()), width) < 2
        assert lesson06.activation_ratio(1 / math.sqrt(width), width) < 0.01


def test_deep_init_gap_fails_without_giving_the_answer(capsys):
    assert_gap_fails_quietly("deep_init", capsys)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda f: 1 / math.sqrt(f), ["width 128", "shrinks by about sqrt(2) per layer"]),
        (lambda f: 2 / f, ["the variance, not the standard deviation"]),
        (lambda f: math.sqrt(1 / (2 * f)), ["grow the variance, not shrink it"]),
        (lambda f: 0.125, ["width 512", "the same at every width"]),
        (lambda f: 0.5 / math.sqrt(f), ["dies out"]),
        (lambda f: 3 / math.sqrt(f), ["blows up"]),
        (lambda f: None, ["expected a number"]),
    ],
    ids=["glorot-like", "variance", "inverted", "hard-coded", "small", "large", "none"],
)
def test_deep_init_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("deep_init", wrong, capsys, *words)
