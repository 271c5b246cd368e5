"""minigrad's optimisers against torch.optim: the same parameter trajectory, step for step.

Each test builds the same tiny MLP twice from the same initial values: the
minigrad copy gets its gradients from minigrad's backprop, the torch copy
from torch.autograd, and each is updated by its own library's optimiser.
"""

import io
import math

import pytest
import torch
import torch.nn.functional as F

import minigrad as mg

F64 = torch.float64
STEPS = 100
# Two independent float64 implementations (backprop and the update rule)
# agree to ~1e-15 per step; 100 steps leave a wide margin under this.
TOL = dict(rtol=1e-10, atol=1e-12)


def initial_values(seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=F64) * scale).to(device)

    data = {"x": rand(16, 3), "y": rand(16, 2)}
    params = {
        "w1": rand(5, 3, scale=0.5),
        "b1": rand(5, scale=0.1),
        "w2": rand(2, 5, scale=0.5),
        "b2": rand(2, scale=0.1),
        "unused": rand(3),  # never in the loss: its .grad stays None, it must not move
        "frozen": rand(4),  # requires_grad=False: must not move
    }
    return data, params


class Twins:
    """The same model as minigrad Variables and as torch tensors."""

    def __init__(self, seed=0, device="cpu"):
        data, values = initial_values(seed, device)
        self.x, self.y = data["x"], data["y"]
        self.names = list(values)
        self.mg = {
            k: mg.tensor(v.clone(), requires_grad=(k != "frozen"), name=k)
            for k, v in values.items()
        }
        self.torch = {k: v.clone().requires_grad_(k != "frozen") for k, v in values.items()}

    def mg_params(self):
        return [self.mg[k] for k in self.names]

    def torch_params(self):
        return [self.torch[k] for k in self.names]

    def mg_backward(self):
        p = self.mg
        hidden = mg.tanh(mg.linear(mg.tensor(self.x), p["w1"], p["b1"]))
        loss = mg.mse_loss(mg.linear(hidden, p["w2"], p["b2"]), mg.tensor(self.y))
        loss.backward()

    def torch_backward(self):
        p = self.torch
        hidden = torch.tanh(F.linear(self.x, p["w1"], p["b1"]))
        F.mse_loss(F.linear(hidden, p["w2"], p["b2"]), self.y).backward()

    def assert_same(self, where=""):
        for k in self.names:
            torch.testing.assert_close(
                self.mg[k].value,
                self.torch[k].detach(),
                **TOL,
                msg=lambda m, k=k: f"{k} {where}: {m}",
            )


def run_both(twins, mg_opt, torch_opt, steps, check_every_step=True):
    for step in range(steps):
        mg_opt.zero_grad()
        torch_opt.zero_grad()
        twins.mg_backward()
        twins.torch_backward()
        mg_opt.step()
        torch_opt.step()
        if check_every_step:
            twins.assert_same(f"after step {step + 1}")


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.05)),
    ("SGD", dict(lr=0.02, momentum=0.5, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-6)),
    ("Adam", dict(lr=0.003, betas=(0.0, 0.99), weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),  # the default weight_decay=0.01 on both sides
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, weight_decay=0.5, betas=(0.8, 0.95), eps=1e-7)),
]


@pytest.mark.parametrize("name, settings", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_trajectory_matches_torch(name, settings):
    twins = Twins()
    mg_opt = getattr(mg.optim, name)(twins.mg_params(), **settings)
    torch_opt = getattr(torch.optim, name)(twins.torch_params(), **settings)
    before = {k: v.value.clone() for k, v in twins.mg.items()}
    run_both(twins, mg_opt, torch_opt, STEPS)
    # The skipped parameters did not move; the trained ones did.
    assert torch.equal(twins.mg["unused"].value, before["unused"])
    assert torch.equal(twins.mg["frozen"].value, before["frozen"])
    assert not torch.equal(twins.mg["w1"].value, before["w1"])


@pytest.mark.parametrize("name, settings", [CASES[4], CASES[7], CASES[12]])
def test_state_is_keyed_by_position_like_torch(name, settings):
    twins = Twins()
    mg_opt = getattr(mg.optim, name)(twins.mg_params(), **settings)
    torch_opt = getattr(torch.optim, name)(twins.torch_params(), **settings)
    run_both(twins, mg_opt, torch_opt, 5, check_every_step=False)
    ours, theirs = mg_opt.state_dict(), torch_opt.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])  # 'unused'/'frozen' have no state
    for position, entry in theirs["state"].items():
        assert set(ours["state"][position]) == set(entry)
        for key, value in entry.items():
            if key == "step":
                assert ours["state"][position][key] == int(value)
            else:
                torch.testing.assert_close(ours["state"][position][key], value, **TOL)
    assert ours["param_groups"][0]["params"] == theirs["param_groups"][0]["params"]
    assert ours["param_groups"][0]["lr"] == theirs["param_groups"][0]["lr"]


def test_param_groups_match_torch():
    twins = Twins(seed=1)
    m, t = twins.mg, twins.torch

    def groups(p):
        return [
            {"params": [p["w1"], p["w2"]], "lr": 0.02, "weight_decay": 0.1},
            {"params": [p["b1"], p["b2"], p["unused"], p["frozen"]]},
        ]

    mg_opt = mg.optim.AdamW(groups(m), lr=0.01, weight_decay=0.0)
    torch_opt = torch.optim.AdamW(groups(t), lr=0.01, weight_decay=0.0)
    run_both(twins, mg_opt, torch_opt, 50)
    assert "lr=0.02" in str(mg_opt) and "lr=0.01" in str(mg_opt)


def test_lr_setter_changes_the_step():
    twins = Twins(seed=2)
    mg_opt = mg.optim.SGD(twins.mg_params(), lr=0.1, momentum=0.9)
    torch_opt = torch.optim.SGD(twins.torch_params(), lr=0.1, momentum=0.9)
    run_both(twins, mg_opt, torch_opt, 10)
    mg_opt.lr = 0.01
    for group in torch_opt.param_groups:
        group["lr"] = 0.01
    assert mg_opt.lr == 0.01 and mg_opt.learning_rate() == 0.01
    run_both(twins, mg_opt, torch_opt, 10)
    mg_opt.set_learning_rate(0.3)
    assert mg_opt.lr == 0.3
    for group in torch_opt.param_groups:
        group["lr"] = 0.3
    run_both(twins, mg_opt, torch_opt, 10)


def test_plain_sgd_step_is_lr_times_grad():
    w = mg.tensor(torch.tensor([1.0, -2.0, 3.0], dtype=F64), requires_grad=True)
    opt = mg.optim.SGD([w], lr=0.5)
    for lr in (0.5, 0.125, 0.0):
        opt.lr = lr
        before = w.value.clone()
        opt.zero_grad()
        (w * w).sum().backward()
        opt.step()
        torch.testing.assert_close(w.value, before - lr * 2 * before, rtol=0, atol=1e-15)


def test_zero_grad_sets_none_and_a_step_without_grads_changes_nothing():
    twins = Twins()
    opt = mg.optim.Adam(twins.mg_params(), lr=0.1)
    twins.mg_backward()
    assert twins.mg["w1"].grad is not None
    opt.zero_grad()
    assert all(p.grad is None for p in twins.mg_params())
    before = [p.value.clone() for p in twins.mg_params()]
    opt.step()
    assert all(torch.equal(p.value, b) for p, b in zip(twins.mg_params(), before))
    assert opt.state == {}


GRAD_CASES = {
    "SGD-momentum": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
    "SGD-all": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True),
    "Adam": lambda ps: mg.optim.Adam(ps, lr=0.1),
    "Adam-wd": lambda ps: mg.optim.Adam(ps, lr=0.1, weight_decay=0.1),
    "AdamW": lambda ps: mg.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
}


@pytest.mark.parametrize("make", GRAD_CASES.values(), ids=GRAD_CASES.keys())
@pytest.mark.parametrize("expanded", [False, True], ids=["plain", "expanded"])
def test_gradients_are_never_changed_in_place(make, expanded):
    w = mg.tensor(torch.tensor([1.0, -2.0, 3.0], dtype=F64), requires_grad=True)
    opt = make([w])
    # The same gradient tensor every step; the expanded view is what backprop
    # can leave for a broadcast input.
    shared = (
        torch.tensor([0.5], dtype=F64) if expanded else torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    )
    original = shared.clone()
    for _ in range(3):
        w.grad = shared.expand(3) if expanded else shared
        opt.step()
        assert torch.equal(shared, original)
        assert w.grad.data_ptr() == shared.data_ptr()


def test_a_parameter_that_does_not_require_grad_is_not_updated_even_with_a_grad():
    frozen = mg.tensor([1.0, 2.0], requires_grad=False)
    live = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = mg.optim.SGD([frozen, live], lr=0.1)
    frozen.grad = torch.ones(2)  # e.g. left over from before the layer was frozen
    live.grad = torch.ones(2)
    opt.step()
    assert frozen.value.tolist() == [1.0, 2.0]
    assert live.value.tolist() == pytest.approx([0.9, 1.9])


@pytest.mark.parametrize(
    "name, settings", [CASES[3], CASES[7], CASES[13]], ids=["SGD", "Adam", "AdamW"]
)
def test_state_dict_round_trip_continues_the_same_trajectory(name, settings):
    # The uninterrupted run.
    ref = Twins(seed=3)
    ref_opt = getattr(mg.optim, name)(ref.mg_params(), **settings)
    torch_opt = getattr(torch.optim, name)(ref.torch_params(), **settings)
    run_both(ref, ref_opt, torch_opt, 20, check_every_step=False)

    # Save after 20 steps, through bytes, as a checkpoint file would.
    buffer = io.BytesIO()
    torch.save(ref_opt.state_dict(), buffer)
    values = {k: v.value.clone() for k, v in ref.mg.items()}
    snapshot = ref_opt.state_dict()

    run_both(ref, ref_opt, torch_opt, 20)

    # A "restarted process": new Variables with the saved values, a new optimiser.
    fresh = Twins(seed=3)
    for k, v in fresh.mg.items():
        v.value.copy_(values[k])
    fresh_opt = getattr(mg.optim, name)(fresh.mg_params(), lr=123.0)
    buffer.seek(0)
    fresh_opt.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh_opt.lr == settings["lr"]
    for _ in range(20):
        fresh_opt.zero_grad()
        fresh.mg_backward()
        fresh_opt.step()
    for k in fresh.names:
        assert torch.equal(fresh.mg[k].value, ref.mg[k].value), k
    # The earlier snapshot was not changed by the 20 later steps.
    assert not torch.equal(
        snapshot["state"][0][CASES_STATE[name]], ref_opt.state[0][CASES_STATE[name]]
    )


CASES_STATE = {"SGD": "momentum_buffer", "Adam": "exp_avg", "AdamW": "exp_avg"}


def test_load_state_dict_rejects_a_foreign_state():
    twins = Twins()
    adam = mg.optim.Adam(twins.mg_params())
    twins.mg_backward()
    adam.step()
    sgd = mg.optim.SGD(twins.mg_params(), lr=0.1, momentum=0.9)
    with pytest.raises(mg.CheckpointError, match="help:"):
        sgd.load_state_dict(adam.state_dict())
    smaller = mg.optim.Adam(twins.mg_params()[:3])
    with pytest.raises(mg.CheckpointError, match=r"\[6\].*\[3\]"):
        smaller.load_state_dict(adam.state_dict())
    with pytest.raises(mg.CheckpointError):
        adam.load_state_dict({"weights": 1})


def test_str_like_the_seed():
    w = [mg.tensor([1.0], requires_grad=True)]
    assert str(mg.optim.SGD(w, lr=0.1)) == "SGD(lr=0.1)"
    assert str(mg.optim.SGD(w, lr=0.1, momentum=0.9, nesterov=True)) == (
        "SGD(lr=0.1 momentum=0.9 nesterov)"
    )
    assert str(mg.optim.SGD(w, lr=0.1, weight_decay=1e-4, momentum=0.9)) == (
        "SGD(lr=0.1 weight_decay=0.0001 momentum=0.9)"
    )
    assert str(mg.optim.Adam(w)) == "Adam(lr=0.001 betas=(0.9, 0.999) eps=1e-08)"
    assert str(mg.optim.Adam(w, lr=0.01, weight_decay=0.1, betas=[0.8, 0.9])) == (
        "Adam(lr=0.01 betas=(0.8, 0.9) eps=1e-08 weight_decay=0.1)"
    )
    assert (
        str(mg.optim.AdamW(w)) == "AdamW(lr=0.001 betas=(0.9, 0.999) eps=1e-08 weight_decay=0.01)"
    )


BAD = [
    ("SGD", dict(lr=-0.1), "-0.1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "-0.5"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-3), "-0.001"),
    ("SGD", dict(lr=0.1, nesterov=True), "momentum=0.0"),
    ("SGD", dict(lr=math.nan), "nan"),
    ("SGD", dict(lr="0.1"), "'0.1'"),
    ("Adam", dict(lr=-1e-3), "-0.001"),
    ("Adam", dict(betas=(1.0, 0.999)), "1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "-0.1"),
    ("Adam", dict(betas=(0.9,)), "(0.9,)"),
    ("Adam", dict(eps=-1e-8), "-1e-08"),
    ("Adam", dict(weight_decay=-0.01), "-0.01"),
    ("AdamW", dict(weight_decay=-2.0), "-2.0"),
    ("AdamW", dict(betas=(0.9, 1.5)), "1.5"),
]


@pytest.mark.parametrize("name, settings, shown", BAD, ids=[f"{n}-{s}" for n, s, _ in BAD])
def test_invalid_hyper_parameters_raise_with_the_value(name, settings, shown):
    w = [mg.tensor([1.0], requires_grad=True)]
    with pytest.raises(ValueError) as info:
        getattr(mg.optim, name)(w, **settings)
    message = str(info.value)
    assert shown in message and "help:" in message
    assert isinstance(info.value, mg.optim.HyperParameterError)


def test_setting_a_negative_lr_raises_and_keeps_the_old_one():
    opt = mg.optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=r"-0\.5(.|\n)*help:"):
        opt.lr = -0.5
    assert opt.lr == 0.1


class TinyModule:
    """Stands in for an mg.nn.Module: anything with .parameters() yielding Variables."""

    def __init__(self):
        self.w = mg.tensor([1.0, 2.0], requires_grad=True)
        self.b = mg.tensor([0.5], requires_grad=True)

    def parameters(self):
        yield self.w
        yield self.b


def test_params_may_be_a_module_a_generator_or_groups():
    module = TinyModule()
    for params in (module, module.parameters(), list(module.parameters())):
        opt = mg.optim.SGD(params, lr=0.1)
        assert opt.parameters() == [module.w, module.b]
    opt = mg.optim.SGD([{"params": module, "lr": 0.5}], lr=0.1)
    assert opt.lr == 0.5 and len(opt.parameters()) == 2


@pytest.mark.parametrize(
    "params, error, shown",
    [
        (lambda: mg.tensor([1.0], requires_grad=True), TypeError, "single Variable"),
        (lambda: [torch.zeros(2, requires_grad=True)], TypeError, "mg.tensor"),
        (lambda: [], ValueError, "empty"),
        (lambda: 3, TypeError, "int"),
        (lambda: [{"params": [mg.tensor([1.0])], "learning_rate": 1}], ValueError, "learning"),
        (lambda: [{"lr": 0.1}], ValueError, "'params'"),
    ],
    ids=["variable", "torch-tensor", "empty", "int", "unknown-key", "no-params"],
)
def test_bad_params_explain_themselves(params, error, shown):
    with pytest.raises(error) as info:
        mg.optim.SGD(params(), lr=0.1)
    assert shown in str(info.value) and "help:" in str(info.value)


def test_the_same_parameter_twice_is_refused():
    w = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="twice"):
        mg.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name, settings", [CASES[5], CASES[8], CASES[13]])
def test_trajectory_matches_torch_on_cuda(name, settings):
    twins = Twins(device="cuda")
    mg_opt = getattr(mg.optim, name)(twins.mg_params(), **settings)
    torch_opt = getattr(torch.optim, name)(twins.torch_params(), **settings)
    run_both(twins, mg_opt, torch_opt, STEPS)
    assert twins.mg["w1"].device.type == "cuda"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name, settings", [CASES[7], CASES[10], CASES[13]])
def test_adam_on_all_parameters_at_once_gives_the_per_parameter_numbers(name, settings, dtype):
    """Adam.update runs adam_update_foreach on a group whose parameters share a step:
    bit for bit the numbers of adam_update, the readable rule, on each parameter."""
    g = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (5,), (2, 5), ()]
    start = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
    params = [mg.tensor(v.clone(), requires_grad=True) for v in start]
    opt = getattr(mg.optim, name)(params, **settings)
    group = opt.param_groups[0]
    beta1, beta2 = group["betas"]
    by_hand = [v.clone() for v in start]
    moments = [(torch.zeros_like(v), torch.zeros_like(v)) for v in start]
    for step in range(1, 6):
        grads = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
        for p, grad in zip(params, grads):
            p.grad = grad
        opt.step()
        for value, grad, (m, v) in zip(by_hand, grads, moments):
            mg.optim.adam_update(
                value, grad, m, v, step, lr=group["lr"], beta1=beta1, beta2=beta2,
                eps=group["eps"], weight_decay=group["weight_decay"],
                decoupled_weight_decay=opt.decoupled_weight_decay,
            )  # fmt: skip
        for position, (p, value) in enumerate(zip(params, by_hand)):
            assert torch.equal(p.value, value), f"parameter {position} after step {step}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name, settings", CASES[:6], ids=[f"{s}" for _, s in CASES[:6]])
def test_sgd_on_all_parameters_at_once_gives_the_per_parameter_numbers(name, settings, dtype):
    """SGD.update runs sgd_update_foreach when every buffer is made or none is: bit for bit
    the numbers of sgd_update, the readable rule, on each parameter. Step 1 leaves one
    parameter without a gradient, so at step 2 its buffer is missing while the others have
    one: that step goes parameter by parameter."""
    g = torch.Generator().manual_seed(1)
    shapes = [(5, 3), (5,), (2, 5), ()]
    start = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
    params = [mg.tensor(v.clone(), requires_grad=True) for v in start]
    opt = getattr(mg.optim, name)(params, **settings)
    group = opt.param_groups[0]
    rule = {k: group[k] for k in ("lr", "weight_decay", "momentum", "nesterov")}
    by_hand = [v.clone() for v in start]
    buffers = [None] * len(shapes)
    for step in range(1, 6):
        grads = [torch.randn(s, generator=g, dtype=dtype) for s in shapes]
        if step == 1:  # parameter 2 gets its first gradient at step 2
            grads[2] = None
        for p, grad in zip(params, grads):
            p.grad = grad
        opt.step()
        for i, (value, grad) in enumerate(zip(by_hand, grads)):
            if grad is not None:
                buffers[i] = mg.optim.sgd_update(value, grad, buffers[i], **rule)
        for position, (p, value) in enumerate(zip(params, by_hand)):
            assert torch.equal(p.value, value), f"parameter {position} after step {step}"


@pytest.mark.parametrize("name, settings", [CASES[3], CASES[7], CASES[12]])
@pytest.mark.parametrize("carrier", ["value", "grad"])
def test_a_tensor_with_torchs_own_requires_grad_is_updated_outside_torchs_autograd(
    name, settings, carrier
):
    """A value (or a gradient) the learner made with torch's requires_grad=True: step runs
    the update under torch.no_grad(), so torch neither refuses the in-place change of a
    leaf nor records it, and the numbers are those of plain tensors. (Without that block,
    torch raises on the value, and on the gradient it makes the parameter a tracked tensor.)
    """
    g = torch.Generator().manual_seed(2)
    start = [torch.randn(4, 3, generator=g), torch.randn(3, generator=g)]
    grads = [[torch.randn(4, 3, generator=g), torch.randn(3, generator=g)] for _ in range(3)]
    plain = [mg.tensor(v.clone(), requires_grad=True) for v in start]
    odd = [mg.tensor(v.clone(), requires_grad=True) for v in start]
    if carrier == "value":
        odd[0].value = odd[0].value.clone().requires_grad_(True)
    plain_opt = getattr(mg.optim, name)(plain, **settings)
    odd_opt = getattr(mg.optim, name)(odd, **settings)
    for step_grads in grads:
        for p, q, grad in zip(plain, odd, step_grads):
            p.grad = grad.clone()
            q.grad = grad.clone().requires_grad_(carrier == "grad")
        plain_opt.step()
        odd_opt.step()
    for p, q in zip(plain, odd):
        assert q.value.grad_fn is None, "the update was recorded by torch's autograd"
        assert torch.equal(p.value, q.value.detach())
