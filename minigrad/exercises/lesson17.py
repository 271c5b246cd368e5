"""Lesson 17's exercises: an RNN step's backward, backprop through time, truncated BPTT.

The recurrent network of the lesson, on plain tensors:

    h_t = tanh(x_t Wx^T + h_{t-1} Wh^T + b)        x_t (N, D), h_t (N, H)

Backprop through time walks the steps in reverse. The gradient arriving at
h_t is what the loss sends it directly (dhs[t], e.g. from a prediction made
at step t) plus what step t + 1 sent back through Wh; each step adds its share
to the parameters' gradients:

    da = dh * (1 - h_t**2),  dx_t = da Wx,  dh_{t-1} = da Wh,
    dWx += da^T x_t,  dWh += da^T h_{t-1},  db += sum_n da

Truncated BPTT cuts the sequence into chunks of k steps and lets no gradient
cross from one chunk into the one before (``h.detach()`` at every k-th step).

The lesson's gated cell (a GRU, as torch.nn.GRUCell computes it) is composed
here from minigrad's own ops; it is lesson material, not a library module.
"""

from __future__ import annotations

import math

import torch

from minigrad import ops
from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.exercises.diagnoses import overwritten, walked_forward, wrong_broadcast_dims
from minigrad.tape import Context

# -- the recurrent network, forward and backward as closed forms ------------------------


def rnn_forward(xs, h0, Wx, Wh, b) -> torch.Tensor:
    """Every hidden state h_1 ... h_T, shape (T, N, H), from inputs xs (T, N, D) and h0 (N, H)."""
    hs, h = [], h0
    for x in xs:
        h = torch.tanh(x @ Wx.T + h @ Wh.T + b)
        hs.append(h)
    return torch.stack(hs)


def step_backward(x, h_prev, Wx, Wh, h, dh):
    """(dx, dh_prev, dWx, dWh, db) of one step h = tanh(x Wx^T + h_prev Wh^T + b), given dh."""
    da = dh * (1 - h**2)
    return da @ Wx, da @ Wh, da.T @ x, da.T @ h_prev, da.sum(0)


def reverse_steps(xs, h0, Wx, Wh, hs, dhs, cuts=frozenset(), forward=False, paired_with=None):
    """Yield (t, step_backward's five gradients) for each step, in the order BPTT visits them.

    ``cuts``: the steps t whose h_{t-1} receives nothing from step t (truncation).
    The last two options replay typical mistakes: ``forward`` visits t = 0 first
    (the tape walked forward), ``paired_with="output"`` pairs dWh with h_t.
    """
    states = [h0, *hs]  # states[t] is h_{t-1} for step t (0-based), states[t + 1] is h_t
    carry = torch.zeros_like(h0)
    order = range(len(xs)) if forward else reversed(range(len(xs)))
    for t in order:
        dh = dhs[t] + carry
        previous = states[t + 1] if paired_with == "output" else states[t]
        grads = step_backward(xs[t], previous, Wx, Wh, states[t + 1], dh)
        carry = torch.zeros_like(h0) if t in cuts else grads[1]
        yield t, grads


def bptt_closed(xs, h0, Wx, Wh, hs, dhs, accumulate=True, **replay):
    """(dWx, dWh, db, dh0) of backprop through time; ``replay`` as :func:`reverse_steps`.

    ``accumulate=False`` keeps only the last step's share (an overwrite).
    """
    total = None
    dh0 = torch.zeros_like(h0)
    for t, (_, dh_prev, *shares) in reverse_steps(xs, h0, Wx, Wh, hs, dhs, **replay):
        if total is None or not accumulate:
            total = shares
        else:
            total = [a + s for a, s in zip(total, shares)]
        if t == 0:
            dh0 = dh_prev
    return (*total, dh0)


def chunk_cuts(steps: int, k: int, from_end: bool = False) -> frozenset:
    """The steps whose gradient stops at the chunk's start: k, 2k, ... (or counted from the end)."""
    if from_end:
        return frozenset(t for t in range(steps - k, 0, -k))
    return frozenset(range(k, steps, k))


# (T, N, D, H), the weights' scale, whether only the last step has a loss.
SEQUENCE_CASES = [
    (4, 2, 3, 4, 1.0, False),
    (6, 3, 4, 4, 0.5, True),
    (7, 2, 4, 5, 1.5, False),
    (5, 4, 2, 3, 1.0, False),
]


def sequence_case(generator, steps, n, inputs, hidden, scale, last_only):
    """Inputs, parameters, the forward's states and the loss's gradients for one check case."""
    xs, h0 = draw(generator, steps, n, inputs), draw(generator, n, hidden, scale=0.5)
    Wx = draw(generator, hidden, inputs, scale=scale / math.sqrt(inputs))
    Wh = draw(generator, hidden, hidden, scale=scale / math.sqrt(hidden))
    b = draw(generator, hidden, scale=0.1)
    hs = rnn_forward(xs, h0, Wx, Wh, b)
    dhs = draw(generator, steps, n, hidden)
    if last_only:  # a sequence classifier: the loss reads only the last state
        dhs[:-1] = 0
    return xs, h0, Wx, Wh, hs, dhs


def describe(steps, n, inputs, hidden, scale, last_only) -> str:
    losses = "a loss at the last step only" if last_only else "a loss at every step"
    return f"T={steps}, N={n}, D={inputs}, H={hidden}, weights x{scale}, {losses}"


# -- one step's backward -----------------------------------------------------------------


@exercise(
    "rnn_step_backward",
    lesson=17,
    title="an RNN step and its backward",
    hints=(
        "One step is a linear layer with two inputs (x through Wx, h_prev through Wh, plus "
        "b), followed by tanh. Go through the tanh first, with its derivative at the output "
        "h; what comes out is the gradient of the pre-activation, and the rest is lesson 3's "
        "linear backward, once for each input.",
        "Call dh times (1 - h**2) da, shape (N, H). Then dx is da times Wx, dh_prev is da "
        "times Wh (no transpose: forward multiplied by the transposes), dWx is da transposed "
        "times x, dWh is da transposed times h_prev, and db sums da over the batch.",
    ),
)
def check_rnn_step_backward(check: Check, rnn_step_backward) -> str:
    """``rnn_step_backward(x, h_prev, Wx, Wh, h, dh)`` -> (dx, dh_prev, dWx, dWh, db)."""
    generator = torch.Generator().manual_seed(17)
    for _, n, inputs, hidden, scale, _ in SEQUENCE_CASES:
        xs, h0, Wx, Wh, hs, dhs = sequence_case(generator, 1, n, inputs, hidden, scale, False)
        x, h, dh = xs[0], hs[0], dhs[0]
        want = step_backward(x, h0, Wx, Wh, h, dh)
        da = dh * (1 - h**2)
        no_tanh = "tanh's derivative is missing: go through the tanh first, multiplying dh by it"
        mistakes = {
            "dx": (Mistake(dh @ Wx, no_tanh),),
            "dh_prev": (
                Mistake(dh @ Wh, no_tanh),
                Mistake(da @ Wh.T, "forward multiplied h_prev by Wh transposed, so backward "
                        "multiplies by Wh itself"),
            ),
            "dWx": (Mistake(dh.T @ x, no_tanh),),
            "dWh": (
                Mistake(da.T @ h, "pair the gradient with the state that went *in*, h_prev, "
                        "not the one that came out"),
                Mistake(dh.T @ h0, no_tanh),
            ),
            "db": (Mistake(dh.sum(0), no_tanh), wrong_broadcast_dims(da.sum(1), (1,), (0,))),
        }  # fmt: skip
        check.case = f"N={n}, D={inputs}, H={hidden}, weights x{scale}"
        received = check.call(
            rnn_step_backward, x, h0, Wx, Wh, h, dh, names=("x", "h_prev", "Wx", "Wh", "h", "dh")
        )
        got = check.expect_sequence(received, 5, "(dx, dh_prev, dWx, dWh, db)")
        for (name, wrong), right, answer in zip(mistakes.items(), want, got):
            check.expect(name, right, answer, mistakes=wrong)
    return f"all five gradients are right for {len(SEQUENCE_CASES)} steps, square weights too"


# -- the whole sequence: backprop through time -------------------------------------------------


def sequence_mistakes(xs, h0, Wx, Wh, hs, dhs) -> list[Mistake]:
    """What the usual slips of BPTT give on this case: four tensors each, like the answer."""
    last_only = dhs.clone()
    last_only[:-1] = 0
    replays = [
        (dict(cuts=frozenset(range(len(xs)))), "each step was given only its own loss's "
         "gradient: h_t also reaches the loss through every later step, so add what step "
         "t + 1 sends back through Wh"),
        (dict(dhs=last_only), "only the last step's loss reached the network: every step's "
         "h_t gets its own loss's gradient (dhs[t]) as well as what comes back from later"),
        (dict(paired_with="output"), "dWh paired the gradient with h_t: step t multiplied "
         "h_{t-1}, the state that went in"),
    ]  # fmt: skip
    args = dict(xs=xs, h0=h0, Wx=Wx, Wh=Wh, hs=hs, dhs=dhs)
    found = [Mistake(bptt_closed(**{**args, **change}), says) for change, says in replays]
    found.append(overwritten(bptt_closed(**args, accumulate=False)))
    found.append(walked_forward(bptt_closed(**args, forward=True)))
    return found


def expect_four(check: Check, received, want, mistakes: list[Mistake]) -> None:
    """Compare (dWx, dWh, db, dh0); a recorded mistake is matched on the first wrong one."""
    got = check.expect_sequence(received, 4, "(dWx, dWh, db, dh0)")
    for index, (name, right, answer) in enumerate(zip(("dWx", "dWh", "db", "dh0"), want, got)):
        wrong = tuple(Mistake(m.value[index], m.says) for m in mistakes)
        check.expect(name, right, answer, mistakes=wrong)


@exercise(
    "bptt",
    lesson=17,
    title="backprop through time",
    hints=(
        "Unroll the network: it is one long chain of steps that share the same weights. Walk "
        "it from the last step to the first. Each h_t is used twice: by the loss at step t "
        "and by step t + 1. And each weight is used once per step, so its gradient is a sum "
        "over the steps (lesson 2's accumulation).",
        "Start with a zero gradient coming from the future. For t = T-1 down to 0: dh is "
        "dhs[t] plus that carried gradient; call your step backward with x_t, the state "
        "before (h0 for the first step, else hs[t-1]), h_t and dh; add its dWx, dWh, db to "
        "the totals; carry its dh_prev to step t - 1. What is carried out of step 0 is dh0.",
    ),
)
def check_bptt(check: Check, bptt) -> str:
    """``bptt(xs, h0, Wx, Wh, hs, dhs)`` -> (dWx, dWh, db, dh0) over a whole sequence."""
    generator = torch.Generator().manual_seed(170)
    for case in SEQUENCE_CASES:
        xs, h0, Wx, Wh, hs, dhs = sequence_case(generator, *case)
        want = bptt_closed(xs, h0, Wx, Wh, hs, dhs)
        check.case = describe(*case)
        received = check.call(
            bptt, xs, h0, Wx, Wh, hs, dhs, names=("xs", "h0", "Wx", "Wh", "hs", "dhs")
        )
        expect_four(check, received, want, sequence_mistakes(xs, h0, Wx, Wh, hs, dhs))
    return f"the gradients are right for {len(SEQUENCE_CASES)} sequences of 4 to 7 steps"


# -- truncated BPTT ----------------------------------------------------------------------------

TRUNCATIONS = [(7, 3), (6, 2), (5, 5), (8, 3), (4, 1)]  # (T, k): T % k != 0, k = T, k = 1


@exercise(
    "truncated_bptt",
    lesson=17,
    title="truncated backprop through time",
    hints=(
        "Truncation cuts the unrolled chain into chunks of k steps: steps 0 to k-1, then k to "
        "2k-1, and so on, the last chunk perhaps shorter. Inside a chunk, backward is your "
        "full BPTT; between chunks nothing flows back, as if h had been detached at the "
        "start of every chunk. Every step still adds its share to the weights' gradients.",
        "Walk t from T-1 down to 0 as before, but when step t is the first step of a chunk "
        "(t a multiple of k, t > 0), do not carry its dh_prev to step t - 1: carry zeros "
        "instead. dh0 is what step 0 sends back, since step 0 starts the first chunk.",
    ),
)
def check_truncated_bptt(check: Check, truncated_bptt) -> str:
    """``truncated_bptt(xs, h0, Wx, Wh, hs, dhs, k)`` -> (dWx, dWh, db, dh0), chunks of k steps."""
    generator = torch.Generator().manual_seed(171)
    for steps, k in TRUNCATIONS:
        case = (steps, 2, 3, 4, 1.2, False)
        xs, h0, Wx, Wh, hs, dhs = sequence_case(generator, *case)
        args = (xs, h0, Wx, Wh, hs, dhs)
        want = bptt_closed(*args, cuts=chunk_cuts(steps, k))
        mistakes = [
            Mistake(bptt_closed(*args), "nothing was truncated: that is full BPTT; no gradient "
                    "may cross from one chunk into the one before"),
            Mistake(bptt_closed(*args, cuts=chunk_cuts(steps, k, from_end=True)), "the chunks "
                    "were counted from the end of the sequence: they start at step 0, so the "
                    "last chunk is the short one"),
        ]  # fmt: skip
        for off in (k - 1, k + 1):
            if 0 < off < steps:
                mistakes.append(
                    Mistake(bptt_closed(*args, cuts=chunk_cuts(steps, off)), f"the cuts fall "
                            f"every {off} steps: chunks are k = {k} steps long, and the first "
                            "one is steps 0 to k-1")
                )  # fmt: skip
        check.case = f"T={steps} steps in chunks of k={k}"
        received = check.call(
            truncated_bptt, *args, k, names=("xs", "h0", "Wx", "Wh", "hs", "dhs", "k")
        )
        expect_four(check, received, want, mistakes)
    return f"right for {len(TRUNCATIONS)} truncations, a short last chunk, k = T and k = 1 too"


# -- the lesson's cells: cells on a minigrad tape, and gradients through time -------------------


def rnn_params(inputs: int, hidden: int, gain: float = 1.0, seed: int = 0) -> dict:
    """Wx (H, D), Wh (H, H) and b (H,) for the plain tanh cell; Wh's scale is gain / sqrt(H)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        "Wx": draw(generator, hidden, inputs, scale=1 / math.sqrt(inputs)),
        "Wh": draw(generator, hidden, hidden, scale=gain / math.sqrt(hidden)),
        "b": torch.zeros(hidden, dtype=torch.float64),
    }


def gru_params(inputs: int, hidden: int, remember_bias: float = 0.0, seed: int = 0) -> dict:
    """A GRU cell's weight_ih (3H, D), weight_hh (3H, H), bias_ih, bias_hh, as torch lays them out.

    Uniform in +-1/sqrt(H), as torch.nn.GRUCell initialises them; ``remember_bias`` is
    added to the update gate's bias, so that z starts near sigmoid(remember_bias).
    """
    generator = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(hidden)

    def uniform(*shape):
        return (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

    params = {
        "weight_ih": uniform(3 * hidden, inputs),
        "weight_hh": uniform(3 * hidden, hidden),
        "bias_ih": uniform(3 * hidden),
        "bias_hh": uniform(3 * hidden),
    }
    params["bias_ih"][hidden : 2 * hidden] += remember_bias
    return params


def rnn_cell(x, h, p):
    """The plain cell on minigrad Variables: tanh(x Wx^T + h Wh^T + b)."""
    return ops.tanh(ops.add(ops.linear(x, p["Wx"]), ops.linear(h, p["Wh"], p["b"])))


def gru_cell(x, h, p):
    """A gated cell on minigrad Variables, as torch.nn.GRUCell computes it.

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          (reset gate)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          (update gate)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       (candidate)
    h' = (1 - z) * n + z * h = n + z * (h - n)

    Where z is near 1 the cell copies h forward, and its gradient flows back
    through the copy without passing a tanh: that is what the gate is for.
    """
    from_x = ops.chunk(ops.linear(x, p["weight_ih"], p["bias_ih"]), 3, dim=1)
    from_h = ops.chunk(ops.linear(h, p["weight_hh"], p["bias_hh"]), 3, dim=1)
    reset = ops.sigmoid(ops.add(from_x[0], from_h[0]))
    update = ops.sigmoid(ops.add(from_x[1], from_h[1]))
    candidate = ops.tanh(ops.add(from_x[2], ops.mul(reset, from_h[2])))
    return ops.add(candidate, ops.mul(update, ops.sub(h, candidate)))


def step_shares(xs, h0, params: dict, dhs, k: int | None = None) -> list[float]:
    """||step t's share of dL/dWh|| for t = 1..T (plain cell), with chunks of k steps if given."""
    hs = rnn_forward(xs, h0, params["Wx"], params["Wh"], params["b"])
    cuts = chunk_cuts(len(xs), k) if k else frozenset()
    steps = reverse_steps(xs, h0, params["Wx"], params["Wh"], hs, dhs, cuts=cuts)
    shares = {t + 1: float(grads[3].norm()) for t, grads in steps}
    return [shares[t] for t in range(1, len(xs) + 1)]


def gradient_through_time(cell, params: dict, xs, h0) -> tuple[list[float], dict]:
    """Run ``cell`` over xs on a fresh tape with L = sum of h_T; ||dL/dh_t|| for t = 1..T.

    Also returns the parameters' gradients. A hook on each h_t catches its
    gradient as backprop completes it (the states are kept in a list: the tape
    holds its values only weakly, and a hook lives on its Variable).
    """
    ctx = Context(name="through time")
    leaves = {k: ctx.variable(v, requires_grad=True, name=k) for k, v in params.items()}
    norms: dict[int, float] = {}
    states = [ctx.variable(h0, name="h0")]
    for t, x in enumerate(xs, start=1):
        states.append(cell(ctx.variable(x, name=f"x{t}"), states[-1], leaves))
        states[-1].register_hook(lambda grad, t=t: norms.__setitem__(t, float(grad.norm())))
    ops.sum(states[-1]).backward()
    return [norms[t] for t in range(1, len(xs) + 1)], {k: v.grad for k, v in leaves.items()}
