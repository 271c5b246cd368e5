"""mg.optim.GradScaler against torch.amp.GradScaler on the CPU, step for step.

Both scalers see the same losses (some of them making inf or nan gradients)
and drive the same optimiser (minigrad's SGD and Adam match torch's); the
scale, the growth tracker and every weight must agree after every step. The
rule alone is also checked against torch's own kernel, torch._amp_update_scale_.
"""

from __future__ import annotations

import math

import pytest
import torch

import minigrad as mg
from minigrad.optim import GradScaler, next_scale

INF, NAN = math.inf, math.nan


def torch_rule(scale, tracker, found_inf, growth, backoff, interval):
    s = torch.tensor([scale], dtype=torch.float32)
    t = torch.tensor([tracker], dtype=torch.int32)
    torch._amp_update_scale_(s, t, torch.tensor([float(found_inf)]), growth, backoff, interval)
    return float(s), int(t)


@pytest.mark.parametrize(
    "growth, backoff, interval", [(2.0, 0.5, 3), (3.0, 0.3, 2), (1.5, 0.25, 1), (2.0, 0.5, 5)]
)
def test_the_rule_is_torchs_kernel(growth, backoff, interval):
    g = torch.Generator().manual_seed(interval)
    scale, tracker = 1000.0, 0
    theirs = (scale, tracker)
    for _ in range(60):
        found_inf = bool(torch.rand((), generator=g) < 0.25)
        scale, tracker = next_scale(scale, tracker, found_inf, growth_factor=growth,
                                    backoff_factor=backoff, growth_interval=interval)  # fmt: skip
        theirs = torch_rule(*theirs, found_inf, growth, backoff, interval)
        assert (scale, tracker) == theirs


def test_a_growth_that_would_overflow_the_scale_is_not_taken():
    big = 2.0**127
    assert next_scale(big, 0, False, growth_factor=2.0, backoff_factor=0.5, growth_interval=1) == (
        torch_rule(big, 0, False, 2.0, 0.5, 1)
    )
    assert next_scale(big, 0, False, growth_factor=2.0, backoff_factor=0.5,
                      growth_interval=1) == (big, 0)  # fmt: skip


# A gradient of w is c: each row of FACTORS is one step; inf and nan make a step overflow.
FACTORS = [
    [1.0, -2.0, 0.5],
    [3.0, 1e-3, 2.0],
    [INF, 1.0, 1.0],
    [1.0, 1.0, 1.0],
    [0.25, -1.0, 4.0],
    [NAN, 0.0, 1.0],
    [2.0, 2.0, -2.0],
    [1.0, -1.0, 0.5],
    [0.5, 0.5, 0.5],
    [-1.0, 3.0, 1.0],
    [1e30, 1e30, 1.0],  # finite, but times the scale it overflows float32
]


def make_optimizers(kind: str, torch_w, mg_w):
    if kind == "sgd":
        return (torch.optim.SGD([torch_w], lr=0.1, momentum=0.9),
                mg.optim.SGD([mg_w], lr=0.1, momentum=0.9))  # fmt: skip
    return torch.optim.Adam([torch_w], lr=0.01), mg.optim.Adam([mg_w], lr=0.01)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize(
    "settings",
    [
        dict(init_scale=2.0**10, growth_interval=3),
        dict(init_scale=100.0, growth_factor=3.0, backoff_factor=0.3, growth_interval=2),
        dict(init_scale=2.0**100, growth_interval=1),
    ],
)
def test_step_for_step_like_torchs_grad_scaler(kind, settings):
    start = torch.tensor([0.5, -1.0, 2.0])
    torch_w = torch.nn.Parameter(start.clone())
    ctx = mg.Context()
    mg_w = ctx.variable(start.clone(), requires_grad=True)
    torch_opt, mg_opt = make_optimizers(kind, torch_w, mg_w)
    theirs, mine = torch.amp.GradScaler("cpu", **settings), GradScaler(**settings)
    for step, row in enumerate(FACTORS):
        c = torch.tensor(row)
        torch_opt.zero_grad()
        theirs.scale((torch_w * c).sum()).backward()
        theirs.step(torch_opt)
        theirs.update()
        mg_opt.zero_grad()
        mine.scale((mg_w * c).sum()).backward()
        mine.step(mg_opt)
        mine.update()
        where = f"step {step}"
        assert mine.get_scale() == theirs.get_scale(), where
        assert mine.growth_tracker == theirs._get_growth_tracker(), where
        torch.testing.assert_close(mg_w.value, torch_w.detach(), atol=0, rtol=1e-6, msg=where)
    assert mine.state_dict() == theirs.state_dict()


def test_a_skipped_step_leaves_weights_and_optimiser_state_alone():
    ctx = mg.Context()
    w = ctx.variable(torch.tensor([1.0, 2.0]), requires_grad=True)
    opt = mg.optim.Adam([w], lr=0.1)
    scaler = GradScaler(init_scale=8.0)
    scaler.scale((w * torch.tensor([INF, 1.0])).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert w.value.tolist() == [1.0, 2.0] and opt.state == {}
    assert scaler.get_scale() == 4.0 and scaler.growth_tracker == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("init_scale", [512.0, 300.0])
def test_unscale_gives_the_true_gradients_before_step_as_torch(dtype, init_scale):
    """1/S is taken in float32, as torch does, even for float64 gradients."""
    start = torch.tensor([1.0, -3.0, 0.1], dtype=dtype)
    torch_w = torch.nn.Parameter(start.clone())
    torch_opt = torch.optim.SGD([torch_w], lr=0.1)
    theirs = torch.amp.GradScaler("cpu", init_scale=init_scale)
    theirs.scale((torch_w**2).sum()).backward()
    theirs.unscale_(torch_opt)
    ctx = mg.Context()
    w = ctx.variable(start.clone(), requires_grad=True)
    mine = GradScaler(init_scale=init_scale)
    opt = mg.optim.SGD([w], lr=0.1)
    mine.scale((w**2).sum()).backward()
    torch.testing.assert_close(w.grad, 2 * init_scale * start)
    mine.unscale_(opt)
    assert torch.equal(w.grad, torch_w.grad)


def test_a_gradient_tensor_two_parameters_share_is_divided_once():
    ctx = mg.Context()
    a = ctx.variable(torch.tensor([1.0]), requires_grad=True)
    b = ctx.variable(torch.tensor([2.0]), requires_grad=True)
    scaler = GradScaler(init_scale=4.0)
    scaler.scale((a + b).sum() * 3.0).backward()  # add hands both inputs one gradient
    scaler.unscale_(mg.optim.SGD([a, b], lr=0.1))
    assert a.grad.tolist() == b.grad.tolist() == [3.0]


def test_float16_gradients_are_refused_as_torch_refuses_them():
    torch_w = torch.nn.Parameter(torch.ones(2, dtype=torch.float16))
    theirs = torch.amp.GradScaler("cpu")
    theirs.scale((torch_w * 1.0).sum()).backward()
    with pytest.raises(ValueError, match="FP16"):
        theirs.unscale_(torch.optim.SGD([torch_w], lr=0.1))
    ctx = mg.Context()
    w = ctx.variable(torch.ones(2, dtype=torch.float16), requires_grad=True)
    mine = GradScaler()
    mine.scale((w * 1.0).sum()).backward()
    with pytest.raises(mg.DTypeError, match="master weights") as error:
        mine.step(mg.optim.SGD([w], lr=0.1))
    assert "help:" in str(error.value)
    assert w.value.tolist() == [1.0, 1.0]


def one_step(scaler, opt, w):
    scaler.scale((w * 2.0).sum()).backward()


@pytest.mark.parametrize(
    "calls, words",
    [
        (["unscale", "unscale"], "second one since the last update"),
        (["step", "unscale"], "expected it before step()"),
        (["step", "step"], "one step per update()"),
        (["update"], "expected a step (or unscale_)"),
    ],
)
def test_calls_out_of_order_are_refused_as_torch_refuses_them(calls, words):
    ctx = mg.Context()
    w = ctx.variable(torch.ones(2), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)
    scaler = GradScaler()
    scaler.scale((w * 2.0).sum()).backward()
    do = {"unscale": lambda: scaler.unscale_(opt), "step": lambda: scaler.step(opt),
          "update": scaler.update}  # fmt: skip
    for call in calls[:-1]:
        do[call]()
    with pytest.raises(mg.SetupError, match=words.replace("(", r"\(").replace(")", r"\)")):
        do[calls[-1]]()
    # torch refuses the same sequences
    torch_w = torch.nn.Parameter(torch.ones(2))
    torch_opt = torch.optim.SGD([torch_w], lr=0.1)
    theirs = torch.amp.GradScaler("cpu")
    theirs.scale((torch_w * 2.0).sum()).backward()
    do = {"unscale": lambda: theirs.unscale_(torch_opt), "step": lambda: theirs.step(torch_opt),
          "update": theirs.update}  # fmt: skip
    for call in calls[:-1]:
        do[call]()
    with pytest.raises((RuntimeError, AssertionError)):
        do[calls[-1]]()


def test_step_before_any_scaled_loss_and_without_gradients_are_refused():
    ctx = mg.Context()
    w = ctx.variable(torch.ones(2), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.1)
    scaler = GradScaler()
    with pytest.raises(mg.SetupError, match="scaler.scale"):
        scaler.step(opt)
    scaler.scale((w * 2.0).sum())  # no backward: no gradient
    with pytest.raises(mg.SetupError, match="no parameter of the optimiser with a .grad"):
        scaler.step(opt)
    with pytest.raises(mg.ArgumentTypeError, match="minigrad optimizer"):
        scaler.step(torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1))


def test_disabled_it_passes_everything_through_as_torch():
    ctx = mg.Context()
    w = ctx.variable(torch.ones(2), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.5)
    scaler = GradScaler(enabled=False)
    loss = (w * 2.0).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    assert w.value.tolist() == [0.0, 0.0] and scaler.get_scale() == 1.0
    assert scaler.state_dict() == torch.amp.GradScaler("cpu", enabled=False).state_dict() == {}


def test_a_state_saved_by_torch_loads_and_goes_on_the_same():
    theirs = torch.amp.GradScaler("cpu", init_scale=64.0, growth_interval=2)
    torch_w = torch.nn.Parameter(torch.ones(2))
    torch_opt = torch.optim.SGD([torch_w], lr=0.1)
    for _ in range(3):
        theirs.scale(torch_w.sum()).backward()
        theirs.step(torch_opt)
        theirs.update()
    mine = GradScaler()
    mine.load_state_dict(theirs.state_dict())
    assert mine.state_dict() == theirs.state_dict()
    with pytest.raises(mg.CheckpointError, match="expected the keys"):
        mine.load_state_dict({"scale": 2.0})


@pytest.mark.parametrize(
    "settings, words",
    [
        (dict(growth_factor=1.0), "growth_factor"),
        (dict(backoff_factor=1.0), "backoff_factor"),
        (dict(backoff_factor=0.0), "backoff_factor"),
        (dict(growth_interval=0), "growth_interval"),
        (dict(growth_interval=2.5), "growth_interval"),
        (dict(init_scale=-1.0), "init_scale"),
        (dict(init_scale=INF), "init_scale"),
    ],
)
def test_bad_settings_are_refused_with_the_value(settings, words):
    with pytest.raises(mg.HyperParameterError, match=words):
        GradScaler(**settings)
