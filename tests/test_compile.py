"""compile_train and compile_test: the step built once as a straight-line program.

The oracle here is minigrad's own eager step (forward and backward on the
tape, then the optimiser), which tests/test_nn.py checks against torch: the
program must give the same numbers bit for bit in float64, step after step.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch

import minigrad as mg
from minigrad import gate as gate_module
from minigrad import nn
from minigrad.nn import compile as compile_module
from minigrad.tape import Node, Payload


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 16), nn.BatchNorm(16), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(16, 8), nn.GELU(), nn.Linear(8, 4),
    )  # fmt: skip


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2dBatchNorm(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(4, 6, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(6 * 2 * 2, 5), nn.Sigmoid(), nn.Linear(5, 3),
    )  # fmt: skip


class Indexing(nn.Module):
    """Basic and advanced indexing (their backward writes into zeros), cat, split, embedding."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 8)
        self.table = mg.nn.new_variable("table", (5, 3), mg.nn.normal_init(), dtype=torch.float32)
        self.fc2 = nn.Linear(4 + 3 + 3 + 3, 4)

    def forward(self, x):
        h = mg.tanh(self.fc1(x))
        rows = torch.arange(x.shape[0]) % 5
        picked = mg.embedding(rows, self.table)
        a, b = mg.split(h, [3, 5], 1)
        joined = mg.cat([b[:, 1:], a[:, [0, 0, 2]], picked, mg.softmax(a, 1)], 1)
        return self.fc2(joined)


def batch(model_kind: str, size: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    shape = (size, 1, 10, 10) if model_kind == "cnn" else (size, 6)
    classes = 3 if model_kind == "cnn" else 4
    return torch.randn(shape, generator=g, dtype=dtype), torch.randint(
        0, classes, (size,), generator=g
    )


def eager_step(model, optimizer, x, y):
    """What a compiled step must equal: forward and backward on the tape, then the update."""
    for p in model.learnable_vars():
        p.grad = None
    pred = model(mg.tensor(x), training=True)
    loss = mg.cross_entropy(pred, y)
    loss.backward()
    if optimizer is not None:
        optimizer.step()
    return pred.value, loss.value


def twins(kind: str, optimizer_kind: str | None):
    torch.manual_seed(0)
    ours = {"mlp": mlp, "cnn": cnn, "indexing": Indexing}[kind]().to(torch.float64)
    theirs = copy.deepcopy(ours)

    def optimizer(model):
        if optimizer_kind == "sgd":
            return mg.optim.SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
        if optimizer_kind == "adamw":
            return mg.optim.AdamW(model, lr=0.01)
        return None

    return ours, optimizer(ours), theirs, optimizer(theirs)


def assert_same(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert torch.equal(a, b), f"{what}: differs by {(a - b).abs().max().item():.3g}"


CASES = [(kind, 8) for kind in ("mlp", "cnn", "indexing")] + [("mlp", 70)]  # 70: another route


@pytest.mark.parametrize("kind, size", CASES)
@pytest.mark.parametrize("optimizer_kind", [None, "sgd", "adamw"])
def test_the_program_equals_the_eager_step_bit_for_bit_step_after_step(kind, size, optimizer_kind):
    model, optimizer, reference, reference_optimizer = twins(kind, optimizer_kind)
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer)
    for k in range(4):  # the first call records, the later ones run the program
        x, y = batch(kind, size, seed=k)
        torch.manual_seed(100 + k)  # dropout draws the same masks on both sides
        pred, loss = eager_step(reference, reference_optimizer, x, y)
        torch.manual_seed(100 + k)
        result = step(x, y)
        assert_same(result.pred, pred, f"step {k} pred")
        assert_same(result.loss, loss, f"step {k} loss")
        for name, variable in reference.named_state():
            assert_same(model.variables[name].value, variable.value, f"step {k} {name}")
            if variable.requires_grad:
                assert_same(result[f"{name}_grad"], variable.grad, f"step {k} {name}_grad")
        for name in model.outputs:
            assert_same(result.outputs[name], reference.variables[name].value, f"{name} out")
    assert len(step.programs) == 1
    assert len(mg.default_context().nodes) == 0


def test_no_variable_node_or_payload_is_made_by_a_program_step(monkeypatch):
    model, optimizer, _, _ = twins("cnn", "sgd")
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer)
    x, y = batch("cnn", 8, seed=0)
    step(x, y)  # records
    leaf = mg.tensor([1.0, 2.0], requires_grad=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a Variable, Node or Payload was made")

    monkeypatch.setattr(mg.Variable, "__init__", refuse)
    monkeypatch.setattr(gate_module, "_wrap", refuse)  # (how a gate makes its output Variables)
    monkeypatch.setattr(gate_module, "_new_output", refuse)
    monkeypatch.setattr(Node, "__init__", refuse)
    monkeypatch.setattr(Payload, "__init__", refuse)
    monkeypatch.setattr(mg.Gate, "__call__", refuse)
    with pytest.raises(AssertionError, match="was made"):  # the patches do catch an eager op
        mg.relu(leaf)
    for seed in range(1, 3):
        result = step(*batch("cnn", 8, seed))
        assert torch.isfinite(result.loss)


def test_the_printed_program_is_the_code_that_runs():
    model, optimizer, _, _ = twins("mlp", "sgd")
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer)
    x, y = batch("mlp", 8, seed=0)
    step(x, y)
    program = step.program
    source = str(program)
    assert source.startswith("# Sequential: one training step, built for x (8, 6) float64")
    assert "def train_step(x, y, layer0_weight, layer0_bias, layer1_weight," in source
    expected = [
        "# forward: the tape's nodes, in order", "# node 0 Linear", "# node 1 BatchNorm",
        "# backward: the same nodes, in reverse order", "# node 0 Linear.backward",
        "layer0_weight_grad = ", "bernoulli_(",
    ]  # fmt: skip
    for line in expected:
        assert line in source, line
    assert re.search(r"^    loss\b.* = ", source, re.MULTILINE), "the loss is named"
    body = [line.strip() for line in source.splitlines() if line.startswith("    ")]
    lines = [line for line in body if not line.startswith(("#", "del ", "return "))]
    assert len(lines) == program.kernel_count - len(
        [c for c in program.constants if "made once" in _note(source, c)]
    )
    # Run the printed text itself, with what the program holds: the same numbers.
    namespace = {"torch": torch, "F": torch.nn.functional, **program.constants}
    exec(source, namespace)
    values = [v.value for v in model.variables.values()]
    x2, y2 = batch("mlp", 8, seed=1)
    torch.manual_seed(5)
    printed = namespace["train_step"](x2, y2, *[v.clone() for v in values])
    torch.manual_seed(5)
    ran = program(x2, y2, *[v.clone() for v in values])
    for a, b in zip(printed, ran):
        assert_same(a, b, "printed program")


def _note(source: str, constant: str) -> str:
    return next(line for line in source.splitlines() if line.startswith(f"#   {constant}:"))


def test_a_new_batch_shape_is_retraced_and_still_exact():
    model, optimizer, reference, reference_optimizer = twins("mlp", "sgd")
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer)
    for k, size in enumerate([8, 8, 5, 8, 5]):  # the smaller last batch of an epoch
        x, y = batch("mlp", size, seed=k)
        torch.manual_seed(k)
        pred, loss = eager_step(reference, reference_optimizer, x, y)
        torch.manual_seed(k)
        result = step(x, y)
        assert_same(result.loss, loss, f"batch {k} of {size}")
        assert_same(result.pred, pred, f"batch {k} of {size}")
    assert len(step.programs) == 2
    assert "built for x (5, 6) float64" in str(step.program)
    model.to(torch.float32)  # new values: a third signature
    step(*batch("mlp", 8, seed=9, dtype=torch.float32))
    assert len(step.programs) == 3


def test_retrace_false_refuses_another_signature_and_changes_nothing():
    model, optimizer, _, _ = twins("mlp", "sgd")
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer, retrace=False)
    step(*batch("mlp", 8, seed=0))
    before = {name: v.value.clone() for name, v in model.variables.items()}
    with pytest.raises(
        mg.ShapeError, match=r"(?s)built for x of shape \(8, 6\), got \(5, 6\).*help:"
    ):
        step(*batch("mlp", 5, seed=1))
    with pytest.raises(
        mg.DTypeError, match=r"(?s)built for x of dtype torch.float64, got torch.float32"
    ):
        step(*batch("mlp", 8, seed=1, dtype=torch.float32))
    x, y = batch("mlp", 8, seed=1)
    with pytest.raises(mg.ShapeError, match=r"built for x with strides \(6, 1\), got \(1, 8\)"):
        step(x.t().contiguous().t(), y)
    for name, value in before.items():
        assert_same(model.variables[name].value, value, name)
    step(x, y)
    assert len(step.programs) == 1


class ReadsAValue(mg.Gate):
    """y = x * 2 if x.sum() > 0 else x: a branch on the data."""

    def forward(self, x):
        self.factor = 2.0 if x.sum().item() > 0 else 1.0
        return x * self.factor

    def backward(self, grad_output):
        return (grad_output * self.factor,)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.bn = nn.BatchNorm(4)

    def forward(self, x):
        return ReadsAValue()(self.bn(self.fc(x)))


def test_a_step_that_reads_a_value_is_refused_naming_the_gate_and_changes_nothing():
    torch.manual_seed(0)
    model = Branchy().to(torch.float64)
    for p in model.parameters():
        p.grad = torch.full_like(p.value, 7.0)
    before = {name: v.value.clone() for name, v in model.variables.items()}
    rng = torch.get_rng_state()
    step = nn.compile_train(model, mg.cross_entropy)
    with pytest.raises(mg.CompileError, match=r"(?s)ReadsAValue.forward calls item.*help:"):
        step(*batch("mlp", 8, seed=0))
    for name, value in before.items():  # running statistics too: a refused step changes nothing
        assert_same(model.variables[name].value, value, name)
    assert all(torch.equal(p.grad, torch.full_like(p.value, 7.0)) for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert len(mg.default_context().nodes) == 0
    assert step.programs == []


def test_a_mask_index_and_a_hook_are_refused():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            h = self.fc(x)
            return h[h.value > 0].reshape(1, -1)[:, :4]

    model = Masked().to(torch.float64)
    with pytest.raises(
        mg.CompileError, match=r"Index.forward calls __getitem__: an op whose output"
    ):
        nn.compile_train(model, mg.cross_entropy)(*batch("mlp", 8, seed=0))
    model = mlp().to(torch.float64)
    model[0].weight.register_hook(lambda g: print("a step"))
    with pytest.raises(mg.CompileError, match=r"(?s)0.weight has a hook.*help:"):
        nn.compile_train(model, mg.cross_entropy)(*batch("mlp", 8, seed=0))
    with mg.detect_anomaly(), pytest.raises(mg.CompileError, match="detect_anomaly"):
        nn.compile_train(mlp().to(torch.float64), mg.cross_entropy)(*batch("mlp", 8, seed=0))


def test_the_program_sees_a_new_learning_rate_and_a_loaded_optimiser_state():
    model, optimizer, reference, reference_optimizer = twins("mlp", "adamw")
    step = nn.compile_train(model, mg.cross_entropy, optimizer=optimizer)
    saved = None
    for k in range(5):
        if k == 2:
            optimizer.lr = reference_optimizer.lr = 0.05
            saved = copy.deepcopy(reference_optimizer.state_dict())
        if k == 4:  # go back to step 2's moments on both sides
            optimizer.load_state_dict(saved)
            reference_optimizer.load_state_dict(saved)
        x, y = batch("mlp", 8, seed=k)
        torch.manual_seed(k)
        eager_step(reference, reference_optimizer, x, y)
        torch.manual_seed(k)
        step(x, y)
        for name, variable in reference.named_state():
            assert_same(model.variables[name].value, variable.value, f"step {k} {name}")


def test_compile_test_is_a_program_too_and_equals_eager_evaluation():
    model, _, _, _ = twins("cnn", None)
    predict = nn.compile_test(model, softmax=True)
    for seed in range(3):
        x, _ = batch("cnn", 6, seed)
        with mg.no_grad():
            expected = mg.softmax(model(mg.tensor(x), training=False), 1).value
        assert_same(predict(x), expected, f"prediction {seed}")
    assert "def predict(x, layer0_conv_weight," in str(predict.program)
    assert "bernoulli_" not in str(predict.program)  # evaluation: no dropout
    with pytest.raises(AttributeError, match="the first call records"):
        nn.compile_test(model).program  # noqa: B018


def test_a_written_constant_is_not_made_once():
    """Factory calls are made once only when nothing writes to them (max-pool's zeros are)."""
    model, _, _, _ = twins("cnn", None)
    step = nn.compile_train(model, mg.cross_entropy)
    step(*batch("cnn", 8, seed=0))
    source = str(step.program)
    assert "new_zeros(" in source  # the scatter target of max-pool's backward stays a kernel
    assert "torch.ones_like(loss), made once" in source  # backprop's seed is a constant
    assert compile_module.TrainStep is type(step)


def test_names_the_program_needs_or_python_reserves_are_not_taken_by_parameters():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)
            self.register_parameter("lambda", mg.tensor(torch.zeros(4), requires_grad=True))
            self.register_parameter("F", mg.tensor(torch.ones(4), requires_grad=True))

        def forward(self, x):  # (F: the name the program gives torch.nn.functional)
            return self.fc(x) * self.F + getattr(self, "lambda")

    model = Odd().to(torch.float64)
    step = nn.compile_train(model, mg.cross_entropy)
    for seed in range(2):
        x, y = batch("mlp", 8, seed)
        torch.manual_seed(0)
        assert torch.isfinite(step(x, y).loss)
    assert "def train_step(x, y, lambda_, F_, fc_weight, fc_bias):" in str(step.program)
