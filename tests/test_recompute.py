"""mg.recompute: the same gradients as the plain run and as torch.autograd, for fewer saved bytes.

The chain is n layers h <- tanh(h W_i^T + b_i), in float64. torch.autograd on
the same chain is the oracle; the un-checkpointed minigrad run must agree
with the checkpointed one to the last bit (the recomputation repeats the
same ops on the same values).
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from tests.conftest import DEVICES

BATCH, WIDTH = 5, 7
ACTIVATION = BATCH * WIDTH * 8  # one (5, 7) float64 activation, in bytes


def chain_params(n: int, seed: int = 0, device="cpu") -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(n):
        params.append(torch.randn(WIDTH, WIDTH, generator=g, dtype=torch.float64) * 0.6)
        params.append(torch.randn(WIDTH, generator=g, dtype=torch.float64) * 0.1)
    return [p.to(device) for p in params]


def layers(h, *params):
    """The segment: as many layers as it is given (weight, bias) pairs."""
    for w, b in zip(params[0::2], params[1::2]):
        h = mg.tanh(mg.linear(h, w, b))
    return h


def run(x, params, sizes=None, device="cpu"):
    """Forward (checkpointed in segments of ``sizes`` layers, if given): (ctx, leaves, loss)."""
    ctx = mg.Context()
    leaves = [ctx.variable(p, requires_grad=True) for p in params]
    h = ctx.variable(x)
    if sizes is None:
        h = layers(h, *leaves)
    else:
        start = 0
        for size in sizes:
            h = mg.recompute(layers, h, *leaves[2 * start : 2 * (start + size)])
            start += size
    return ctx, leaves, (h * h).sum()


def torch_grads(x, params):
    ps = [p.clone().requires_grad_(True) for p in params]
    h = x
    for w, b in zip(ps[0::2], ps[1::2]):
        h = torch.tanh(torch.nn.functional.linear(h, w, b))
    return torch.autograd.grad((h * h).sum(), ps)


def data(device="cpu", seed=1):
    return torch.randn(BATCH, WIDTH, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64).to(device)  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sizes", [[6], [3, 3], [2, 2, 2], [1] * 6, [4, 1, 1], [1, 5]])
def test_checkpointed_gradients_equal_the_plain_run_and_torchs(sizes, device):
    x, params = data(device), chain_params(6, device=device)
    _, plain, loss = run(x, params)
    loss.backward()
    _, checkpointed, loss = run(x, params, sizes)
    loss.backward()
    for mine, theirs, oracle in zip(checkpointed, plain, torch_grads(x, params)):
        assert torch.equal(mine.grad, theirs.grad)  # the same ops on the same values
        torch.testing.assert_close(mine.grad, oracle, atol=1e-12, rtol=1e-10)


def test_the_tape_keeps_one_input_per_segment_instead_of_every_activation():
    x, params = data(), chain_params(6)
    ctx, leaves, _ = run(x, params)
    # x, and every tanh output once (the next Linear saves that same tensor as its input)
    assert mg.saved_bytes(ctx, besides=leaves) == 7 * ACTIVATION
    for sizes in ([3, 3], [2, 2, 2], [1] * 6):
        ctx, leaves, _ = run(x, params, sizes)
        assert [node.op for node in ctx][: len(sizes)] == ["Recompute"] * len(sizes)
        # one input per segment, and the output (the loss's Mul saves it)
        assert mg.saved_bytes(ctx, besides=leaves) == (len(sizes) + 1) * ACTIVATION


def test_a_recompute_node_saves_its_inputs_and_nothing_else():
    x, params = data(), chain_params(2)
    ctx, leaves, _ = run(x, params, [2])
    record = ctx.records()[0]
    assert record["op"] == "Recompute"
    assert list(record["saved"]) == ["input0", "input1", "input2", "input3", "input4"]
    assert record["saved_bytes"] == sum(t.numel() * 8 for t in [x, *params])


@pytest.mark.parametrize("sizes", [[6], [3, 3], [2, 2, 2], [1] * 6, [4, 1, 1], [1, 5]])
def test_the_peak_is_the_segment_inputs_plus_one_segment_recomputed(sizes):
    """While segment j runs again, segments 1..j still hold their inputs: j + L_j activations.

    Before that, at the end of the forward pass: one input per segment and the output.
    """
    x, params = data(), chain_params(6)
    ctx, leaves, loss = run(x, params, sizes)
    recomputing = max(j + 1 + size for j, size in enumerate(sizes))
    expected = max(len(sizes) + 1, recomputing) * ACTIVATION
    assert mg.peak_saved_bytes(loss, besides=leaves) == expected
    assert mg.saved_bytes(ctx) == 0  # the tape is empty afterwards, as after any backward


def test_without_checkpoints_the_peak_is_the_end_of_the_forward_pass():
    x, params = data(), chain_params(6)
    ctx, leaves, loss = run(x, params)
    forward = mg.saved_bytes(ctx, besides=leaves)
    assert mg.peak_saved_bytes(loss, besides=leaves) == forward == 7 * ACTIVATION


def test_the_meter_samples_each_recomputed_segment():
    x, params = data(), chain_params(4)
    ctx, leaves, loss = run(x, params, [2, 2])
    with mg.SavedBytesMeter(ctx, besides=leaves) as meter:
        meter.sample("end of forward")
        loss.backward()
    assert [what for what, _ in meter.samples] == ["end of forward"] + [
        "recomputing recompute layers"
    ] * 2
    assert [count // ACTIVATION for _, count in meter.samples] == [2 + 1, 2 + 2, 1 + 2]
    assert meter.peak == 4 * ACTIVATION


def test_nested_segments_recompute_inside_a_recomputation():
    x, params = data(), chain_params(4)

    def two_halves(h, *ps):
        h = mg.recompute(layers, h, *ps[:4])
        return mg.recompute(layers, h, *ps[4:])

    ctx = mg.Context()
    leaves = [ctx.variable(p, requires_grad=True) for p in params]
    h = mg.recompute(two_halves, ctx.variable(x), *leaves)
    loss = (h * h).sum()
    assert mg.saved_bytes(ctx, besides=leaves) == 2 * ACTIVATION  # x, and h for the loss
    # outer input x, the inner segments' inputs x and h2 (x once), and 2 recomputed layers
    assert mg.peak_saved_bytes(loss, besides=leaves) == 4 * ACTIVATION
    for mine, oracle in zip(leaves, torch_grads(x, params)):
        torch.testing.assert_close(mine.grad, oracle, atol=1e-12, rtol=1e-10)


def noisy(h, w):
    return mg.dropout(mg.tanh(mg.linear(h, w)), p=0.5)


def test_random_ops_draw_the_same_numbers_when_recomputed():
    x, w = data(), chain_params(1)[0]
    results = []
    for checkpointed in (False, True):
        torch.manual_seed(5)
        ctx = mg.Context()
        weight = ctx.variable(w, requires_grad=True)
        out = (
            mg.recompute(noisy, ctx.variable(x), weight)
            if checkpointed
            else noisy(ctx.variable(x), weight)
        )
        (out * out).sum().backward()
        results.append((out.value, weight.grad, torch.rand(3)))  # the stream goes on the same
    (plain_out, plain_grad, plain_next), (out, grad, after) = results
    assert torch.equal(out, plain_out)
    assert torch.equal(grad, plain_grad)
    assert torch.equal(after, plain_next)  # the recomputation put the generator back


def test_a_segment_that_draws_nothing_keeps_no_generator_state():
    ctx = mg.Context()
    w = ctx.variable(chain_params(1)[0], requires_grad=True)
    mg.recompute(noisy, ctx.variable(data()), w)
    b = ctx.variable(torch.zeros(WIDTH, dtype=torch.float64))
    mg.recompute(layers, ctx.variable(data()), w, b)
    saved = [list(record["saved"]) for record in ctx.records()]
    assert saved[0][-1] == "rng_state[cpu]" and not any("rng" in name for name in saved[1])


def test_inputs_that_need_no_gradient_and_numbers_pass_through():
    ctx = mg.Context()
    w = ctx.variable(torch.tensor([1.5, -2.0], dtype=torch.float64), requires_grad=True)
    x = ctx.variable(torch.tensor([3.0, 4.0], dtype=torch.float64))

    def scaled(x, w, factor):
        return (x * w * factor).sum()

    mg.recompute(scaled, x, w, 2.0).backward()
    assert w.grad.tolist() == [6.0, 8.0] and x.grad is None


def test_a_segment_whose_output_is_an_input_passes_the_gradient_on():
    ctx = mg.Context()
    w = ctx.variable(torch.tensor([1.0, 2.0]), requires_grad=True)
    (mg.recompute(lambda v: v, w) * 3.0).sum().backward()
    assert w.grad.tolist() == [3.0, 3.0]


def test_backward_twice_with_retain_graph_recomputes_twice():
    x, params = data(), chain_params(2)
    _, leaves, loss = run(x, params, [1, 1])
    loss.backward(retain_graph=True)
    loss.backward()
    for mine, oracle in zip(leaves, torch_grads(x, params)):
        torch.testing.assert_close(mine.grad, 2 * oracle, atol=1e-12, rtol=1e-10)


def test_a_parameter_read_from_outside_the_inputs_is_refused_in_forward():
    ctx = mg.Context()
    w = ctx.variable(torch.randn(3, 3), requires_grad=True)

    def closure(h):
        return mg.tanh(mg.linear(h, w))

    with pytest.raises(mg.ContextError, match="come in through its inputs") as error:
        mg.recompute(closure, ctx.variable(torch.randn(2, 3)))
    assert "help: pass it as an input" in str(error.value)
    assert len(ctx) == 0  # nothing was recorded


def test_a_segment_must_return_one_variable():
    ctx = mg.Context()
    w = ctx.variable(torch.randn(3), requires_grad=True)
    with pytest.raises(mg.GateError, match="return one Variable"):
        mg.recompute(lambda v: (v, v), w)
    with pytest.raises(mg.ArgumentTypeError, match="function first"):
        mg.recompute(w, w)


def test_a_segment_that_fails_when_recomputed_leaves_every_grad_as_it_was():
    ctx = mg.Context()
    w = ctx.variable(torch.tensor([1.0, 2.0]), requires_grad=True)
    calls = []

    def fragile(v):
        calls.append(1)
        if len(calls) > 1:
            raise ValueError("not twice")
        return v * v

    loss = (mg.recompute(fragile, w) + w).sum()
    with pytest.raises(ValueError, match="not twice"):
        loss.backward()
    assert w.grad is None


def test_the_tape_viewers_trace_walks_through_a_recompute_node():
    from minigrad.trace import trace

    x, params = data(), chain_params(2)
    ctx = mg.Context(keep_outputs=True)
    leaves = [ctx.variable(p, requires_grad=True) for p in params]
    h = mg.recompute(layers, ctx.variable(x), *leaves)
    loss = (h * h).sum()
    steps = trace(loss)
    assert [s["op"] for s in steps if s["phase"] == "backward"] == ["Sum", "Mul", "Recompute"]
    loss.backward()
    for mine, oracle in zip(leaves, torch_grads(x, params)):
        torch.testing.assert_close(mine.grad, oracle, atol=1e-12, rtol=1e-10)


def test_a_recompute_node_passes_its_own_finite_difference_check():
    x, params = data(), chain_params(2)
    ctx = mg.Context(keep_outputs=True)
    leaves = [ctx.variable(p, requires_grad=True) for p in params]
    mg.recompute(layers, ctx.variable(x, requires_grad=True), *leaves)
    assert mg.gradcheck_node(ctx[0])
