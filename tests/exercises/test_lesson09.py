"""Lesson 9's checks: a training step and an evaluation, judged on real models.

The other right formulations: a step written with the model's own zero_grad
and with the gradients cleared after the step, an evaluation that calls
minigrad's ``training.accuracy``, and one that collects predictions first.
The closed form the train_step check uses is itself checked against
torch.autograd here.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import training
from minigrad.exercises import lesson09
from tests.exercises.helpers import assert_fails, assert_gap_fails_quietly, assert_passes, solution

# -- train_step -----------------------------------------------------------------------------


def step_with_the_models_zero_grad(model, optimizer, x, y):
    model.zero_grad()
    loss = mg.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss  # a Variable holding one number counts as a number


def step_clearing_afterwards(model, optimizer, x, y):
    loss = mg.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()  # the next batch finds .grad empty all the same
    return float(loss.value)


def step(order, reduction="mean"):
    def train_step(model, optimizer, x, y):
        loss = mg.cross_entropy(model(x), y, reduction=reduction)
        for part in order:
            {"zero": optimizer.zero_grad, "back": loss.backward, "step": optimizer.step}[part]()
        return loss.item()

    return train_step


@pytest.mark.parametrize(
    "wrong, words",
    [
        (step(["back", "step"]), ["batch 2 of 3", "the weight after the step", "still there"]),
        (step(["back", "zero", "step"]), ["batch 1 of 3", "did not move"]),
        (step(["step", "zero", "back"]), ["batch 1 of 3", "the step came before backward"]),
        (step(["zero", "back", "step"], "sum"), ["N times too large", "summed"]),
        (
            lambda model, optimizer, x, y: (
                step(["zero", "back", "step"])(model, optimizer, x, y) * 2
            ),
            ["the returned loss is wrong", "exactly 2x"],
        ),
        (lambda model, optimizer, x, y: None, ["the weight after the step"]),
    ],
    ids=["no-zero-grad", "zero-grad-late", "step-first", "summed-loss", "loss-doubled", "nothing"],
)
def test_train_step_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("train_step", wrong, capsys, *words)


def test_train_step_without_a_return_fails_on_the_loss(capsys):
    def no_return(model, optimizer, x, y):
        step(["zero", "back", "step"])(model, optimizer, x, y)

    assert_fails("train_step", no_return, capsys, "the returned loss should be a number", "None")


def test_the_closed_form_is_torch_autograds():
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(3, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=generator, dtype=torch.float64, requires_grad=True)
    x = torch.randn(8, 5, generator=generator, dtype=torch.float64)
    y = torch.randint(3, (8,), generator=generator)
    loss = torch.nn.functional.cross_entropy(x @ w.T + b, y)
    loss.backward()
    ours = lesson09.softmax_regression(w.detach(), b.detach(), x, y)
    assert abs(ours[0] - loss.item()) < 1e-12
    torch.testing.assert_close(ours[1], w.grad)
    torch.testing.assert_close(ours[2], b.grad)


# -- evaluate ---------------------------------------------------------------------------------


def evaluate_by_minigrad(model, loader):
    return training.accuracy(model, loader)


def evaluate_collecting_first(model, loader):
    model.eval()
    with mg.no_grad():
        pairs = [(model(x).value.argmax(1), y) for x, y in loader]
    predicted = torch.cat([p for p, _ in pairs])
    labels = torch.cat([y for _, y in pairs])
    return (predicted == labels).double().mean()  # a 0-d tensor counts as a number


def evaluation(train_mode=False, tape=True, per_batch=False, count=False):
    def evaluate(model, loader):
        model.train(train_mode)
        hits, examples, rates = 0, 0, []
        for x, y in loader:
            with mg.no_grad() if tape else mg.enable_grad():
                right = int((model(x).value.argmax(1) == y).sum())
            hits, examples = hits + right, examples + len(y)
            rates.append(right / len(y))
        if per_batch:
            return sum(rates) / len(rates)
        return hits if count else hits / examples

    return evaluate


@pytest.mark.parametrize(
    "wrong, words",
    [
        (evaluation(train_mode=True), ["ran in training mode in 4 of its 4 calls", "dropout"]),
        (evaluation(tape=False), ["recorded on the tape", "no_grad"]),
        (evaluation(per_batch=True), ["50 examples", "mean of the per-batch accuracies"]),
        (evaluation(count=True), ["number of right answers"]),
        (lambda model, loader: 0.66, ["37 examples", "the accuracy is wrong"]),
    ],
    ids=["train-mode", "recorded", "per-batch-mean", "count", "hard-coded"],
)
def test_evaluate_names_the_kind_of_mistake(wrong, words, capsys):
    assert_fails("evaluate", wrong, capsys, *words)


def test_the_evaluation_models_scores_are_its_own():
    """The check's expected accuracy comes from eval_scores: the same as running the model."""
    model, loader, answers = lesson09.evaluation_case(92, 50, 16)
    model.eval()
    with mg.no_grad():
        for x, _ in loader:
            torch.testing.assert_close(model(x).value, model.eval_scores(x))
    assert 0.5 < answers["right"] < 0.8 and answers["batch_mean"] != answers["right"]


# -- both ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "exercise_id, right",
    [
        ("train_step", step_with_the_models_zero_grad),
        ("train_step", step_clearing_afterwards),
        ("evaluate", evaluate_by_minigrad),
        ("evaluate", evaluate_collecting_first),
    ],
    ids=["model-zero-grad", "zero-grad-after", "training-accuracy", "collect-first"],
)
def test_right_answers_pass(exercise_id, right, capsys):
    assert_passes(exercise_id, solution(exercise_id), capsys)
    assert_passes(exercise_id, right, capsys)


@pytest.mark.parametrize("exercise_id", ["train_step", "evaluate"])
def test_the_gap_fails_without_giving_the_answer(exercise_id, capsys):
    assert_gap_fails_quietly(exercise_id, capsys)
