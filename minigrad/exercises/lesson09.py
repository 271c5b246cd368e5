"""Lesson 9's exercises: one training step, and an honest evaluation.

Both run the learner's code on a real model and judge what it did to it. The
expected numbers are closed forms for the small models used here (softmax
regression's gradient is (softmax(z) - onehot) / N), computed from the
model's weights before the learner's code runs. The usual slips of a training
loop (gradients never cleared, cleared too late, the step before backward)
and of an evaluation (dropout left on, the tape left recording, per-batch
accuracies averaged) are recognised by what they do to the same numbers.
"""

from __future__ import annotations

import torch

from minigrad.data import DataLoader
from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.nn import Dropout, Linear, Module, ReLU, Sequential
from minigrad.optim import SGD

LEARNING_RATE = 0.5
BATCHES = 3


def softmax_regression(weight, bias, x, y):
    """Cross-entropy loss of scores x W^T + b against labels y, and its gradients (closed form).

    L = mean_i (logsumexp(z_i) - z_i[y_i]);  dL/dz = (softmax(z) - onehot(y)) / N;
    dL/dW = (dL/dz)^T x;  dL/db = sum_i dL/dz_i.
    """
    z = x @ weight.T + bias
    loss = (torch.logsumexp(z, dim=1) - z[torch.arange(len(y)), y]).mean()
    dz = torch.softmax(z, dim=1)
    dz[torch.arange(len(y)), y] -= 1
    dz /= len(y)
    return float(loss), dz.T @ x, dz.sum(0)


# -- one training step ----------------------------------------------------------------------

STEP_SLIPS = {  # how the weights move when a step goes wrong, and what to say
    "accumulated": "the gradients of earlier batches were still there: backward adds to .grad, "
    "so every step must start from cleared gradients",
    "unchanged": "the weights did not move: when the optimiser stepped, .grad held nothing "
    "(cleared after backward, or the step came before backward)",
    "stale": "the step used the previous batch's gradient: the optimiser steps with whatever "
    ".grad holds, so it must come after this batch's backward",
    "summed": "the step is N times too large: the loss was summed over the batch; the "
    "cross-entropy of a batch is the mean over its examples",
}


def step_cases(seed: int, features: int, classes: int, size: int):
    """A fresh model (a non-zero bias, so that it matters), its optimiser, three batches."""
    generator = torch.Generator().manual_seed(seed)
    model = Linear(features, classes, dtype=torch.float64, generator=generator)
    model.bias.value = draw(generator, classes, scale=0.1)
    batches = [
        (draw(generator, size, features), torch.randint(classes, (size,), generator=generator))
        for _ in range(BATCHES)
    ]
    return model, SGD(model.parameters(), lr=LEARNING_RATE), batches


def step_trajectory(weight, bias, batches, size):
    """Per batch: the loss, the right (W, b) after the step, and each slip's (W, b)."""
    lr, grads, out = LEARNING_RATE, [], []
    for x, y in batches:
        loss, grad_w, grad_b = softmax_regression(weight, bias, x, y)
        previous = grads[-1] if grads else (torch.zeros_like(grad_w), torch.zeros_like(grad_b))
        grads.append((grad_w, grad_b))
        total = (sum(g[0] for g in grads), sum(g[1] for g in grads))
        slips = {
            "accumulated": (weight - lr * total[0], bias - lr * total[1]),
            "unchanged": (weight, bias),
            "stale": (weight - lr * previous[0], bias - lr * previous[1]),
            "summed": (weight - lr * size * grad_w, bias - lr * size * grad_b),
        }
        weight, bias = weight - lr * grad_w, bias - lr * grad_b
        out.append((loss, (weight, bias), slips))
    return out


@exercise(
    "train_step",
    lesson=9,
    title="one training step",
    hints=(
        "One step on one batch: run the model forward and compute the loss, work out the "
        "gradients with backprop, then let the optimiser update the weights. backward adds "
        "to .grad (lesson 2), so the gradients of the last batch must be gone before this "
        "batch's backward; and the optimiser uses whatever .grad holds when it steps.",
        "In order: scores from the model; loss = mg.cross_entropy(scores, y); clear the "
        "gradients with the optimiser's zero_grad; backward from the loss; the optimiser's "
        "step. Return the loss as a number (its .item()).",
    ),
)
def check_train_step(check: Check, train_step) -> str:
    """``train_step(model, optimizer, x, y)`` trains one batch and returns its loss."""
    runs = []
    for seed, features, classes, size in [(90, 5, 3, 8), (91, 7, 4, 6)]:
        model, optimizer, batches = step_cases(seed, features, classes, size)
        start = (model.weight.value.clone(), model.bias.value.clone())
        runs.append((model, optimizer, batches, step_trajectory(*start, batches, size)))
    for model, optimizer, batches, trajectory in runs:
        for number, ((x, y), (loss, want, slips)) in enumerate(zip(batches, trajectory), 1):
            check.case = f"{model!r} and SGD(lr={LEARNING_RATE}), batch {number} of {BATCHES}"
            received = check.call(
                train_step, model, optimizer, x, y, names=("model", "opt", "x", "y")
            )
            for position, name in enumerate(("the weight", "the bias")):
                mistakes = tuple(
                    Mistake(values[position], STEP_SLIPS[kind]) for kind, values in slips.items()
                )
                got = (model.weight, model.bias)[position]
                check.expect(f"{name} after the step", want[position], got, mistakes=mistakes)
            check.expect("the returned loss", loss, received)
    return (
        f"the weights after each of {BATCHES} steps, and each step's loss, match the closed "
        "form, on two models"
    )


# -- evaluation ---------------------------------------------------------------------------


class Watched(Module):
    """A small classifier with dropout that notes, at each call, how it was run."""

    def __init__(self, features: int, classes: int, generator: torch.Generator):
        super().__init__()
        common = {"dtype": torch.float64, "generator": generator}
        self.net = Sequential(
            Linear(features, 16, **common), ReLU(), Dropout(0.5), Linear(16, classes, **common)
        )
        self.calls = []  # (ran in training mode, was recorded on a tape), per call

    def forward(self, x):
        out = self.net(x)
        self.calls.append((self.training, out.node is not None))
        return out

    def eval_scores(self, x: torch.Tensor) -> torch.Tensor:
        """The scores in evaluation mode, computed here with plain torch (dropout is off)."""
        first, _, _, last = self.net
        hidden = torch.relu(x @ first.weight.value.T + first.bias.value)
        return hidden @ last.weight.value.T + last.bias.value


def evaluation_case(seed: int, size: int, batch_size: int, classes: int = 4):
    """A model, a loader whose last batch is short, and the accuracies right and wrong."""
    generator = torch.Generator().manual_seed(seed)
    model = Watched(6, classes, generator)
    x = draw(generator, size, 6)
    predicted = model.eval_scores(x).argmax(1)
    y = predicted.clone()
    y[::3] = (predicted[::3] + 1) % classes  # every third answer is wrong
    hits = predicted == y
    per_batch = [
        float(hits[i : i + batch_size].double().mean()) for i in range(0, size, batch_size)
    ]
    answers = {
        "right": float(hits.double().mean()),
        "batch_mean": sum(per_batch) / len(per_batch),
        "count": float(hits.sum()),
        "last": per_batch[-1],
    }
    return model, DataLoader((x, y), batch_size=batch_size), answers


@exercise(
    "evaluate",
    lesson=9,
    title="an honest evaluation",
    hints=(
        "Evaluation must not change what it measures: the model runs as it will be used, "
        "with dropout off (evaluation mode), and nothing is recorded on the tape, because "
        "there will be no backward. Count the right answers over all examples; batches can "
        "have different sizes (the last one is often short).",
        "Switch the model to evaluation mode; inside mg.no_grad(), for each batch take the "
        "class with the highest score (argmax over dimension 1 of the scores' .value), count "
        "how many equal the labels, and count the examples. The accuracy is the number of hits "
        "divided by the number of examples.",
    ),
)
def check_evaluate(check: Check, evaluate) -> str:
    """``evaluate(model, loader)`` -> the fraction of examples classified right."""
    cases = [evaluation_case(92, 50, 16), evaluation_case(93, 37, 8)]
    for model, loader, answers in cases:
        check.case = f"{len(loader.dataset)} examples in batches of {loader.batch_size}"
        received = check.call(evaluate, model, loader, names=("model", "loader"))
        calls = len(model.calls)
        training = sum(mode for mode, _ in model.calls)
        recorded = sum(taped for _, taped in model.calls)
        if training:
            check.fail(
                f"the model ran in training mode in {training} of its {calls} calls",
                "in training mode dropout zeroes a random half of the hidden units, so the "
                "accuracy measured is not the model's: switch it to evaluation mode first",
            )
        if recorded:
            check.fail(
                f"{recorded} of the {calls} forward passes were recorded on the tape",
                "a recorded pass keeps every saved tensor alive for a backward that never "
                "comes: evaluate with recording switched off (no_grad)",
            )
        mistakes = (
            Mistake(answers["batch_mean"], "that is the mean of the per-batch accuracies: the "
                    "short last batch counts as much as a full one; count hits over all examples"),
            Mistake(answers["count"], "that is the number of right answers, not the fraction"),
            Mistake(100 * answers["right"], "that is a percentage: return a fraction, 0 to 1"),
            Mistake(answers["last"], "that is the accuracy of the last batch alone: the count "
                    "must add up over every batch"),
        )  # fmt: skip
        check.expect("the accuracy", answers["right"], received, mistakes=mistakes)
    return "right on two loaders with a short last batch, in evaluation mode and off the tape"
