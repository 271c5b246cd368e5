"""What ``compile_train`` gains: one training step against the kernel floor.

The *kernel floor* is a step written by hand that calls the same kernels as
minigrad's gates, in the same order, on plain tensors: no Variable, no tape,
no autograd at all. Nothing that runs those kernels can be faster, so each
contender is measured as a multiple of it:

    minigrad eager     forward and backward on the tape, then opt.step()
    torch eager        torch.nn and torch.optim, the same model
    compile_train      the step recorded once and run as a straight-line program
                       (print(step.program) shows it), with the optimiser's update
    + torch.compile    the same program handed to torch.compile (compile=True)

Models: the MLP 64-128-10 on the 8x8 digits at batch 32 (Python overhead is
most of a step here) and the CNN conv16-pool-conv32-pool-linear on 1x28x28
at batch 64 (kernel-bound). SGD without momentum: its update is one kernel
per parameter, written the same way in the floor. One thread, interleaved
turns, medians and spreads (``benchmarks/timing.py``). Target: compile_train
within 1.3x of the floor on the MLP. Run: ``./run bench compile``.
"""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from benchmarks.timing import (
    format_time,
    interleaved,
    main_with_turns,
    markdown_table,
    ratio,
)
from minigrad.ops.losses import classes_first_pays

LR = 0.05


def mlp_models():
    torch.manual_seed(0)
    ours = mg.nn.Sequential(mg.nn.Linear(64, 128), mg.nn.ReLU(), mg.nn.Linear(128, 10))
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Linear(64, 128), tnn.ReLU(), tnn.Linear(128, 10))
    return ours, theirs


def cnn_models():
    torch.manual_seed(0)
    nn, tnn = mg.nn, torch.nn
    ours = nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 5 * 5, 10),
    )  # fmt: skip
    theirs = tnn.Sequential(
        tnn.Conv2d(1, 16, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(16, 32, 3), tnn.ReLU(),
        tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(32 * 5 * 5, 10),
    )  # fmt: skip
    return ours, theirs


# -- the kernel floors: minigrad's kernels, written out by hand -----------------------


def cross_entropy_kernels(logits, y, one):
    """Forward and backward of minigrad's CrossEntropy gate (the mean, no row ignored).

    torch's fused kernels, on the scores laid out classes first where that
    pays (the gate's own rule, ``minigrad/ops/losses.py``).
    """
    aten = torch.ops.aten
    first = classes_first_pays(logits)
    if first:
        log_probs = torch.log_softmax(logits.t().contiguous(), 0).t()
    else:
        log_probs = torch.log_softmax(logits, 1)
    _, total = aten.nll_loss_forward(log_probs, y, None, 1, -100)
    grad = aten.nll_loss_backward(one, log_probs, y, None, 1, -100, total)
    if not first:
        return torch._log_softmax_backward_data(grad, log_probs, 1, logits.dtype)
    grad = torch._log_softmax_backward_data(grad.t().contiguous(), log_probs.t(), 0, logits.dtype)
    return grad.t().contiguous()


def relu_backward(grad, out):
    return torch.ops.aten.threshold_backward(grad, out, 0)


def mlp_floor(params, x, y):
    w1, b1, w2, b2 = params
    one = torch.ones(())

    def step():
        h = torch.relu(F.linear(x, w1, b1))
        grad = cross_entropy_kernels(F.linear(h, w2, b2), y, one)
        grad_h = grad @ w2
        grads_2 = (grad.t() @ h, grad.sum(0))
        grad_h = relu_backward(grad_h, h)
        for p, g in zip(params, (grad_h.t() @ x, grad_h.sum(0), *grads_2)):
            p.add_(g, alpha=-LR)

    return step


def pool_kernels(x):
    out, indices = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2, 2, 0, 1,
                                return_indices=True)  # fmt: skip
    return out.contiguous(), indices.contiguous()


def unpool_kernels(grad, indices, shape):
    n, c, h, w = shape
    zeros = grad.new_zeros((n, c, h * w))
    zeros.scatter_add_(2, indices.flatten(2), grad.flatten(2))
    return zeros.view(shape)


def cnn_floor(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    one = torch.ones(())

    def step():
        r1 = torch.relu(torch.conv2d(x, w1, b1))
        p1, i1 = pool_kernels(r1)
        r2 = torch.relu(torch.conv2d(p1, w2, b2))
        p2, i2 = pool_kernels(r2)
        flat = p2.reshape(p2.shape[0], -1)
        grad = cross_entropy_kernels(F.linear(flat, w3, b3), y, one)
        grad_flat, gw3, gb3 = grad @ w3, grad.t() @ flat, grad.sum(0)
        grad_r2 = unpool_kernels(grad_flat.reshape(p2.shape), i2, r2.shape)
        grad_c2 = relu_backward(grad_r2, r2)
        grad_p1 = F.conv_transpose2d(grad_c2, w2, None, 1, 0, [0, 0], 1, 1)
        gw2 = torch.nn.grad.conv2d_weight(p1, w2.shape, grad_c2)
        gb2 = grad_c2.sum((2, 3)).sum(0)
        grad_c1 = relu_backward(unpool_kernels(grad_p1, i1, r1.shape), r1)
        gw1 = torch.nn.grad.conv2d_weight(x, w1.shape, grad_c1)
        gb1 = grad_c1.sum((2, 3)).sum(0)
        for p, g in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
            p.add_(g, alpha=-LR)

    return step


# -- the contenders -----------------------------------------------------------------


def contenders(case: str, batch: int) -> tuple[dict, float]:
    """name -> step function, and the seconds the first torch.compile call took."""
    ours, theirs = mlp_models() if case == "mlp" else cnn_models()
    if case == "mlp":
        images, labels = mg.data.load_digits()
        x, y = images[:batch], labels[:batch]
    else:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(batch, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (batch,), generator=generator)
    floor = (mlp_floor if case == "mlp" else cnn_floor)(
        [p.value.clone() for p in ours.parameters()], x, y
    )
    eager_opt = mg.optim.SGD(ours, lr=LR)

    def eager():
        eager_opt.zero_grad()
        mg.cross_entropy(ours(mg.tensor(x)), y).backward()
        eager_opt.step()

    torch_opt = torch.optim.SGD(theirs.parameters(), lr=LR, foreach=False)

    def torch_eager():
        torch_opt.zero_grad()
        F.cross_entropy(theirs(x), y).backward()
        torch_opt.step()

    programs = []
    for compiled in (False, True):
        model = copy.deepcopy(ours)
        step = mg.nn.compile_train(
            model, mg.cross_entropy, compile=compiled, optimizer=mg.optim.SGD(model, lr=LR)
        )
        programs.append(step)
    start = time.perf_counter()
    programs[1](x, y)  # records
    programs[1](x, y)  # runs the program: torch.compile compiles it
    first_compile = time.perf_counter() - start
    steps = {
        "kernel floor": floor,
        "minigrad eager": eager,
        "torch eager": torch_eager,
        "compile_train": lambda: programs[0](x, y),
        "+ torch.compile": lambda: programs[1](x, y),
    }
    return steps, first_compile


CASES = [
    ("MLP 64-128-10, digits, batch 32", "mlp", 32, 20),
    ("CNN conv16-pool-conv32-pool-linear, batch 64", "cnn", 64, 1),
]
TARGET = 1.3  # compile_train / floor, on the MLP


def run(turns: int) -> str:
    torch.set_num_threads(1)
    rows = []
    for label, case, batch, steps in CASES:
        contending, first_compile = contenders(case, batch)
        samples = interleaved(contending, steps, turns)
        floor = samples["kernel floor"]
        for name, measured in samples.items():
            r = ratio(measured, floor)
            target = f"<= {TARGET}" if (case == "mlp" and name == "compile_train") else ""
            met = ("yes" if r.median <= TARGET else "NO") if target else ""
            note = f"first call {first_compile:.1f} s" if name == "+ torch.compile" else ""
            rows.append([
                label if name == "kernel floor" else "", name, format_time(measured.median),
                f"{r}x", r.spread, target, met, note,
            ])  # fmt: skip
    header = ["model", "one step (+ SGD)", "time", "/ floor", "spread (IQR)", "target", "met",
              "note"]  # fmt: skip
    return markdown_table(header, rows)


def main(argv=None) -> None:
    main_with_turns(__doc__, run, argv)


if __name__ == "__main__":
    main()
