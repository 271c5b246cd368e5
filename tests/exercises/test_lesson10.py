"""Lesson 10's checks: an inverted-dropout gate, and an exact resume.

The other right formulations: dropout with torch's own bernoulli_ draw, checked
here against torch.autograd through the same mask; a resume written with
minigrad's save_checkpoint / load_checkpoint through a real file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch

import minigrad as mg
from minigrad.exercises import lesson10
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- inverted_dropout ------------------------------------------------------------------------


class BernoulliDropout(mg.Gate):
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        self.scale = torch.empty_like(x).bernoulli_(1 - self.p) / (1 - self.p)
        return x * self.scale

    def backward(self, grad_output):
        return (grad_output * self.scale,)


def test_bernoulli_dropout_agrees_with_torch_autograd_through_its_mask():
    x = torch.randn(50, 40, dtype=torch.float64)
    g = torch.randn(50, 40, dtype=torch.float64)
    leaf = mg.tensor(x.clone(), requires_grad=True)
    gate = BernoulliDropout(0.3)
    y = gate(leaf)
    y.backward(g)
    xt = x.clone().requires_grad_(True)
    (xt * gate.scale).backward(g)  # the oracle: autograd through the same mask, as a constant
    torch.testing.assert_close(leaf.grad, xt.grad)
    torch.testing.assert_close(y.value, (x * gate.scale))


def dropout_gate(keep=lambda x, p: torch.rand_like(x) >= p, scale=lambda p: 1 / (1 - p), **slip):
    class Slipped(mg.Gate):
        def __init__(self, p):
            self.p = p

        def forward(self, x):
            if slip.get("seeded"):
                torch.manual_seed(0)
            self.mask = keep(x, self.p).to(x.dtype) * scale(self.p)
            return x * self.mask

        def backward(self, grad_output):
            if slip.get("new_mask"):
                return (grad_output * (torch.rand_like(grad_output) >= self.p) / (1 - self.p),)
            if slip.get("unscaled_grad"):
                return (grad_output * (self.mask != 0),)
            if slip.get("no_grad_output"):
                return (self.mask.clone(),)
            return (grad_output * self.mask,)

    return Slipped


@pytest.mark.parametrize(
    "wrong, words",
    [
        (dropout_gate(scale=lambda p: 1.0), ["p = 0.25", "not scaled"]),
        (dropout_gate(scale=lambda p: 1 - p), ["scaled by (1 - p)"]),
        (
            dropout_gate(keep=lambda x, p: torch.rand_like(x) < p, scale=lambda p: 1 / p),
            ["divided by p"],
        ),
        (dropout_gate(keep=lambda x, p: torch.rand_like(x) < p), ["p = 0.25", "fraction 1 - p"]),
        (dropout_gate(seeded=True), ["exactly the same values", "new mask"]),
        (dropout_gate(new_mask=True), ["zero at other places", "the mask that forward drew"]),
        (dropout_gate(unscaled_grad=True), ["x.grad", "not scaled like the value"]),
        (dropout_gate(no_grad_output=True), ["x.grad", "grad_output"]),
        (lambda p: None, ["subclass of mg.Gate"]),
    ],
    ids=[
        "unscaled",
        "scaled-by-keep",
        "p-is-keep-and-divides",
        "p-is-keep",
        "seeded",
        "new-mask",
        "unscaled-grad",
        "no-grad-output",
        "not-a-gate",
    ],
)
def test_inverted_dropout_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("inverted_dropout", wrong, capsys, *words)


def test_inverted_dropout_check_leaves_the_random_state_alone(capsys):
    before = torch.get_rng_state()
    assert_passes("inverted_dropout", solution("inverted_dropout"), capsys)
    assert torch.equal(torch.get_rng_state(), before)


# -- exact_resume ---------------------------------------------------------------------------


def resume_through_a_real_file():
    folder = Path(tempfile.mkdtemp())

    def capture(model, optimizer, scheduler, loader):
        path = mg.save_checkpoint(folder / "run.ckpt", model, optimizer, scheduler, loader=loader)
        return {"bytes": torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)}

    def restore(saved, model, optimizer, scheduler, loader):
        path = folder / "copy.ckpt"
        path.write_bytes(saved["bytes"].numpy().tobytes())
        mg.load_checkpoint(path, model, optimizer, scheduler, loader=loader)

    return capture, restore


def resume_without(*left_out):
    capture, restore = solution("exact_resume")

    def partial_capture(model, optimizer, scheduler, loader):
        saved = capture(model, optimizer, scheduler, loader)
        if "buffers" in left_out:
            saved["model"] = {n: p.value for n, p in model.named_parameters()}
        return {k: v for k, v in saved.items() if k not in left_out}

    def partial_restore(saved, model, optimizer, scheduler, loader):
        model.load_state_dict(saved["model"], strict="buffers" not in left_out)
        for key, target in [("optimizer", optimizer), ("scheduler", scheduler), ("loader", loader)]:
            if key in saved:
                target.load_state_dict(saved[key])
        if "rng" in saved:
            torch.set_rng_state(saved["rng"])

    return partial_capture, partial_restore


@pytest.mark.parametrize(
    "left_out, words",
    [
        (["rng"], ["differs from the saved one in torch's random state", "dropout draws"]),
        (["buffers"], ["batch norm's running statistics", "buffers, not parameters"]),
        (["optimizer"], ["the optimiser's memory", "a fresh AdamW starts from zero"]),
        (["scheduler"], ["the scheduler's place", "starts its schedule again"]),
        (["loader"], ["the loader's shuffling state", "another order"]),
        (["optimizer", "loader"], ["the optimiser's memory, the loader's shuffling state"]),
    ],
    ids=["rng", "buffers", "optimizer", "scheduler", "loader", "two"],
)
def test_exact_resume_names_what_is_missing(left_out, words, capsys):
    assert_fails("exact_resume", resume_without(*left_out), capsys, "after restore", *words)


def test_exact_resume_refuses_objects_in_the_checkpoint(capsys):
    _, restore = solution("exact_resume")
    capture = lambda model, optimizer, scheduler, loader: {"model": model}  # noqa: E731
    assert_fails(
        "exact_resume", (capture, restore), capsys, "could not go through a file", "plain data"
    )


def test_exact_resume_check_leaves_the_random_state_alone(capsys):
    before = torch.get_rng_state()
    assert_passes("exact_resume", solution("exact_resume"), capsys)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_resume_run_has_every_kind_of_state():
    """Each part the check compares changes during an epoch, so leaving it out is visible."""
    run = lesson10.resume_run(seed=10)
    before = lesson10.training_state(*run)
    lesson10.train_epoch(*run)
    after = lesson10.training_state(*run)
    changed = [
        name for (name, _), a, b in zip(lesson10.PARTS, before, after) if not lesson10.same(a, b)
    ]
    assert changed == [name for name, _ in lesson10.PARTS]


# -- both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("inverted_dropout", BernoulliDropout),
        ("exact_resume", resume_through_a_real_file()),
    ],
    ids=["bernoulli", "minigrad-checkpoint-file"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["inverted_dropout", "exact_resume"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)
