"""Lesson 19's exercises: what a chain of layers saves, and checkpointing it in segments.

The model of the lesson is a chain of n layers h_i = tanh(h_{i-1} W_i^T + b_i)
on data x = h_0 (which needs no gradient), ending in the loss mean(h_n^2).
What its tape saves, beyond the parameters (which live anyway), follows
from what each gate keeps:

* Linear keeps its input h_{i-1} (for dL/dW_i) and, when h_{i-1} needs a
  gradient, W_i (a parameter: no new memory);
* Tanh keeps its output h_i; the next Linear (and the loss's Mul) keep
  that same tensor, and memory holds it once.

So the tape holds x and every h_i once: element_size * batch * (d_0 + ... + d_n).
"""

from __future__ import annotations

import torch

from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.memory import saved_bytes
from minigrad.ops import linear, mean, mul, tanh
from minigrad.tape import Context
from minigrad.variable import Variable


def tanh_layers(h, *params):
    """Layers h <- tanh(h W^T + b), one per pair of ``params`` = (W_1, b_1, W_2, b_2, ...)."""
    for weight, bias in zip(params[0::2], params[1::2]):
        h = tanh(linear(h, weight, bias))
    return h


def chain_params(ctx: Context, widths, dtype=torch.float32, seed: int = 0) -> list[Variable]:
    """(W_1, b_1, ..., W_n, b_n) for widths (d_0, ..., d_n), on ``ctx``, named w1, b1, ..."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        w = torch.randn(d_out, d_in, generator=generator, dtype=torch.float64) / d_in**0.5
        b = torch.randn(d_out, generator=generator, dtype=torch.float64) * 0.1
        params.append(ctx.variable(w.to(dtype), requires_grad=True, name=f"w{i}"))
        params.append(ctx.variable(b.to(dtype), requires_grad=True, name=f"b{i}"))
    return params


def chain_loss(h):
    """The lesson's loss: mean(h^2)."""
    return mean(mul(h, h))


def element_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


# -- what the tape of a chain saves ----------------------------------------------------------

BYTES_CASES = [
    (32, (64, 128, 10), torch.float32),
    (5, (3, 7, 7, 7, 2), torch.float64),
    (16, (64, 32, 32, 32, 10), torch.float16),
    (1, (8, 8), torch.bfloat16),
    (100, (20, 50, 50, 50, 50, 5), torch.float32),
]


def measured_chain_bytes(batch: int, widths, dtype) -> int:
    """The bytes the lesson's chain really saves beyond its parameters, read off its tape."""
    ctx = Context()
    params = chain_params(ctx, widths, dtype)
    x = ctx.variable(torch.ones(batch, widths[0], dtype=dtype))
    chain_loss(tanh_layers(x, *params))
    return saved_bytes(ctx, besides=params)


@exercise(
    "tape_bytes",
    lesson=19,
    title="the bytes a chain of layers saves",
    hints=(
        "Go through one layer of the table above: which tensors does its Linear keep, which "
        "does its Tanh keep, and which of those are the same tensor? Memory holds a tensor "
        "once however many gates keep it, and the parameters are not counted (they live "
        "anyway). Then count bytes, not numbers: each element of a dtype takes "
        "torch.empty((), dtype=dtype).element_size() bytes.",
        "The tape keeps the input x (batch, d_0) and each layer's output h_i (batch, d_i), "
        "each exactly once. So the total is element_size times batch times the sum of every "
        "width in widths, the input's included.",
    ),
)
def check_tape_bytes(check: Check, chain_saved_bytes) -> str:
    """``chain_saved_bytes(batch, widths, dtype)``: the bytes the chain's tape saves (an int)."""
    for batch, widths, dtype in BYTES_CASES:
        size = element_bytes(dtype)
        inner, params = sum(widths[1:-1]), sum(o * i + o for i, o in zip(widths, widths[1:]))
        want = size * batch * sum(widths)
        mistakes = (
            Mistake(size * batch * (sum(widths) + inner), "each hidden output is counted "
                    "twice: the Tanh that made it and the next Linear keep the same tensor, "
                    "which memory holds once"),
            Mistake(size * batch * sum(widths[1:]), "the input x is missing: the first Linear "
                    "keeps it, because dL/dW_1 needs it"),
            Mistake(size * batch * sum(widths[:-1]), "the last output is missing: the last "
                    "Tanh keeps it (its derivative is 1 - y^2)"),
            Mistake(batch * sum(widths), "that is the number of elements, not of bytes: "
                    f"each {dtype} element takes {size} bytes"),
            Mistake(want + size * params, "that includes the parameters: they are not "
                    "counted here, because they live whether the tape saves them or not"),
            Mistake(4 * batch * sum(widths), "that counts 4 bytes an element, float32's; the "
                    f"element size depends on the dtype ({dtype}: {size} bytes)"),
        )  # fmt: skip
        check.case = f"batch {batch}, widths {list(widths)}, {dtype}"
        received = check.call(chain_saved_bytes, batch, widths, dtype,
                              names=("batch", "widths", "dtype"))  # fmt: skip
        if hasattr(received, "item") and not isinstance(received, torch.Tensor):
            received = received.item()  # a numpy integer, e.g. from np.prod
        check.expect("the saved bytes", want, received, rtol=0, atol=0.5, mistakes=mistakes)
    return f"right for {len(BYTES_CASES)} chains: 1 to 5 layers, four dtypes"


# -- checkpointing the chain in segments -----------------------------------------------------

SEGMENT_CASES = [(6, 2), (6, 3), (7, 3), (10, 4), (5, 1), (4, 4), (9, 2)]  # (layers, segments)
WIDTH, BATCH = 6, 4


def plain_run(n: int, seed: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The chain's output and the gradients of its loss, without checkpoints."""
    ctx = Context()
    params = chain_params(ctx, (WIDTH,) * (n + 1), torch.float64, seed)
    x = ctx.variable(_data(seed))
    out = tanh_layers(x, *params)
    chain_loss(out).backward()
    return out.value, [p.grad for p in params]


def _data(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(100 + seed)
    return torch.randn(BATCH, WIDTH, generator=generator, dtype=torch.float64)


def segment_sizes(ctx: Context) -> tuple[list[int], list[str]]:
    """The layers of each Recompute node on the tape, and the ops recorded outside them."""
    sizes, others = [], []
    for record in ctx.records():
        if record["op"] == "Recompute":
            sizes.append((len(record["inputs"]) - 1) // 2)  # h, then a (W, b) pair a layer
        else:
            others.append(record["op"])
    return sizes, others


@exercise(
    "checkpoint_chain",
    lesson=19,
    title="checkpoint a chain in segments",
    hints=(
        "Cut the n layers into `segments` runs of consecutive layers, as equal in length as "
        "possible, and send h through each run with mg.recompute(segment, h, *that run's "
        "parameters): each run becomes one Recompute node that keeps only its input. The "
        "parameters must go in as inputs, because the run is re-run on a tape of its own.",
        "Layer i (counted from 0) owns params[2 i] and params[2 i + 1]. With n layers and k "
        "segments, give the first n mod k segments one layer more than the others, which get "
        "n // k each (divmod gives both). Keep a running start index: a run of L layers "
        "starting at layer s owns params[2 s : 2 (s + L)].",
    ),
)
def check_checkpoint_chain(check: Check, checkpointed_forward) -> str:
    """``checkpointed_forward(segment, x, params, segments)``: the chain's output, checkpointed."""
    for seed, (n, k) in enumerate(SEGMENT_CASES):
        want, want_grads = plain_run(n, seed)
        ctx = Context()
        params = chain_params(ctx, (WIDTH,) * (n + 1), torch.float64, seed)
        x = ctx.variable(_data(seed))
        check.case = f"{n} layers in {k} segments"
        out = check.call(checkpointed_forward, tanh_layers, x, params, k,
                         names=("segment", "x", "params", "segments"))  # fmt: skip
        if not isinstance(out, Variable):
            check.fail(f"expected the chain's output (a Variable), received {type(out).__name__}")
        if out.node is not None and out.node.released:
            check.fail("the tape behind your output is already empty", "return the output "
                       "without calling backward yourself: the check runs it")  # fmt: skip
        sizes, others = segment_sizes(ctx)
        if not sizes:
            check.fail("the tape has no Recompute node", "every layer's activations are still "
                       "on the tape: send each run of layers through mg.recompute")  # fmt: skip
        if others:
            check.fail(f"besides {len(sizes)} Recompute node(s), the tape holds {others}",
                       "some layers ran outside mg.recompute, so their activations are saved: "
                       "every layer belongs to one segment")  # fmt: skip
        if len(sizes) != k:
            check.fail(f"the tape has {len(sizes)} Recompute nodes for {k} segments",
                       "one Recompute node per segment: check how many runs your split makes "
                       "(a remainder must not become a segment of its own)")  # fmt: skip
        if sum(sizes) != n:
            check.fail(f"the segments hold {sizes} layers, {sum(sizes)} in all, not {n}",
                       "each layer must run exactly once: check where each run starts and "
                       "ends")  # fmt: skip
        if max(sizes) - min(sizes) > 1:
            check.fail(f"the segments hold {sizes} layers", "as equal as possible: the longest "
                       "segment sets the peak while it is recomputed, so no segment should be "
                       "more than one layer longer than another")  # fmt: skip
        check.expect("the output", want, out)
        chain_loss(out).backward()
        for p, grad in zip(params, want_grads):
            check.expect(f"dL/d{p.name}", grad, p.grad, mistakes=(Mistake(
                2 * grad, "twice the gradient: was the backward run twice?"),))  # fmt: skip
    return f"the same output and gradients as the plain chain for {len(SEGMENT_CASES)} splits"
