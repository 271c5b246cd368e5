"""One training step (forward, loss, backward, SGD update): minigrad vs torch eager autograd.

Both sides are written by hand the same way: functional layers on raw
parameters, cross-entropy, backward, then ``p -= lr * grad`` and the gradient
cleared. One thread, interleaved turns, the median ratio and its spread
(``benchmarks/timing.py`` says how the figures are made). Run: ``./run bench engine``.

Targets (minigrad / torch): (a) MLP batch 32 <= 0.90; (a) batch 256 and (b)
<= 1.02; (c) CNN <= 1.05; peak memory of (c) at batch 256 <= 1.05.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from benchmarks.timing import (
    RATIO_HEADER,
    main_with_turns,
    markdown_table,
    memory_row,
    ratio_row,
)

LR = 0.01


def mlp_params(sizes, generator):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(torch.randn(fan_out, fan_in, generator=generator) * (2 / fan_in) ** 0.5)
        params.append(torch.zeros(fan_out))
    return params


def cnn_params(generator):
    def he(*shape):
        fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else shape[1]
        return torch.randn(*shape, generator=generator) * (2 / fan_in) ** 0.5

    return [
        he(16, 1, 3, 3),
        torch.zeros(16),
        he(32, 16, 3, 3),
        torch.zeros(32),
        he(10, 32 * 5 * 5),
        torch.zeros(10),
    ]


# -- the models, written once per library ----------------------------------------


def mlp_forward(ns, params, x):
    h = x
    for i in range(0, len(params) - 2, 2):
        h = ns.relu(ns.linear(h, params[i], params[i + 1]))
    return ns.linear(h, params[-2], params[-1])


def cnn_forward(ns, params, x):
    w1, b1, w2, b2, w3, b3 = params
    h = ns.max_pool2d(ns.relu(ns.conv2d(x, w1, b1)), 2)
    h = ns.max_pool2d(ns.relu(ns.conv2d(h, w2, b2)), 2)
    return ns.linear(h.reshape(h.shape[0], -1), w3, b3)


def minigrad_step(forward, params, x, y):
    def step():
        loss = mg.cross_entropy(forward(mg, params, x), y)
        loss.backward()
        for p in params:
            p.value.sub_(p.grad, alpha=LR)
            p.grad = None

    return step


def torch_step(forward, params, x, y):
    def step():
        loss = F.cross_entropy(forward(F, params, x), y)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(p.grad, alpha=LR)
                p.grad = None

    return step


def build(case: str, batch: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    if case == "cnn":
        x = torch.rand(batch, 1, 28, 28, generator=generator)
        params, forward = cnn_params(generator), cnn_forward
    else:
        sizes = [64, 128, 10] if case == "mlp_digits" else [784, 256, 256, 10]
        x = (
            _digits(batch, generator)
            if case == "mlp_digits"
            else torch.rand(batch, 784, generator=generator)
        )
        params, forward = mlp_params(sizes, generator), mlp_forward
    y = torch.randint(0, 10, (batch,), generator=generator)
    ctx = mg.Context()
    mg_params = [ctx.variable(p.clone(), requires_grad=True) for p in params]
    mg_x = ctx.variable(x)
    torch_params = [p.clone().requires_grad_(True) for p in params]
    return (minigrad_step(forward, mg_params, mg_x, y), torch_step(forward, torch_params, x, y))


def _digits(batch, generator):
    """A batch of the real 8x8 digits when the data module has them, else random pixels."""
    try:
        images, _ = mg.data.load_digits()
        images = images.value if isinstance(images, mg.Variable) else images
        index = torch.randint(0, len(images), (batch,), generator=generator)
        return images[index].reshape(batch, 64).float()
    except (AttributeError, ImportError):
        return torch.rand(batch, 64, generator=generator)


# label, model, batch, target ratio, steps per turn. Turns are short (about 5 ms)
# and many, so that both sides see the same moments of a noisy shared machine.
CASES = [
    ("(a) MLP 64-128-10, digits, batch 32", "mlp_digits", 32, 0.90, 20),
    ("(a) MLP 64-128-10, digits, batch 256", "mlp_digits", 256, 1.02, 10),
    ("(b) MLP 784-256-256-10, batch 128", "mlp_784", 128, 1.02, 2),
    ("(c) CNN on 1x28x28, batch 64", "cnn", 64, 1.05, 1),
]


def run(turns: int = 101) -> str:
    torch.set_num_threads(1)
    rows = []
    for label, case, batch, target, steps in CASES:
        ours, theirs = build(case, batch)
        rows.append(ratio_row(label, ours, theirs, steps, turns, target))
    ours, theirs = build("cnn", 256)
    label = "(c) CNN batch 256: peak live tensor memory"
    rows.append(memory_row(label, ours, theirs, 1.05))
    return markdown_table(["one training step", "minigrad", "torch", *RATIO_HEADER], rows)


def main(argv=None) -> None:
    main_with_turns(__doc__, run, argv)


if __name__ == "__main__":
    main()
