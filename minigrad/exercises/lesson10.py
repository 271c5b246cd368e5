"""Lesson 10's exercises: an inverted-dropout gate, and what a checkpoint must hold.

Dropout is random, so its check judges properties rather than one answer:
every output is 0 or the input times one common factor, the fraction zeroed
is p (within six standard deviations of a binomial count), the backward
zeroes exactly where the forward did and scales the same way. The learner's
random numbers come from torch's global generator, seeded inside
``torch.random.fork_rng`` so that the check is repeatable and leaves the
lesson's own random state alone.

The checkpoint check trains a small run (batch norm, dropout, AdamW, a cosine
schedule, a shuffling loader) for one epoch, has the learner capture its
state, sends that through ``torch.save`` and ``torch.load(weights_only=True)``
as a file would, restores it into a run built from other seeds, and compares
every part of the training state with the saved run's; then both train one
more epoch and must agree bit for bit.
"""

from __future__ import annotations

import io
import math
import re

import torch

from minigrad.data import DataLoader
from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import missing_chain_factor
from minigrad.exercises.lesson04 import expect_gate_class
from minigrad.nn import BatchNorm, Dropout, Linear, ReLU, Sequential
from minigrad.ops import cross_entropy
from minigrad.optim import AdamW, CosineAnnealingLR
from minigrad.tape import Context

# -- inverted dropout ------------------------------------------------------------------

DROPOUT_SHAPE = (200, 100)  # 20,000 values: the fraction dropped is known to about 1%


def run_dropout(gate_class, p: float, x: torch.Tensor, grad_output: torch.Tensor):
    """``gate_class(p)`` on a fresh leaf, backprop ``grad_output``: (output, x.grad)."""
    ctx = Context(name="check")
    leaf = ctx.variable(x, requires_grad=True, name="x")
    y = gate_class(p)(leaf)
    y.backward(grad_output)
    return y.value, leaf.grad


def scale_slips(p: float) -> dict:
    """Common factors the kept values may carry, and what each one means."""
    return {
        1.0: "the kept values are not scaled: with a fraction p of the values gone, the "
        "survivors must be scaled up so that the expected output equals the input (then "
        "evaluation, where dropout does nothing, sees values of the same size)",
        1 - p: "the kept values were scaled by (1 - p), as the original dropout scales at "
        "evaluation time; inverted dropout does the opposite while training",
        1 / p: "the kept values were divided by p, but p is the fraction dropped: the "
        "fraction kept is 1 - p",
    }


def expect_kept_scaled(check: Check, x, y, p: float) -> torch.Tensor:
    """FAIL unless every output is 0 or x times 1/(1-p); return the mask of kept values."""
    if tuple(y.shape) != tuple(x.shape):
        check.fail(f"the output has shape {tuple(y.shape)}, the input {tuple(x.shape)}")
    kept = y != 0
    if not bool(kept.any()):
        check.fail("every output is zero", "only a fraction p of the values is dropped")
    ratios = y[kept] / x[kept]
    factor = float(ratios.median())
    if not bool(torch.isclose(ratios, torch.full_like(ratios, factor), rtol=1e-5).all()):
        check.fail(
            "the kept values are not the input times one common factor",
            "dropout keeps a value or zeroes it; every kept value is scaled by the same factor",
        )
    want = 1 / (1 - p)
    if not math.isclose(factor, want, rel_tol=1e-5):
        says = next(
            (why for f, why in scale_slips(p).items() if math.isclose(factor, f, rel_tol=1e-5)),
            None,
        )
        check.fail(f"the kept values are {factor:.6g} times the input; expected {want:.6g}", says)
    return kept


def expect_fraction_dropped(check: Check, kept: torch.Tensor, p: float) -> None:
    """FAIL unless the fraction of zeros is p within six binomial standard deviations."""
    n = kept.numel()
    dropped = 1 - float(kept.double().mean())
    allowed = 6 * math.sqrt(p * (1 - p) / n)
    if abs(dropped - p) <= allowed:
        return
    says = None
    if abs(dropped - (1 - p)) <= allowed:
        says = "you dropped a fraction 1 - p: p is the probability of dropping a value"
    check.fail(f"{dropped:.1%} of the {n} values were dropped; p is {p}", says)


@exercise(
    "inverted_dropout",
    lesson=10,
    title="an inverted-dropout gate",
    hints=(
        "forward draws a fresh random mask, each element kept with probability 1 - p, keeps "
        "it on self, and returns the input times the mask, the kept values scaled up so that "
        "the expected output equals the input. backward reuses that same mask: a dropped "
        "value had no effect on the loss, so its gradient is 0, and a kept one was scaled.",
        "mask = (a uniform random tensor shaped like x) >= p, as a float tensor (torch.rand_like "
        "draws one); y = x * mask / (1 - p); dL/dx = grad_output * mask / (1 - p).",
    ),
)
def check_inverted_dropout(check: Check, gate_class) -> str:
    """``gate_class(p)`` must be a Gate: inverted dropout with drop probability ``p``."""
    expect_gate_class(check, gate_class, "InvertedDropout")
    generator = torch.Generator().manual_seed(10)
    cases = []
    for p in (0.25, 0.5, 0.8):
        x = draw(generator, *DROPOUT_SHAPE)
        x = torch.where(x.abs() < 1e-3, torch.ones_like(x), x)  # no zeros in the input
        cases.append((p, x, draw(generator, *DROPOUT_SHAPE)))
    with torch.random.fork_rng():  # the learner draws from torch's global generator
        torch.manual_seed(10)
        for p, x, g in cases:
            check.case = f"p = {p}"
            y, grad = check.call(
                lambda x, g, p=p: run_dropout(gate_class, p, x, g), x, g, names=("x", "grad")
            )
            kept = expect_kept_scaled(check, x, y, p)
            expect_fraction_dropped(check, kept, p)
            again, _ = run_dropout(gate_class, p, x, g)
            if torch.equal(again, y):
                check.fail(
                    "two calls on the same input dropped exactly the same values",
                    "every call must draw a new mask (is a generator seeded inside the gate?)",
                )
            if grad is None or tuple(grad.shape) != tuple(x.shape):
                check.fail("x.grad should have the shape of x", None)
            if not torch.equal(grad == 0, ~kept):
                check.fail(
                    "the gradient is zero at other places than the output",
                    "backward must use the mask that forward drew (keep it on self), not a new one",
                )
            scaled = kept.double() / (1 - p)
            mistakes = (
                missing_chain_factor(scaled),
                Mistake(g * kept, "the gradient of a kept value is not scaled like the value"),
            )
            check.expect("x.grad", g * scaled, grad, mistakes=mistakes)
    return (
        "for p = 0.25, 0.5 and 0.8: the right fraction dropped, the survivors scaled so the "
        "expected output equals the input, a new mask each call, and the backward on its mask"
    )


# -- an exact resume -------------------------------------------------------------------------

RESUME_EXAMPLES = 192
PARTS = [  # each part of the training state, and why a resume needs it
    ("the weights", "the model's learned parameters"),
    ("batch norm's running statistics", "buffers, not parameters: the model's state_dict holds "
     "both"),
    ("the optimiser's memory", "AdamW's running averages and step counts: a fresh AdamW starts "
     "from zero, so its next steps are different"),
    ("the scheduler's place", "without it the learning rate starts its schedule again"),
    ("the loader's shuffling state", "without it the next epoch sees its batches in another "
     "order"),
    ("torch's random state", "dropout draws its masks from torch's global generator"),
]  # fmt: skip


def resume_run(seed: int):
    """A small run that has every kind of state: (model, optimizer, scheduler, loader)."""
    generator = torch.Generator().manual_seed(seed)
    model = Sequential(
        Linear(16, 32, generator=generator), BatchNorm(32), ReLU(), Dropout(0.3),
        Linear(32, 4, generator=generator),
    )  # fmt: skip
    optimizer = AdamW(model.parameters(), lr=0.01, weight_decay=1e-3)
    scheduler = CosineAnnealingLR(optimizer, t_max=4)
    data = torch.Generator().manual_seed(1000)  # the same examples in every run
    x = torch.randn(RESUME_EXAMPLES, 16, generator=data)
    y = torch.randint(4, (RESUME_EXAMPLES,), generator=data)
    loader = DataLoader((x, y), batch_size=32, shuffle=True, generator=seed)
    return model, optimizer, scheduler, loader


def train_epoch(model, optimizer, scheduler, loader) -> None:
    model.train()
    for x, y in loader:
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    scheduler.step()


def training_state(model, optimizer, scheduler, loader) -> list:
    """Copies of the six parts of :data:`PARTS`, in that order."""
    return [
        {name: p.value.clone() for name, p in model.named_parameters()},
        {name: b.value.clone() for name, b in model.named_buffers()},
        optimizer.state_dict(),
        (scheduler.epoch, optimizer.lr),
        loader.state_dict()["generator"].clone(),
        torch.get_rng_state(),
    ]


def same(a, b) -> bool:
    """Equal, bit for bit, through nested dicts, lists and tuples."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        both = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        return both and a.shape == b.shape and torch.equal(a, b.to(a.dtype))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    return a == b


def through_a_file(check: Check, saved):
    """``saved`` after torch.save and torch.load(weights_only=True), as a checkpoint file."""
    buffer = io.BytesIO()
    try:
        torch.save(saved, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=True)
    except Exception as error:
        said = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split(". ")[0].splitlines()[0][:120]
        check.fail(
            f"what capture returned could not go through a file: {type(error).__name__}: {said}",
            "a checkpoint holds plain data only (tensors, numbers, strings, lists, dicts): it is "
            "read with weights_only=True, which refuses objects so that loading a file never "
            "runs code; save each object's state (its state_dict), not the object",
        )


@exercise(
    "exact_resume",
    lesson=10,
    title="what a checkpoint must hold for an exact resume",
    hints=(
        "Ask what decides the next training step: the model's values (all of them, not only "
        "what training learns), what the optimiser remembers between steps, where the "
        "schedule is, which order the loader will shuffle the next epoch into, and the random "
        "numbers dropout will draw. Each of minigrad's objects can hand over its state and take "
        "it back, and torch's global generator can too.",
        "capture: a dict with model.state_dict(), optimizer.state_dict(), "
        "scheduler.state_dict(), loader.state_dict() and torch.get_rng_state(). restore: the "
        "matching load_state_dict of each object, and torch.set_rng_state.",
    ),
)
def check_exact_resume(check: Check, functions) -> str:
    """``functions = (capture, restore)``: capture(model, optimizer, scheduler, loader) -> dict;
    restore(saved, model, optimizer, scheduler, loader) puts it back."""
    capture, restore = check.expect_sequence(functions, 2, "a pair (capture, restore)")
    names = ("model", "optimizer", "scheduler", "loader")
    with torch.random.fork_rng():  # the runs draw dropout masks: leave the lesson's alone
        torch.manual_seed(20)
        original = resume_run(seed=10)
        train_epoch(*original)
        check.case = "a run saved after 1 epoch"
        saved = through_a_file(check, check.call(capture, *original, names=names))
        expected = training_state(*original)
        train_epoch(*original)
        after = training_state(*original)

        torch.manual_seed(999)  # another random state, as in a new process
        fresh = resume_run(seed=11)  # other weights and another shuffling order
        check.call(restore, saved, *fresh, names=("saved", *names))
        differ = [
            part for part, a, b in zip(PARTS, expected, training_state(*fresh)) if not same(a, b)
        ]
        if differ:
            check.fail(
                "after restore, the resumed run differs from the saved one in "
                + ", ".join(name for name, _ in differ),
                "; ".join(f"{name}: {why}" for name, why in differ),
            )
        train_epoch(*fresh)
        if not all(same(a, b) for a, b in zip(after, training_state(*fresh))):
            check.fail(
                "after one more epoch the resumed run no longer matches the uninterrupted one"
            )
    return (
        "a run restored from your checkpoint trains on bit for bit like the uninterrupted one "
        "(weights, batch norm, AdamW, schedule, shuffling, dropout)"
    )
