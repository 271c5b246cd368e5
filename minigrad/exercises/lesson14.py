"""Lesson 14's exercises: log-softmax, cross-entropy's gradient, and a whole MLP's backward by hand.

The MLP of the staged exercise lives here too (its forward in stages, on plain
tensors and on minigrad's tape), so that the lesson, its check and the tests
run one and the same chain:

    hpre     = x W1^T + b1                (N, H)
    h        = tanh(hpre)                 (N, H)
    logits   = h W2^T + b2                (N, C)
    shifted  = logits - max_c logits      (N, C)   the max is a constant shift
    counts   = exp(shifted)               (N, C)
    total    = sum_c counts               (N, 1)
    logprobs = shifted - log(total)       (N, C)
    loss     = -mean_n logprobs[n, y_n]

The expected gradients are closed forms on plain torch tensors; minigrad's
own tape gives the same numbers (the lesson shows it, the tests prove both
against torch.autograd).
"""

from __future__ import annotations

import torch

from minigrad import ops
from minigrad.exercises.chain import expect_chain
from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.compare import mismatch
from minigrad.exercises.diagnoses import (
    as_float64,
    missing_chain_factor,
    overwritten,
    wrong_broadcast_dims,
)
from minigrad.tape import Context
from minigrad.variable import Variable

PARAMETERS = ("W1", "b1", "W2", "b2")
# The stages whose gradients backward computes, in the order it computes them.
BACKWARD_ORDER = (
    "logprobs", "total", "counts", "shifted", "logits", "h", "W2", "b2", "hpre", "W1", "b1",
)  # fmt: skip


def log_softmax_rows(z: torch.Tensor) -> torch.Tensor:
    """log softmax along dim 1, shifted by each row's max so that exp never overflows."""
    shifted = z - z.max(1, keepdim=True).values
    return shifted - shifted.exp().sum(1, keepdim=True).log()


def one_hot_rows(y: torch.Tensor, classes: int, dtype=torch.float64) -> torch.Tensor:
    """(N, C) with a 1 at (n, y_n) and 0 elsewhere."""
    out = torch.zeros(len(y), classes, dtype=dtype)
    out[torch.arange(len(y)), y] = 1.0
    return out


def nonfinite_fail(check: Check, name: str, z: torch.Tensor, want: torch.Tensor, received) -> None:
    """FAIL, saying overflow, where the answer is inf or nan but the expected value is finite."""
    got = as_float64(received)
    if got is None or got.shape != want.shape:
        return
    broken = ~torch.isfinite(got) & torch.isfinite(want)
    if bool(broken.any()):
        at = tuple(int(i) for i in broken.nonzero()[0])
        check.fail(
            f"{name} is {got[at].item()} at index {at}, where it should be "
            f"{want[at].item():.6g} (these logits reach {z.abs().max().item():.0f} in size)",
            "exp overflowed or underflowed: e**800 is inf even in float64 (e**709 is the "
            "largest), and e**-800 is 0, so a ratio or log of such terms is inf or nan; "
            "shift each row by its largest logit first, which changes nothing in exact maths",
        )


def logit_cases(generator: torch.Generator) -> list[torch.Tensor]:
    """Logits of several shapes and sizes, square ones and ones near +-800 included."""
    extreme = torch.tensor([[800.0, -800.0, 0.0], [800.0, 799.0, 798.5], [-800.0, -801.0, -805.0]])
    return [
        draw(generator, 4, 3),
        draw(generator, 5, 5, scale=10),
        draw(generator, 6, 10, scale=3) + 800,
        extreme.double(),
        draw(generator, 3, 7, scale=2) - 800,
    ]


# -- a stable log-softmax ----------------------------------------------------------------


@exercise(
    "stable_log_softmax",
    lesson=14,
    title="a log-softmax that is stable at +-800",
    hints=(
        "log softmax(z)_c = z_c - log sum_k exp(z_k), row by row (dim 1). Written like that, "
        "exp(800) is inf and the answer is nan. But subtracting the same number m from "
        "every logit of a row changes no probability: choose m so that no exp can overflow.",
        "With m the row's largest logit: log softmax(z)_c = (z_c - m) - log sum_k exp(z_k - m). "
        "Every exponent is now <= 0, so every exp is in (0, 1], and the sum is at least 1 "
        "(the max's own term), so its log is finite. Keep dim 1 when you take the max and "
        "the sum, so that they broadcast back over the row.",
    ),
)
def check_stable_log_softmax(check: Check, log_softmax) -> str:
    """``log_softmax(z)`` for logits z of shape (N, C): log-probabilities along dim 1."""
    generator = torch.Generator().manual_seed(14)
    cases = logit_cases(generator)
    for z in cases:
        want = log_softmax_rows(z)
        shifted = z - z.max(1, keepdim=True).values
        mistakes = (
            Mistake(want.exp(), "that is the softmax itself, the probabilities: take their log"),
            Mistake(shifted, "that is the logits minus their max: log sum exp of the shifted "
                    "logits is still to be subtracted"),
            Mistake(z - torch.logsumexp(shifted, 1, keepdim=True), "the max you subtract inside "
                    "the log-sum-exp must be subtracted from the logit outside it as well"),
            Mistake(z - torch.logsumexp(z, 0, keepdim=True), "that log-sum-exp ran over dim 0, "
                    "across the examples: a row's classes lie along dim 1"),
        )  # fmt: skip
        check.case = f"logits of shape {tuple(z.shape)} up to {z.abs().max().item():.0f}"
        received = check.call(log_softmax, z, names=("z",))
        nonfinite_fail(check, "the log-softmax", z, want, received)
        check.expect("the log-softmax", want, received, mistakes=mistakes)
    return f"right on {len(cases)} sets of logits, also where they reach +-800"


# -- the gradient of cross-entropy ----------------------------------------------------------


@exercise(
    "cross_entropy_grad",
    lesson=14,
    title="cross-entropy's gradient: (softmax - onehot) / N",
    hints=(
        "The loss is the mean over N examples of -logprobs[n, y_n], and logprobs = z - "
        "log sum exp(z) row by row. Each example's logits reach the loss along two paths: "
        "directly through its true class, and through the log-sum-exp, which every logit "
        "of its row feeds. Then remember the mean.",
        "d/dz_c of log sum_k exp(z_k) is softmax(z)_c, and d/dz_c of z_y is 1 if c = y, else 0. "
        "So one example's loss -z_y + log sum exp(z) has the gradient softmax(z) - onehot(y); "
        "the mean over the batch divides each row by N. Compute the softmax stably (as in "
        "the exercise above).",
    ),
)
def check_cross_entropy_grad(check: Check, cross_entropy_backward) -> str:
    """``cross_entropy_backward(z, y)``: dL/dz for L = mean_n -log softmax(z_n)[y_n], (N, C)."""
    generator = torch.Generator().manual_seed(140)
    cases = logit_cases(generator)
    for z in cases:
        n, classes = z.shape
        y = torch.randint(0, classes, (n,), generator=generator)
        probs, onehot = log_softmax_rows(z).exp(), one_hot_rows(y, classes)
        want = (probs - onehot) / n
        mistakes = (
            Mistake(probs / n, "that is softmax / N alone: the loss also reads the true class's "
                    "logit directly, which subtracts 1 there"),
            Mistake(-onehot / n, "that is the gradient with respect to the log-probabilities; "
                    "the logits also feed every row's log-sum-exp, which adds the softmax"),
        )  # fmt: skip
        factors = {n: "the loss is the mean over the N examples of the batch: divide by N"}
        if n != classes:
            factors[n / classes] = "divide by N, the number of examples, not by the classes"
        check.case = f"logits of shape {(n, classes)} up to {z.abs().max().item():.0f}"
        received = check.call(cross_entropy_backward, z, y, names=("z", "y"))
        nonfinite_fail(check, "dL/dz", z, want, received)
        check.expect("dL/dz", want, received, mistakes=mistakes, factors=factors)
    return f"right on {len(cases)} batches, also where the logits reach +-800"


# -- the MLP of the staged exercise ----------------------------------------------------------


def init_mlp(sizes: tuple[int, int, int], seed: int = 0, scale: float = 1.0) -> dict:
    """Parameters W1 (H, D), b1 (H,), W2 (C, H), b2 (C,) in float64, as a dict.

    Weights are normal with std scale / sqrt(fan_in); biases have std 0.1 * scale.
    """
    inputs, hidden, classes = sizes
    generator = torch.Generator().manual_seed(seed)
    return {
        "W1": draw(generator, hidden, inputs, scale=scale / inputs**0.5),
        "b1": draw(generator, hidden, scale=0.1 * scale),
        "W2": draw(generator, classes, hidden, scale=scale / hidden**0.5),
        "b2": draw(generator, classes, scale=0.1 * scale),
    }


def mlp_stages(x: torch.Tensor, y: torch.Tensor, params: dict) -> dict:
    """Every stage of the MLP's forward, on plain tensors: x, hpre, h, ..., loss (see above)."""
    hpre = x @ params["W1"].T + params["b1"]
    h = torch.tanh(hpre)
    logits = h @ params["W2"].T + params["b2"]
    shifted = logits - logits.max(1, keepdim=True).values
    counts = shifted.exp()
    total = counts.sum(1, keepdim=True)
    logprobs = shifted - total.log()
    loss = -logprobs[torch.arange(len(y)), y].mean()
    names = ("x", "hpre", "h", "logits", "shifted", "counts", "total", "logprobs", "loss")
    return dict(zip(names, (x, hpre, h, logits, shifted, counts, total, logprobs, loss)))


def staged_gradients(f: dict, params: dict, y: torch.Tensor) -> dict:
    """The closed-form gradient of the loss for every stage, in backward order."""
    n, classes = f["logits"].shape
    g = {"logprobs": -one_hot_rows(y, classes, f["logits"].dtype) / n}
    g["total"] = -g["logprobs"].sum(1, keepdim=True) / f["total"]
    g["counts"] = g["total"].expand_as(f["counts"]).clone()
    g["shifted"] = g["logprobs"] + f["counts"] * g["counts"]
    g["logits"] = g["shifted"]  # the max's two uses cancel: its total gradient is 0
    g["h"] = g["logits"] @ params["W2"]
    g["W2"] = g["logits"].T @ f["h"]
    g["b2"] = g["logits"].sum(0)
    g["hpre"] = g["h"] * (1 - f["h"] ** 2)
    g["W1"] = g["hpre"].T @ f["x"]
    g["b1"] = g["hpre"].sum(0)
    return {name: g[name] for name in BACKWARD_ORDER}


def stage_mistakes(f: dict, params: dict, g: dict) -> dict:
    """Per stage, the wrong answers a learner typically gives, computed on this case."""
    n = len(f["x"])
    slope = 1 - f["h"] ** 2
    skipped_tanh = "that skips tanh: the layer's input is hpre, so use hpre's gradient"
    return {
        "logprobs": (
            Mistake(
                torch.full_like(g["logprobs"], -1 / n),
                "every log-probability got a "
                "gradient, but the loss reads only one per row: the true class's",
            ),
        ),
        "total": (
            Mistake(
                -g["logprobs"].sum(1, keepdim=True),
                "the derivative of log(total) is 1 / total: that factor is missing",
            ),
            Mistake(
                g["logprobs"] / f["total"],
                "log(total) was subtracted from every entry of "
                "the row: add up what the row's entries send back (total is (N, 1))",
            ),
        ),
        "counts": (
            Mistake(
                g["total"],
                "total is the sum of a row's counts, so every count of the row "
                "gets the whole gradient of that total: spread it over counts' shape (N, C)",
            ),
            Mistake(
                g["total"] * f["counts"],
                "that already multiplies by exp's derivative, "
                "which belongs to the next stage (shifted)",
            ),
        ),
        "shifted": (
            overwritten(f["counts"] * g["counts"]),
            overwritten(g["logprobs"]),
            Mistake(
                g["logprobs"] + g["counts"],
                "exp's derivative is exp itself: the path through counts multiplies by counts",
            ),
        ),
        "h": (
            Mistake(
                g["h"] * slope,
                "that already multiplies by tanh's derivative, which belongs "
                "to the next stage (hpre)",
            ),
        ),
        "W2": (
            Mistake(
                g["logits"].T @ f["hpre"],
                "the second layer multiplied h, not hpre: pair "
                "the gradient with the layer's own input",
            ),
        ),
        "b2": (
            wrong_broadcast_dims(g["logits"].sum(1), (1,), (0,)),
            Mistake(
                g["logits"].mean(0),
                "that is the mean over the batch: b2 was added to "
                "every row, so the rows' gradients add up",
            ),
        ),
        "hpre": (
            Mistake(
                g["h"] * (1 - f["hpre"] ** 2),
                "tanh'(a) = 1 - tanh(a)**2: square the output h, not the input hpre",
            ),
            missing_chain_factor(slope),
        ),
        "W1": (Mistake(g["h"].T @ f["x"], skipped_tanh),),
        "b1": (
            Mistake(g["h"].sum(0), skipped_tanh),
            wrong_broadcast_dims(g["hpre"].sum(1), (1,), (0,)),
        ),
    }


# (N, D, H, C) and the weights' scale: square sizes, and saturated tanh units at scale 3.
STAGED_CASES = [(8, 6, 5, 4, 1.0), (5, 5, 5, 5, 1.0), (16, 10, 7, 3, 3.0), (4, 3, 6, 6, 0.5)]


@exercise(
    "staged_backward",
    lesson=14,
    title="a whole MLP's backward, stage by stage",
    hints=(
        "Go from the loss back, one stage at a time, and at each stage ask two questions: "
        "which stages did this one feed (add up what each of them sends back), and what is "
        "the local derivative of the stage it came from? A gradient always has the shape of "
        "its value: when a forward step broadcast something, its backward sums.",
        "logprobs: -1/N at (n, y_n), 0 elsewhere. total: minus the row sum of dlogprobs, "
        "divided by total. counts: dtotal spread over the row. shifted: two uses, so "
        "dlogprobs plus counts * dcounts. logits: the same as dshifted (the max is a "
        "constant shift). A layer y = x W^T + b sends dy W to x, dy^T x to W and the column "
        "sums of dy to b. tanh: multiply by 1 - h**2.",
    ),
)
def check_staged_backward(check: Check, backward_by_hand) -> str:
    """``backward_by_hand(f, p, y)`` returns {stage: dloss/dstage} for the stages of the MLP.

    ``f`` holds the forward's stages (see :func:`mlp_stages`), ``p`` the
    parameters. The stages are compared in backward order; the FAIL names the
    first wrong one and checks none after it.
    """
    for seed, (n, inputs, hidden, classes, scale) in enumerate(STAGED_CASES):
        generator = torch.Generator().manual_seed(1400 + seed)
        params = init_mlp((inputs, hidden, classes), seed=1400 + seed, scale=scale)
        x = draw(generator, n, inputs)
        y = torch.randint(0, classes, (n,), generator=generator)
        f = mlp_stages(x, y, params)
        want = staged_gradients(f, params, y)
        mistakes = stage_mistakes(f, params, want)
        factors = {"logprobs": {n: "the loss is the mean over the N examples: divide by N"}}
        check.case = f"N={n}, D={inputs}, H={hidden}, C={classes}, weights x{scale}"
        received = check.call(backward_by_hand, f, params, y, names=("f", "p", "y"))
        expect_chain(check, want, received, mistakes=mistakes, factors=factors)
    return (
        f"all {len(BACKWARD_ORDER)} stages are right on {len(STAGED_CASES)} networks, square "
        "and saturated ones included"
    )


# -- the same chain on minigrad's tape ---------------------------------------------------------


def mlp_on_tape(x: torch.Tensor, y: torch.Tensor, params: dict) -> tuple[Variable, dict]:
    """The MLP's forward recorded on a fresh tape: ``(loss, {name: Variable})``.

    The parameters are leaves that require gradients; every stage is named as in
    :func:`mlp_stages`. The max of each row is subtracted as a constant (its two
    uses cancel), so it is not a node of its own.
    """
    ctx = Context(keep_outputs=True, name="mlp")
    v = {"x": ctx.variable(x, name="x")}
    v.update({k: ctx.variable(params[k], requires_grad=True, name=k) for k in PARAMETERS})
    stages = {}
    stages["hpre"] = ops.linear(v["x"], v["W1"], v["b1"])
    stages["h"] = ops.tanh(stages["hpre"])
    stages["logits"] = ops.linear(stages["h"], v["W2"], v["b2"])
    stages["shifted"] = ops.sub(
        stages["logits"], stages["logits"].value.max(1, keepdim=True).values
    )
    stages["counts"] = ops.exp(stages["shifted"])
    stages["total"] = ops.sum(stages["counts"], dim=1, keepdim=True)
    stages["logprobs"] = ops.sub(stages["shifted"], ops.log(stages["total"]))
    picked = ops.index(stages["logprobs"], (torch.arange(len(y)), y))
    loss = ops.neg(ops.mean(picked))
    for name, variable in stages.items():
        variable.name = name
    loss.name = "loss"
    return loss, {**stages, **{k: v[k] for k in PARAMETERS}}


def tape_gradients(loss: Variable, stages: dict) -> dict:
    """Backprop ``loss`` on minigrad's tape; the gradient of every stage, in backward order."""
    caught = {}
    for name, variable in stages.items():
        if not variable.is_leaf:
            variable.register_hook(lambda grad, name=name: caught.__setitem__(name, grad))
    loss.backward()
    caught.update({k: stages[k].grad for k in PARAMETERS})
    return {name: caught[name] for name in BACKWARD_ORDER}


def compare_stages(mine: dict, reference: dict) -> list[tuple[str, str, float]]:
    """(stage, "right" or "WRONG", largest difference) for each stage, in backward order."""
    rows = []
    for name, want in reference.items():
        got = mine.get(name)
        if got is None:
            rows.append((name, "missing", float("nan")))
            continue
        wrong = mismatch(name, want, got)
        got, want = as_float64(got), as_float64(want)
        gap = (got - want).abs().max().item() if got.shape == want.shape else float("inf")
        rows.append((name, "WRONG" if wrong else "right", gap))
    return rows
