"""Lesson 12's exercises: debugging tools, written by the learner and held to the real ones.

* ``first_nonfinite``: on the tapes of a few broken models (kept outputs), the
  first node whose output holds a NaN or an Inf. The expected index is read
  off each tape by looking at every output; a test holds it to what
  ``mg.detect_anomaly()`` reports for the same model.
* ``dead_fraction``: the fraction of ReLU units that are zero for every
  example of a batch, on batches with planted dead units.
* ``clip_grad_norm``: gradient clipping by the total norm, against
  ``torch.nn.utils.clip_grad_norm_`` on the same gradients.
"""

from __future__ import annotations

import torch

from minigrad import ops
from minigrad.exercises.checking import Check, Mistake, exercise
from minigrad.tape import Context, Node
from minigrad.variable import Variable

# -- the first non-finite node -------------------------------------------------------------

BROKEN_LAYOUTS = 4


def broken_model(layout: int = 0) -> tuple[Context, Variable]:
    """A small model whose loss is not finite, recorded on a tape that keeps every output.

    layout 0: a softmax written by hand, whose exp overflows (inf, then inf / inf = nan)
    layout 1: log of a softmax that underflowed to 0 (-inf, then 0 * -inf = nan)
    layout 2: sqrt of values that can be negative (nan)
    layout 3: a division by a ReLU's output, which is 0 for some units (inf, then nan)
    """
    generator = torch.Generator().manual_seed(40 + layout)

    def leaf(*shape, scale=1.0, name=None):
        value = torch.randn(shape, generator=generator) * scale
        return ctx.variable(value, requires_grad=True, name=name)

    ctx = Context(keep_outputs=True, name=f"broken model {layout}")
    x, w, b = leaf(8, 3, scale=30.0, name="x"), leaf(5, 3, scale=3.0, name="w"), leaf(5, name="b")
    targets = torch.nn.functional.one_hot(torch.arange(8) % 5, 5).float()
    z = ops.linear(x, w, b)
    if layout == 0:
        e = ops.exp(z)
        p = ops.div(e, ops.sum(e, dim=1, keepdim=True))
        loss = ops.mean(ops.mul(ops.neg(ops.log(p)), targets))
    elif layout == 1:
        p = ops.softmax(ops.tanh(ops.mul(z, 0.01)) * 200.0, dim=1)
        loss = ops.mean(ops.mul(ops.neg(ops.log(p)), targets))
    elif layout == 2:
        h = ops.tanh(ops.mul(z, 0.05))
        loss = ops.mean(ops.sqrt(ops.sub(h, 0.2)))
    else:
        h = ops.relu(ops.mul(z, 0.1))
        r = ops.div(ops.tanh(ops.mul(z, 0.1)), h)
        loss = ops.mean(ops.mul(r, r))
    return ctx, loss


def finite_outputs(node: Node) -> tuple[bool, bool]:
    """(no NaN, no Inf) in every output of ``node``."""
    values = [v.value for v in node.payload.outputs() if v is not None]
    return (
        all(not bool(torch.isnan(v).any()) for v in values),
        all(not bool(torch.isinf(v).any()) for v in values),
    )


def nonfinite_nodes(ctx: Context) -> tuple[list[int], list[int]]:
    """The indices of the nodes whose outputs hold a NaN, and of those that hold an Inf."""
    nans, infs = [], []
    for node in ctx:
        no_nan, no_inf = finite_outputs(node)
        if not no_nan:
            nans.append(node.index)
        if not no_inf:
            infs.append(node.index)
    return nans, infs


@exercise(
    "first_nonfinite",
    lesson=12,
    title="the first non-finite node of a broken model",
    hints=(
        "Once a value is NaN or Inf, everything computed from it is too, so the loss only "
        "says *that* something broke. The tape lists the ops in the order they ran, and on a "
        "tape that keeps its outputs each node still has what it made: walk it from the "
        "start and stop at the first node whose output is not finite. Inf counts as much as "
        "NaN (log(0) is -inf, and it is the NaN's cause).",
        "For each node of ctx, in order: its outputs are node.payload.outputs() (Variables; "
        "their tensors are .value); torch.isfinite(t).all() is False when t holds a NaN or an "
        "Inf. The answer is the first such node's node.index.",
    ),
)
def check_first_nonfinite(check: Check, first_nonfinite) -> str:
    """``first_nonfinite(ctx)`` -> the index of the first node whose output is not finite."""
    answers = []
    for layout in range(BROKEN_LAYOUTS):
        ctx, _ = broken_model(layout)
        nans, infs = nonfinite_nodes(ctx)
        culprit = min(nans + infs)  # the expected answer, read off the tape before the call
        ops_on_tape = [node.op for node in ctx]
        check.case = f"broken model {layout + 1} of {BROKEN_LAYOUTS}"
        received = check.call(first_nonfinite, ctx, names=("ctx",))
        when_none = "this model's loss is not finite, so some node's output is not" + (
            "" if nans else ": here it is an Inf, not a NaN (look for both)"
        )
        answer = check.expect_node_index(received, ctx, when_none)
        answers.append(answer)
        if answer == culprit:
            continue
        detail = f"the answer {answer} is wrong"
        if len(set(answers)) == 1 and layout > 0:
            says = f"you returned {answer} on every tape; read each tape to find its first one"
        elif infs and answer == min(nans, default=None) and min(infs) < answer:
            says = (
                f"node {answer} ({ops_on_tape[answer]}) holds the first NaN, but node "
                f"{min(infs)} ({ops_on_tape[min(infs)]}) made an Inf before it: look for both"
            )
        elif answer == max(nans + infs):
            says = (
                "that is the last node with a non-finite output: NaN and Inf spread forward "
                "from where they start, so walk the tape from its beginning"
            )
        elif answer == culprit + 1:
            says = (
                "one node too late: that node received a non-finite value; it did not make "
                "the first one"
            )
        elif answer in nans + infs:
            says = (
                f"node {answer} ({ops_on_tape[answer]}) is not finite, but only because an "
                "earlier node's output was not"
            )
        else:
            says = f"node {answer} ({ops_on_tape[answer]}) has only finite values in its output"
        check.fail(detail, says)
    return f"found the first non-finite node on {BROKEN_LAYOUTS} broken tapes, Inf or NaN"


# -- dead ReLUs ------------------------------------------------------------------------------


def dead_batch(generator, examples: int, units: int, dead: int, nearly_dead=0, quiet=0):
    """ReLU outputs (examples, units) with ``dead`` units that are 0 for every example.

    ``nearly_dead`` more units are 0 for every example but one, where they are tiny;
    the first ``quiet`` examples make no unit fire.
    """
    hidden = torch.relu(torch.randn(examples, units, generator=generator))
    hidden[:quiet] = 0.0
    rows = torch.randint(quiet, examples, (units,), generator=generator)
    hidden[rows, torch.arange(units)] += 0.5  # every unit fires for some example...
    order = torch.randperm(units, generator=generator)  # ...until some are killed
    hidden[:, order[:dead]] = 0.0
    for unit in order[dead : dead + nearly_dead]:
        hidden[:, unit] = 0.0
        hidden[int(torch.randint(examples, (1,), generator=generator)), unit] = 1e-30
    return hidden


@exercise(
    "dead_fraction",
    lesson=12,
    title="the fraction of dead ReLU units",
    hints=(
        "A unit is a column of the (examples, units) activations. It is dead on this batch "
        "when it is 0 for every example: no example makes it fire, so none sends gradient "
        "through it. A unit that fires for one example, however weakly, is alive.",
        "For each column, test whether every entry is <= 0 (a reduction over dimension 0, "
        "the examples); the answer is the number of such columns divided by the number of "
        "columns, as a float.",
    ),
)
def check_dead_fraction(check: Check, dead_fraction) -> str:
    """``dead_fraction(hidden)`` -> the fraction (0 to 1) of units that never fire."""
    generator = torch.Generator().manual_seed(12)
    # examples, units, dead units, units that fire once and weakly, examples that fire nothing
    cases = [
        (64, 32, 8, 0, 4),
        (8, 10, 3, 2, 0),
        (5, 4, 0, 0, 2),
        (128, 50, 30, 5, 3),
        (1, 6, 2, 0, 0),
    ]
    for examples, units, dead, nearly, quiet in cases:
        hidden = dead_batch(generator, examples, units, dead, nearly, quiet)
        want = dead / units
        zero = hidden <= 0
        mistakes = (
            Mistake(float(zero.float().mean()), "that is the fraction of activations that are "
                    "0; a unit is dead only when it is 0 for every example"),
            Mistake(float(zero.any(0).float().mean()), "that counts a unit as dead when it is 0 "
                    "for some example; it is dead only when it is 0 for all of them"),
            Mistake(float(dead), "that is the number of dead units, not the fraction"),
            Mistake(1 - want, "that is the fraction of units that are alive"),
            Mistake(float((hidden < 0).all(0).float().mean()), "a ReLU's output is never below "
                    "0: a dead unit outputs exactly 0"),
            Mistake(float(zero.all(1).float().mean()), "that is the fraction of examples for "
                    "which every unit is 0: the units are the columns (dimension 1)"),
            Mistake(float((hidden <= 1e-20).all(0).float().mean()), "a unit that fires for one "
                    "example, however weakly, is alive: compare with 0 itself"),
        )  # fmt: skip
        check.case = f"{examples} examples of {units} units"
        received = check.call(dead_fraction, hidden, names=("hidden",))
        check.expect("the dead fraction", want, received, mistakes=mistakes)
    return (
        f"right on {len(cases)} batches, from 1 example to 128, weakly firing units and silent "
        "examples included"
    )


# -- clipping the gradient norm ---------------------------------------------------------------


def clip_case(generator, shapes, scale: float, without_grad: int | None = None):
    """Variables with gradients (one perhaps without), and torch's clipped copies of them."""
    params = []
    for i, shape in enumerate(shapes):
        p = Variable(torch.randn(shape, generator=generator), requires_grad=True, name=f"p{i}")
        if i != without_grad:
            p.grad = torch.randn(shape, generator=generator) * scale
        params.append(p)
    return params


def torch_clip(params, max_norm: float):
    """torch.nn.utils.clip_grad_norm_ on copies: (total norm, the clipped gradients)."""
    copies = []
    for p in params:
        copy = torch.zeros_like(p.value)
        copy.grad = None if p.grad is None else p.grad.clone()
        copies.append(copy)
    total = torch.nn.utils.clip_grad_norm_(copies, max_norm)
    return float(total), [c.grad for c in copies]


def clip_slips(params, max_norm: float):
    """What common slips do to the gradients, and to the norm returned, with their words."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = [float(g.norm()) for g in grads]
    total = sum(n * n for n in norms) ** 0.5
    scale_by = lambda factor: [g * factor for g in grads]  # noqa: E731
    grad_slips = [
        (
            [g * min(1.0, max_norm / (n + 1e-6)) for g, n in zip(grads, norms)],
            "each gradient was clipped by its own norm; clipping scales all of them by one "
            "factor, from the norm of all of them together",
        ),
        (scale_by(max_norm / total), "the gradients were scaled up although their norm was "
         "below max_norm: clipping only ever shrinks"),
        (scale_by(max_norm / sum(norms)), "that scales by the sum of the parameters' norms; the "
         "total norm is the norm of all the gradients joined into one vector"),
        (scale_by(min(1.0, max_norm / total**2)), "that scales by the squared norm: the total "
         "norm is the square root of the sum of squares"),
    ]  # fmt: skip
    norm_slips = (
        Mistake(min(total, max_norm), "that is the norm after clipping; return the one before"),
        Mistake(sum(norms), "that is the sum of the parameters' norms; the total norm is the "
                "norm of all the gradients joined into one vector"),
        Mistake(total**2, "that is the squared norm: take its square root"),
    )  # fmt: skip
    return grad_slips, norm_slips


CLIP_CASES = [  # parameter shapes, gradient scale, max_norm, the parameter without a gradient
    ([(3, 4), (4,), (2, 2, 3)], 1.0, 1.0, None),
    ([(5, 5), (5,)], 0.01, 10.0, None),  # already small: nothing to clip
    ([(6,), (3, 3), (2,)], 100.0, 5.0, 1),
    ([(4, 2), (8,)], 30.0, 1.5, None),
]


@exercise(
    "clip_grad_norm",
    lesson=12,
    title="gradient clipping, as torch.nn.utils.clip_grad_norm_",
    hints=(
        "Think of all the parameters' gradients as one long vector. If its length (the total "
        "norm) is above max_norm, shrink every gradient by the same factor so that the "
        "length becomes max_norm; if it is below, leave them alone. The direction of the "
        "step does not change, only its size. Parameters whose .grad is None take no part.",
        "total = sqrt(sum over parameters of sum(grad^2)); factor = max_norm / total (torch "
        "adds 1e-6 to total here, for safety), used only when it is below 1; multiply every "
        "gradient by it; return total.",
    ),
)
def check_clip_grad_norm(check: Check, clip_grad_norm) -> str:
    """``clip_grad_norm(parameters, max_norm)`` rescales the .grad s in place, returns the norm."""
    generator = torch.Generator().manual_seed(13)
    cases = []
    for shapes, scale, max_norm, without in CLIP_CASES:
        params = clip_case(generator, shapes, scale, without)
        cases.append((params, max_norm, torch_clip(params, max_norm), clip_slips(params, max_norm)))
    for params, max_norm, (total, clipped), (grad_slips, norm_slips) in cases:
        check.case = f"{len(params)} parameters, max_norm = {max_norm}, total norm {total:.4g}"
        with_grads = [i for i, p in enumerate(params) if p.grad is not None]
        received = check.call(clip_grad_norm, params, max_norm, names=("parameters", "max_norm"))
        for position, (i, want) in enumerate(
            zip(with_grads, (c for c in clipped if c is not None))
        ):
            mistakes = tuple(Mistake(values[position], says) for values, says in grad_slips)
            check.expect(
                f"p{i}.grad", want, params[i].grad, rtol=1e-5, atol=1e-7, mistakes=mistakes
            )
        for i, p in enumerate(params):
            if i not in with_grads and p.grad is not None:
                check.fail(f"p{i} had no gradient and now has one", "leave a .grad of None alone")
        check.expect("the returned total norm", total, received, rtol=1e-5, mistakes=norm_slips)
    return (
        f"the clipped gradients and the total norm match torch.nn.utils.clip_grad_norm_ in "
        f"{len(cases)} cases (one too small to clip, one parameter without a gradient)"
    )
