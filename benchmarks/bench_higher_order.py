"""A Hessian-vector product by double backward: minigrad vs torch's autograd.

Both sides run the same program on the 64-128-10 MLP of ``bench_engine``:
forward, cross-entropy, the gradient g of the loss with respect to every
parameter with ``create_graph=True``, then the gradient of g along a fixed
vector v (``grad(g, params, grad_outputs=v)``, the gradient of <g, v>): H v.
One thread, interleaved turns, the median ratio and its spread, as in
``bench_engine`` (``benchmarks/timing.py``). Run: ``python -m benchmarks higher``.

Target (minigrad / torch): <= 1.10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from benchmarks.bench_engine import _digits, mlp_forward, mlp_params
from benchmarks.timing import RATIO_HEADER, main_with_turns, markdown_table, ratio_row

TARGET = 1.10


def minigrad_hvp(params, vs, x, y):
    def hvp():
        loss = mg.cross_entropy(mlp_forward(mg, params, x), y)
        grads = mg.grad(loss, params, create_graph=True)
        return mg.grad(grads, params, grad_outputs=vs)

    return hvp


def torch_hvp(params, vs, x, y):
    def hvp():
        loss = F.cross_entropy(mlp_forward(F, params, x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        return torch.autograd.grad(grads, params, grad_outputs=vs)

    return hvp


def build(batch: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = _digits(batch, generator)
    y = torch.randint(0, 10, (batch,), generator=generator)
    params = mlp_params([64, 128, 10], generator)
    vs = [torch.randn(p.shape, generator=generator) for p in params]
    ctx = mg.Context()
    ours = minigrad_hvp([ctx.variable(p.clone(), requires_grad=True) for p in params], vs,
                        ctx.variable(x), y)  # fmt: skip
    theirs = torch_hvp([p.clone().requires_grad_(True) for p in params], vs, x, y)
    return ours, theirs


def check_equal(batch: int) -> None:
    """Before timing: both sides compute the same H v (float32, to rounding)."""
    ours, theirs = build(batch)
    for a, b in zip(ours(), theirs()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


# label, batch, steps per turn
CASES = [
    ("Hessian-vector product, MLP 64-128-10, digits, batch 32", 32, 10),
    ("Hessian-vector product, MLP 64-128-10, digits, batch 256", 256, 5),
]


def run(turns: int = 101) -> str:
    torch.set_num_threads(1)
    rows = []
    for label, batch, steps in CASES:
        check_equal(batch)
        ours, theirs = build(batch)
        rows.append(ratio_row(label, ours, theirs, steps, turns, TARGET))
    return markdown_table(["double backward", "minigrad", "torch", *RATIO_HEADER], rows)


def main(argv=None) -> None:
    main_with_turns(__doc__, run, argv)


if __name__ == "__main__":
    main()
