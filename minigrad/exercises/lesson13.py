"""Lesson 13's exercises: averaging the shards' gradients, and accumulating micro-batches.

Both train softmax regression (one ``nn.Linear`` and cross-entropy, float64),
whose gradient has a closed form: with P = softmax(X W^T + b) and Y the
one-hot labels of N samples,

    dL/dW = (P - Y)^T X / N,        dL/db = sum over samples of (P - Y) / N.

The expected values come from that formula on the *global* batch, before
the learner's code runs; each typical mistake (the sum instead of the mean,
a replica's own gradient left as it was, zeroing between micro-batches, a step per micro-batch,
no zeroing first) is computed from the same formula and named when it is
what came back.
"""

from __future__ import annotations

import copy

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.nn import Linear, init_random
from minigrad.ops import cross_entropy
from minigrad.optim import SGD

FEATURES, CLASSES, SAMPLES = 5, 3, 12


def softmax_regression_grads(weight, bias, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """dL/dW and dL/db of the mean cross-entropy of softmax(x W^T + b), in closed form."""
    p = torch.softmax(x @ weight.T + bias, dim=1)
    p[torch.arange(len(y)), y] -= 1.0  # P - Y
    return p.T @ x / len(y), p.sum(0) / len(y)


def softmax_regression(seed: int):
    """A Linear(5, 3) in float64 and a batch of 12 samples to train it on."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(SAMPLES, FEATURES, generator=generator, dtype=torch.float64) * 1.5
    y = torch.randint(0, CLASSES, (SAMPLES,), generator=generator)
    model = Linear(FEATURES, CLASSES, generator=init_random(seed + 1), dtype=torch.float64)
    return model, x, y


# -- averaging the replicas' gradients ---------------------------------------------------


@exercise(
    "average_shards",
    lesson=13,
    title="average the replicas' gradients",
    hints=(
        "Each replica stands for one process. An all-reduce adds up one parameter's gradient "
        "over all the processes and leaves that sum in every one of them; data parallelism "
        "then turns the sum into the gradient of the global batch. Afterwards every replica "
        "must hold the same gradient, not only the first.",
        "The global batch's loss is the mean of the W shards' losses (equal shards), so its "
        "gradient is the mean of their gradients: for each parameter, add its W gradients "
        "and divide by W, then give that same result to the parameter in every replica.",
    ),
)
def check_average_shards(check: Check, average_gradients_by_hand) -> str:
    """``average_gradients_by_hand(replicas)`` must leave the mean gradient in every replica."""
    for shards in (2, 3, 4):
        model, x, y = softmax_regression(10 + shards)
        expected = softmax_regression_grads(model.weight.value, model.bias.value, x, y)
        replicas = [copy.deepcopy(model) for _ in range(shards)]
        own = []
        for replica, xs, ys in zip(replicas, x.chunk(shards), y.chunk(shards)):
            cross_entropy(replica(xs), ys).backward()
            own.append([p.grad.clone() for p in replica.parameters()])
        check.case = f"{shards} replicas of {SAMPLES // shards} samples each"
        check.call(average_gradients_by_hand, replicas, names=("replicas",))
        for r, replica in enumerate(replicas):
            for i, (name, p) in enumerate(replica.named_parameters()):
                mistakes = (
                    Mistake(shards * expected[i], f"that is the sum of the {shards} shards' "
                            "gradients: as a step it acts like a learning rate "
                            f"{shards} times too large"),
                    Mistake(own[r][i], "that is still this replica's own shard gradient: "
                            "every replica (every process) must end with the same result, "
                            "made from all of their gradients"),
                )  # fmt: skip
                check.expect(f"replica {r}'s {name}.grad", expected[i], p.grad, mistakes=mistakes)
    return "with 2, 3 and 4 replicas every gradient is the global batch's, in every replica"


# -- gradient accumulation ------------------------------------------------------------------


def wrong_steps(model, x, y, micro: int, lr: float, stale: torch.Tensor) -> tuple[Mistake, ...]:
    """The weight each typical accumulation mistake ends with, and what to say about it."""
    w, b = model.weight.value, model.bias.value
    whole = softmax_regression_grads(w, b, x, y)[0]
    last = softmax_regression_grads(w, b, x.chunk(micro)[-1], y.chunk(micro)[-1])[0]
    stepped = {}
    for divisor in (micro, 1):  # a step per micro-batch, with and without the 1/micro
        sw, sb = w.clone(), b.clone()
        for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
            gw, gb = softmax_regression_grads(sw, sb, xs, ys)
            sw, sb = sw - lr * gw / divisor, sb - lr * gb / divisor
        stepped[divisor] = sw
    zeroed = ("the step of the last micro-batch alone: the gradients were zeroed between "
              "micro-batches, so they never accumulated")  # fmt: skip
    one_step = f"{micro} steps, one per micro-batch: accumulate them all, then step once"
    return (
        Mistake(w - lr * micro * whole, f"a step {micro}x too large: each micro-batch's loss "
                f"is a mean over its own samples, so their {micro} gradients add up to "
                f"{micro} times the batch's"),
        Mistake(w - lr * last / micro, zeroed),
        Mistake(w - lr * last, zeroed),
        Mistake(stepped[micro], one_step),
        Mistake(stepped[1], one_step),
        Mistake(w - lr * (whole + stale), "moved by a gradient left over from before the "
                "batch too: the gradients must start from zero"),
        Mistake(w, "the weights did not move: the optimiser never stepped"),
    )  # fmt: skip


@exercise(
    "accumulate",
    lesson=13,
    title="gradient accumulation over micro-batches",
    hints=(
        "backward adds into p.grad instead of overwriting it, so several backward passes "
        "before one optimiser step add their gradients up. Start from zero gradients, and "
        "step once for the whole batch.",
        "With M equal micro-batches the batch's loss is the mean of the M micro-batches' "
        "losses, (1/M) * (L_1 + ... + L_M). Its gradient is what the M backward passes must "
        "add up to, so each micro-batch's loss enters with the weight 1/M.",
    ),
)
def check_accumulate(check: Check, accumulated_step) -> str:
    """``accumulated_step(model, optimizer, x, y, M)``: the step of the whole batch, in M pieces."""
    lr = 0.5
    for micro in (2, 3, 4):
        model, x, y = softmax_regression(20 + micro)
        w, b = model.weight.value.clone(), model.bias.value.clone()
        grad_w, grad_b = softmax_regression_grads(w, b, x, y)
        stale = torch.full_like(w, 0.25)  # a gradient from an earlier step, not yet zeroed
        mistakes = wrong_steps(model, x, y, micro, lr, stale)
        model.weight.grad, model.bias.grad = stale.clone(), torch.full_like(b, 0.25)
        optimizer = SGD(model.parameters(), lr=lr)
        check.case = f"{micro} micro-batches of {SAMPLES // micro} samples"
        check.call(accumulated_step, model, optimizer, x, y, micro, names=("model", "optimizer"))
        check.expect("the weight after the step", w - lr * grad_w, model.weight, mistakes=mistakes)
        check.expect("the bias after the step", b - lr * grad_b, model.bias)
    return "with 2, 3 and 4 micro-batches one step equals the step on the whole batch"
