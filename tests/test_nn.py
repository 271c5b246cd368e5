"""nn modules against torch.nn: forward and every parameter gradient, state, tables, compile."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

import minigrad as mg
from minigrad import nn
from tests.conftest import assert_close

DTYPES = [torch.float32, torch.float64]


def _copy_to_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Give the torch module our values (the names are torch's, so state_dict fits)."""
    result = theirs.load_state_dict(
        {k: v.clone() for k, v in ours.state_dict().items()}, strict=False
    )
    assert not [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    assert not result.unexpected_keys


def _compare(ours, theirs, x_shape, dtype, what, training=True, seed=0):
    """Run both on the same input and upstream gradient; compare output and every gradient."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(x_shape, dtype=dtype, generator=g)
    ours.train(training)
    theirs.train(training)
    x_ours = mg.tensor(x, requires_grad=True)
    out = ours(x_ours)
    x_torch = x.clone().requires_grad_(True)
    expected = theirs(x_torch)
    assert_close(out.value, expected, dtype, f"{what} forward")
    upstream = torch.randn(expected.shape, dtype=dtype, generator=g)
    (out * upstream).sum().backward()
    (expected * upstream).sum().backward()
    assert_close(x_ours.grad, x_torch.grad, dtype, f"{what} d/dx")
    params = dict(theirs.named_parameters())
    assert set(params) == {name for name, _ in ours.named_parameters()}
    for name, variable in ours.named_parameters():
        assert_close(variable.grad, params[name].grad, dtype, f"{what} d/d{name}")


LAYER_CASES = [
    ("linear", lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), (4, 5)),
    ("linear 3-D input", lambda: nn.Linear(5, 3), lambda: torch.nn.Linear(5, 3), (2, 4, 5)),
    (
        "linear no bias",
        lambda: nn.Linear(5, 3, bias=False),
        lambda: torch.nn.Linear(5, 3, bias=False),
        (4, 5),
    ),
    ("conv", lambda: nn.Conv2d(3, 4, 3), lambda: torch.nn.Conv2d(3, 4, 3), (2, 3, 7, 6)),
    (
        "conv stride padding",
        lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1),
        lambda: torch.nn.Conv2d(3, 4, 3, stride=2, padding=1),
        (2, 3, 8, 7),
    ),
    (
        "conv dilation rectangular",
        lambda: nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2),
        lambda: torch.nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 1), dilation=2),
        (2, 2, 9, 8),
    ),
    (
        "conv groups no bias",
        lambda: nn.Conv2d(6, 9, 3, padding=1, groups=3, bias=False),
        lambda: torch.nn.Conv2d(6, 9, 3, padding=1, groups=3, bias=False),
        (2, 6, 5, 5),
    ),
    ("batchnorm (N, C)", lambda: nn.BatchNorm(4), lambda: torch.nn.BatchNorm1d(4), (8, 4)),
    (
        "batchnorm (N, C, H, W)",
        lambda: nn.BatchNorm(3),
        lambda: torch.nn.BatchNorm2d(3),
        (4, 3, 5, 5),
    ),
    (
        "conv + batchnorm",
        lambda: nn.Conv2dBatchNorm(3, 4, 3, stride=2, padding=1),
        lambda: torch.nn.Sequential(
            OrderedDict(
                conv=torch.nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False),
                bn=torch.nn.BatchNorm2d(4),
            )
        ),
        (3, 3, 6, 6),
    ),
    ("max pool", lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), (2, 3, 6, 7)),
    (
        "max pool stride padding",
        lambda: nn.MaxPool2d(3, stride=2, padding=1),
        lambda: torch.nn.MaxPool2d(3, stride=2, padding=1),
        (2, 3, 7, 7),
    ),
    (
        "avg pool",
        lambda: nn.AvgPool2d(3, stride=2, padding=1),
        lambda: torch.nn.AvgPool2d(3, stride=2, padding=1),
        (2, 3, 7, 6),
    ),
    ("flatten", lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 4, 5)),
    ("relu", lambda: nn.ReLU(), lambda: torch.nn.ReLU(), (4, 6)),
    ("leaky relu", lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2), (4, 6)),
    ("gelu", lambda: nn.GELU(), lambda: torch.nn.GELU(), (4, 6)),
    ("gelu tanh", lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh"), (4, 6)),
    ("sigmoid", lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (4, 6)),
    ("tanh", lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (4, 6)),
    ("softmax", lambda: nn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1), (4, 6)),
    ("log softmax", lambda: nn.LogSoftmax(), lambda: torch.nn.LogSoftmax(dim=-1), (4, 6)),
    ("dropout eval", lambda: nn.Dropout(0.5), lambda: torch.nn.Dropout(0.5), (4, 6)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_forward_and_gradients_equal_torch(case, dtype):
    what, make_ours, make_theirs, x_shape = case
    ours = make_ours().to(dtype)
    theirs = make_theirs().to(dtype)
    _copy_to_torch(ours, theirs)
    training = what != "dropout eval"
    _compare(ours, theirs, x_shape, dtype, what, training=training)
    # Eval mode too (batch norm then uses the running statistics it just updated).
    _compare(ours, theirs, x_shape, dtype, what + " (eval)", training=False, seed=1)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2)])
def test_batchnorm_running_stats_equal_torch_after_several_steps(shape, dtype):
    ours = nn.BatchNorm(4, momentum=0.3, eps=1e-3, dtype=dtype)
    theirs = torch.nn.BatchNorm1d(4, momentum=0.3, eps=1e-3) if len(shape) == 2 else None
    theirs = theirs or torch.nn.BatchNorm2d(4, momentum=0.3, eps=1e-3)
    theirs = theirs.to(dtype)
    # Different scale and shift than the defaults, so they matter.
    ours.weight.value.uniform_(0.5, 1.5)
    ours.bias.value.uniform_(-1, 1)
    _copy_to_torch(ours, theirs)
    for step in range(4):
        x = torch.randn(shape, dtype=dtype) * (step + 1) + step
        ours(mg.tensor(x))
        theirs(x)
        assert_close(ours.running_mean.value, theirs.running_mean, dtype, f"mean step {step}")
        assert_close(ours.running_var.value, theirs.running_var, dtype, f"var step {step}")
    assert ours.outputs == ["running_mean", "running_var"]
    x = torch.randn(shape, dtype=dtype)
    ours.eval()
    theirs.eval()
    assert_close(ours(mg.tensor(x)).value, theirs(x), dtype, "eval output")
    # Evaluation leaves the running statistics alone: both of them, to the bit.
    mean, var = ours.running_mean.value.clone(), ours.running_var.value.clone()
    ours(mg.tensor(torch.randn(shape, dtype=dtype) * 3 + 2))
    assert_close(ours.running_mean.value, theirs.running_mean, dtype, "mean after eval")
    assert_close(ours.running_var.value, theirs.running_var, dtype, "var after eval")
    assert torch.equal(ours.running_mean.value, mean) and torch.equal(ours.running_var.value, var)


@pytest.mark.parametrize("normalize", [True, False])
def test_dropout_training_zeroes_a_fraction_and_scales_the_rest(normalize):
    p = 0.3
    layer = nn.Dropout(p, normalize=normalize)
    x = torch.rand(200, 500) + 0.5  # no zeros of its own
    xv = mg.tensor(x, requires_grad=True)
    y = layer(xv)
    kept = y.value != 0
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.01)
    scale = 1 / (1 - p) if normalize else 1.0
    torch.testing.assert_close(y.value[kept], x[kept] * scale)
    upstream = torch.randn(x.shape)
    (y * upstream).sum().backward()
    # Oracle: torch.autograd through the same mask.
    xt = x.clone().requires_grad_(True)
    (xt * kept * scale * upstream).sum().backward()
    torch.testing.assert_close(xv.grad, xt.grad)
    # The function form, and evaluation mode is the identity.
    assert nn.dropout(xv, 0.5, training=False) is xv
    layer.eval()
    assert layer(xv) is xv


class MLP(nn.Module):
    def __init__(self, sizes=(4, 8, 3), batchnorm=False):
        super().__init__()
        self.fc1 = nn.Linear(sizes[0], sizes[1])
        if batchnorm:
            self.bn = nn.BatchNorm(sizes[1])
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(sizes[1], sizes[2])

    def forward(self, x):
        h = self.fc1(x)
        if "bn" in self._modules:
            h = self.bn(h)
        return self.fc2(self.drop(mg.relu(h)))


def _torch_mlp(model: MLP) -> torch.nn.Module:
    layers = OrderedDict(fc1=torch.nn.Linear(*model.fc1.weight.shape[::-1]))
    if "bn" in model._modules:
        layers["bn"] = torch.nn.BatchNorm1d(model.bn.num_features)
    layers["relu"] = torch.nn.ReLU()
    layers["fc2"] = torch.nn.Linear(*model.fc2.weight.shape[::-1])
    theirs = torch.nn.Sequential(layers)
    _copy_to_torch(model, theirs)
    return theirs


def test_variables_names_order_and_outputs():
    model = MLP(batchnorm=True)
    assert list(model.variables) == [
        "fc1.weight",
        "fc1.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "fc2.weight",
        "fc2.bias",
    ]
    assert model.outputs == ["bn.running_mean", "bn.running_var"]
    assert model.var_names() == [n for n in model.variables if "running" not in n]
    assert model.grad_names() == [n + "_grad" for n in model.var_names()]
    assert [id(v) for v in model.learnable_vars()] == [id(v) for v in model.parameters()]
    assert [n for n, _ in model.named_buffers()] == model.outputs
    model.fc2.bias.requires_grad = False  # frozen: still a parameter, not learnable
    assert "fc2.bias" not in model.var_names()
    assert len(list(model.parameters())) == 6


def test_duplicate_names_are_errors_naming_the_name():
    model = nn.Module()
    model.set_vars(mg.tensor([1.0], requires_grad=True, name="w"))
    with pytest.raises(ValueError, match="'w' is already used"):
        model.set_vars(mg.tensor([2.0], requires_grad=True, name="w"))
    model.add(nn.Linear(2, 2), head=nn.Linear(2, 1))
    with pytest.raises(ValueError, match="'head' is already used"):
        model.add(head=nn.Linear(2, 1))
    with pytest.raises(ValueError, match="'0' is already used"):
        model.register_module("0", nn.ReLU())
    with pytest.raises(ValueError, match="'w' is already used"):
        model.register_buffer("w", torch.zeros(1))
    with pytest.raises(ValueError, match="has no name"):
        model.set_vars(mg.tensor([1.0]))
    # A dotted Variable name that clashes with a sub-module's variable.
    model.set_vars(mg.tensor([1.0, 2.0], requires_grad=True, name="head.bias"))
    with pytest.raises(ValueError, match="'head.bias'"):
        _ = model.variables


def test_nimxla_style_module_with_add_set_vars_and_training_flag():
    fc1, fc2 = nn.Linear(4, 8), nn.Linear(8, 3)
    scale = mg.tensor(torch.tensor(2.0), requires_grad=True, name="scale")
    model = nn.Module().add(fc1, fc2).set_vars(scale)
    seen = []

    def forward(x):
        seen.append(model.training)
        return fc2(mg.relu(fc1(x))) * scale

    model.forward = forward
    assert list(model.variables) == ["scale", "0.weight", "0.bias", "1.weight", "1.bias"]
    model.eval()
    x = torch.randn(5, 4)
    out = model(mg.tensor(x), training=True)
    assert seen == [True] and model.training is False and fc1.training is False
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    _copy_to_torch(nn.Sequential(fc1, nn.ReLU(), fc2), theirs)
    assert_close(out.value, theirs(x) * 2.0, torch.float32, "nimxla-style module")


def test_sequential_equals_torch_and_indexes():
    ours = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    _copy_to_torch(ours, theirs)
    assert list(ours.variables) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(ours) == 3 and isinstance(ours[1], nn.Tanh) and len(ours[1:]) == 2
    _compare(ours.to(torch.float64), theirs.double(), (5, 4), torch.float64, "sequential")
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert list(named.variables) == ["fc.weight", "fc.bias"]


def test_train_eval_propagate_through_the_tree():
    model = nn.Sequential(MLP(batchnorm=True), nn.Sequential(nn.Dropout()))
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model[0].eval()
    assert model.training and not model[0].fc1.training and model[1][0].training


def test_subclass_must_call_super_init_first():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(mg.SetupError, match="super\\(\\).__init__\\(\\)"):
        Broken()


def test_reassigning_an_attribute_replaces_it():
    model = MLP()
    model.fc2 = nn.Linear(8, 5)
    assert tuple(model.variables["fc2.weight"].shape) == (5, 8)
    model.fc2 = None
    assert "fc2.weight" not in model.variables


def test_conv_groups_must_divide_channels():
    with pytest.raises(ValueError, match="groups=4 must divide"):
        nn.Conv2d(6, 8, 3, groups=4)
    with pytest.raises(mg.HyperParameterError, match="in_features must be >= 1, got 0"):
        nn.Linear(0, 3)


def test_state_dict_round_trip_copies_values_in_place():
    a, b = MLP(batchnorm=True), MLP(batchnorm=True)
    a(mg.tensor(torch.randn(6, 4)))  # move a's running statistics
    keep = {name: id(v) for name, v in b.variables.items()}
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert {name: id(v) for name, v in b.variables.items()} == keep
    for name, value in a.state_dict().items():
        assert torch.equal(b.state_dict()[name], value)
        assert b.state_dict()[name] is not value  # copied, not shared
    x = torch.randn(3, 4)
    a.eval()
    b.eval()
    assert torch.equal(a(mg.tensor(x)).value, b(mg.tensor(x)).value)
    # The state loads into torch's equivalent and computes the same.
    theirs = _torch_mlp(a).eval()
    assert_close(a(mg.tensor(x)).value, theirs(x), torch.float32, "loaded into torch")


def test_load_state_dict_errors_list_missing_unexpected_and_shapes():
    model = MLP()
    state = dict(model.state_dict())
    del state["fc1.bias"]
    state["fc3.weight"] = torch.zeros(2)
    with pytest.raises(mg.CheckpointError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: ['fc1.bias']" in message
    assert "unexpected keys: ['fc3.weight']" in message
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["fc1.bias"] and result.unexpected_keys == ["fc3.weight"]
    state["fc2.weight"] = torch.zeros(3, 9)
    with pytest.raises(mg.CheckpointError, match=r"fc2.weight: checkpoint \(3, 9\), model"):
        model.load_state_dict(state, strict=False)


def test_str_info_and_summary_before_and_after_forward():
    model = nn.Sequential(
        nn.Conv2dBatchNorm(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    )
    before = str(model)
    assert before == model.info
    assert "Conv2dBatchNorm" in before and "Linear" in before and "-" in before
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1, bias=False),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 10),
    )
    total = sum(p.numel() for p in theirs.parameters())
    assert f"parameters: {total:,}" in before
    rows = {row["name"]: row for row in nn.summary_rows(model)}
    assert rows["4"]["params"] == theirs[5].weight.numel() + theirs[5].bias.numel()
    assert rows["0.conv"]["params"] == theirs[0].weight.numel()
    assert rows["4"]["output_shape"] is None
    running = model[0].bn.running_mean.value.clone()
    running_var = model[0].bn.running_var.value.clone()
    table = model.summary((2, 3, 8, 8))
    assert torch.equal(model[0].bn.running_mean.value, running)  # summary changes nothing
    assert torch.equal(model[0].bn.running_var.value, running_var)
    assert model.training
    x = torch.zeros(2, 3, 8, 8)
    shapes = []
    for layer in theirs:
        x = layer(x)
        shapes.append(tuple(x.shape))
    rows = {row["name"]: row for row in nn.summary_rows(model)}
    assert rows["0"]["output_shape"] == shapes[1]
    assert rows["2"]["output_shape"] == shapes[3]
    assert rows["4"]["output_shape"] == shapes[5] == rows["(model)"]["output_shape"]
    assert "(2, 8, 4, 4)" in table and "(2, 128)" in table
    assert "Linear(in_features=128, out_features=10, bias=True)" in repr(model)


def test_get_set_params_and_update():
    model = MLP(batchnorm=True)
    params = model.get_params()
    assert list(params) == list(model.variables)
    assert all(params[n] is v.value for n, v in model.variables.items())
    new_weight = torch.randn(8, 4)
    tensor_before = model.fc1.weight.value
    model.set_params({"fc1.weight": new_weight})
    assert model.fc1.weight.value is tensor_before and torch.equal(tensor_before, new_weight)
    with pytest.raises(mg.CheckpointError, match=r"unexpected keys: \['fc9.weight'\]"):
        model.set_params({"fc9.weight": new_weight})
    with pytest.raises(
        mg.CheckpointError, match=r"fc1.weight: checkpoint \(2, 2\), model \(8, 4\)"
    ):
        model.set_params({"fc1.weight": torch.zeros(2, 2)})
    outputs = {"bn.running_mean": torch.full((8,), 3.0), "bn.running_var": torch.full((8,), 2.0)}
    model.update(outputs)
    assert torch.equal(model.bn.running_var.value, outputs["bn.running_var"])
    with pytest.raises(mg.CheckpointError, match=r"missing keys: \['bn.running_var'\]"):
        model.update({"bn.running_mean": torch.zeros(8)})


def test_to_device_keeps_the_same_variables_and_zero_grad():
    model = MLP(batchnorm=True)
    before = [id(v) for v in model.variables.values()]
    model(mg.tensor(torch.randn(4, 4))).sum().backward()
    assert model.to("cpu") is model
    assert [id(v) for v in model.variables.values()] == before
    model.to(torch.float64)
    assert [id(v) for v in model.variables.values()] == before
    assert all(v.dtype == torch.float64 for v in model.variables.values())
    assert model.fc1.weight.grad.dtype == torch.float64
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_to_cuda_moves_values_in_place_and_matches_torch():
    model = MLP(batchnorm=True)
    theirs = _torch_mlp(model).cuda()
    before = [id(v) for v in model.variables.values()]
    model.to("cuda")
    assert [id(v) for v in model.variables.values()] == before
    assert all(v.device.type == "cuda" for v in model.variables.values())
    model.drop.eval()
    _compare(model, theirs, (6, 4), torch.float32, "cuda MLP")


def test_compile_train_and_compile_test_equal_torch():
    torch.manual_seed(0)
    model = MLP(batchnorm=True)
    model.drop.p = 0.0  # deterministic, so torch can be the oracle
    theirs = _torch_mlp(model)
    step = nn.compile_train(model, mg.cross_entropy)
    model.eval()  # the step trains regardless, and leaves the mode as it was
    for _ in range(2):
        x, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
        result = step(x, y)
        theirs.train()
        theirs.zero_grad()
        pred = theirs(x)
        loss = torch.nn.functional.cross_entropy(pred, y)
        loss.backward()
        assert_close(result.pred, pred, torch.float32, "pred")
        assert_close(result.loss, loss, torch.float32, "loss")
        assert list(result.grads) == model.grad_names()
        torch_params = dict(theirs.named_parameters())
        for name in model.var_names():
            assert_close(result[name + "_grad"], torch_params[name].grad, torch.float32, name)
            assert result.grads[name + "_grad"] is model.variables[name].grad
        for name in model.outputs:
            expected = theirs.state_dict()[name]
            assert_close(result.outputs[name], expected, torch.float32, name)
        assert not model.training
        # An SGD step on both, so the second round checks fresh gradients.
        for name, p in model.named_parameters():
            p.value.sub_(0.1 * p.grad)
            with torch.no_grad():
                torch_params[name].sub_(0.1 * torch_params[name].grad)
    predict = nn.compile_test(model, softmax=True)
    x = torch.randn(7, 4)
    theirs.eval()
    assert_close(predict(x), torch.softmax(theirs(x), 1), torch.float32, "compile_test")
    assert len(mg.default_context().nodes) == 0


def test_compile_true_hands_the_program_to_torch_compile_in_one_graph_and_matches_eager():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    eager = nn.compile_train(model, mg.cross_entropy)
    # fullgraph=True: a graph break inside the program would raise instead of falling back.
    compiled = nn.compile_train(model, mg.cross_entropy, compile={"fullgraph": True})
    for _ in range(2):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        a, b = eager(x, y), compiled(x, y)
        assert_close(b.loss, a.loss, torch.float32, "compiled loss")
        assert_close(b.pred, a.pred, torch.float32, "compiled pred")
        for name in model.grad_names():
            assert_close(b[name], a[name], torch.float32, f"compiled {name}")
        for p in model.parameters():  # the compiled step must see updated weights
            p.value.sub_(0.5 * p.grad)


def test_deepcopy_gives_independent_variables_on_the_same_tape():
    import copy

    model = MLP(batchnorm=True).eval()
    clone = copy.deepcopy(model)
    x = torch.randn(3, 4)
    assert torch.equal(clone(mg.tensor(x)).value, model(mg.tensor(x)).value)
    for (name, a), (_, b) in zip(model.variables.items(), clone.variables.items()):
        assert a is not b and a.value is not b.value and a.context is b.context, name
    clone.fc1.weight.value.add_(1.0)
    assert not torch.equal(clone.fc1.weight.value, model.fc1.weight.value)
