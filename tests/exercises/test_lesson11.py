"""Lesson 11's checks: where tensors are made, and state that moves with a module.

The other right formulations: torch's own one_hot, and a comparison with an
arange made on the labels' device; a Standardize that keeps a shift and a
scale instead of the mean and the std. On a machine with CUDA the checks also
run there (and the test that they do is skipped elsewhere).
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import nn
from minigrad.exercises import lesson11
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- one_hot -------------------------------------------------------------------------------


def one_hot_by_torch(labels, num_classes, dtype):
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype)


def one_hot_by_comparison(labels, num_classes, dtype):
    return (labels[:, None] == torch.arange(num_classes, device=labels.device)).to(dtype)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (
            lambda labels, c, dtype: torch.zeros(len(labels), c, dtype=dtype).scatter_(
                1, labels[:, None], 1.0
            ),
            ["on meta", "lives on cpu, but the input lives on meta", "on the CPU unless"],
        ),
        (
            lambda labels, c, dtype: (labels[:, None] == torch.arange(c)).to(dtype),
            ["on meta", "DeviceError", "the device of the input"],
        ),
        (
            lambda labels, c, dtype: torch.eye(c, dtype=dtype, device=labels.device)[
                labels.tolist()
            ],
            ["on meta", "Cannot copy out of meta tensor", "reads values out of a tensor"],
        ),
        (
            lambda labels, c, dtype: torch.nn.functional.one_hot(labels, c),
            ["on cpu", "dtype torch.int64", "torch's default dtype"],
        ),
        (lambda labels, c, dtype: one_hot_by_torch(labels, c, dtype).T, ["the transpose"]),
        (lambda labels, c, dtype: 1 - one_hot_by_torch(labels, c, dtype), ["wrong way round"]),
        (lambda labels, c, dtype: labels, ["dtype torch.int64"]),
    ],
    ids=["cpu-zeros", "cpu-arange", "tolist", "int64", "transposed", "inverted", "labels"],
)
def test_one_hot_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("one_hot", wrong, capsys, *words)


# -- standardize ---------------------------------------------------------------------------


class ShiftAndScale(nn.Module):
    """The same layer, keeping -mean and 1 / (std + eps): other buffers, same outputs."""

    def __init__(self, data, eps=1e-5):
        super().__init__()
        self.register_buffer("shift", -data.mean(0))
        self.register_buffer("scale", 1 / (data.std(0) + eps))

    def forward(self, x):
        return (x + self.shift) * self.scale


def standardize(store="buffer", std=lambda data: data.std(0), eps_on=True, power=1):
    class Slipped(nn.Module):
        def __init__(self, data, eps=1e-5):
            super().__init__()
            mean, spread = data.mean(0), std(data) ** power
            if store == "buffer":
                self.register_buffer("mean", mean)
                self.register_buffer("std", spread)
            elif store == "parameter":
                self.mean, self.std = mg.tensor(mean), mg.tensor(spread)
            else:
                self.mean, self.std = mean, spread  # plain attributes: invisible to the module
            self.eps = eps if eps_on else 0.0

        def forward(self, x):
            return (x - self.mean) / (self.std + self.eps)

    return Slipped


@pytest.mark.parametrize(
    "wrong, words",
    [
        (standardize(store="plain"), ["state_dict() gives other outputs", "buffers"]),
        (standardize(store="parameter"), ["the layer has parameters: mean, std", "not learned"]),
        (standardize(std=lambda d: d.std(0, correction=0)), ["population standard deviation"]),
        (standardize(eps_on=False), ["eps is missing"]),
        (standardize(power=2), ["divides by the variance"]),
        (lambda data, eps=1e-5: data, ["subclass of nn.Module"]),
    ],
    ids=["plain-attributes", "parameters", "population-std", "no-eps", "variance", "not-a-module"],
)
def test_standardize_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("standardize", wrong, capsys, *words)


def test_standardize_with_plain_attributes_fails_on_meta_if_its_state_dict_is_faked(capsys):
    """A layer whose state_dict() is right but whose tensors are not registered still fails."""

    class FakedStateDict(standardize(store="plain")):
        def state_dict(self):
            return {"mean": self.mean, "std": self.std}

        def load_state_dict(self, state, strict=True):
            self.mean, self.std = state["mean"], state["std"]

    assert_fails("standardize", FakedStateDict, capsys, ".to('meta')", "DeviceError")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_checks_also_run_on_cuda(capsys):
    assert "cuda" in lesson11.PLACES
    out = assert_passes("one_hot", solution("one_hot"), capsys)
    assert "cuda" in out
    assert "cuda" in assert_passes("standardize", solution("standardize"), capsys)


# -- both ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("one_hot", one_hot_by_torch),
        ("one_hot", one_hot_by_comparison),
        ("standardize", ShiftAndScale),
    ],
    ids=["torch", "comparison", "shift-and-scale"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["one_hot", "standardize"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)
