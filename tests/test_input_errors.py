"""Bad input to the ops: a typed error that says what was expected, what came and how to fix it.

One table of bad calls across the ops. Each row names the error class and the
words the message must contain; every message must also start with the op's
name and carry an "expected", a "got" and a "help:" line. A refused call must
change nothing (batch_norm's running statistics stay as they were).
"""

from __future__ import annotations

import ast
import pathlib
from dataclasses import dataclass

import pytest
import torch

import minigrad as mg
from minigrad.errors import (
    ArgumentError,
    DTypeError,
    HyperParameterError,
    MinigradError,
    OutOfRangeError,
    ShapeError,
    UnsupportedArgumentError,
)


def v(*shape, dtype=torch.float32, requires_grad=True):
    """A Variable of ones of the given shape."""
    return mg.tensor(torch.ones(shape, dtype=dtype), requires_grad=requires_grad)


def classes(*values, dtype=torch.int64):
    return torch.tensor(values, dtype=dtype)


@dataclass
class Bad:
    """A call that must be refused with ``error`` and a message naming ``op`` and ``words``."""

    name: str
    call: object  # a function of no arguments
    error: type
    op: str
    words: tuple = ()


BAD_INPUTS = [
    # -- dims out of range: never wrapped around ----------------------------------------
    Bad("sum dim 2 of 2-D", lambda: v(3, 4).sum(2), OutOfRangeError, "sum", ("dim=2", "[-2, 1]")),
    Bad("sum dims past the end", lambda: v(3, 4).sum((0, 5)), OutOfRangeError, "sum", ("dim=5",)),
    Bad("mean (2, 3) of (N, C)", lambda: v(4, 3).mean((2, 3)), OutOfRangeError, "mean", ("dim=2",)),
    Bad("mean dim -3 of 2-D", lambda: v(4, 3).mean(-3), OutOfRangeError, "mean", ("[-2, 1]",)),
    Bad("var dim 3", lambda: v(2, 3).var(3), OutOfRangeError, "var", ("dim=3",)),
    Bad("max dim 2", lambda: mg.max(v(2, 3), 2), OutOfRangeError, "max", ("dim=2", "[-2, 1]")),
    Bad("min dim -3", lambda: mg.min(v(2, 3), -3), OutOfRangeError, "min", ("dim=-3",)),
    Bad("logsumexp dim 1 of 1-D", lambda: mg.logsumexp(v(4), 1), OutOfRangeError, "logsumexp"),
    Bad("sum dim 1 of 0-dim", lambda: v().sum(1), OutOfRangeError, "sum", ("[-1, 0]",)),
    Bad("softmax dim 2", lambda: mg.softmax(v(2, 3), 2), OutOfRangeError, "softmax", ("dim=2",)),
    Bad("log_softmax dim -3", lambda: mg.log_softmax(v(2, 3), -3), OutOfRangeError, "log_softmax"),
    Bad("transpose dim 2", lambda: v(2, 3).transpose(0, 2), OutOfRangeError, "transpose"),
    Bad("permute dim 3", lambda: v(2, 3).permute(0, 3), OutOfRangeError, "permute", ("dim=3",)),
    Bad("squeeze dim 2", lambda: v(2, 1).squeeze(2), OutOfRangeError, "squeeze", ("dim=2",)),
    Bad(
        "unsqueeze dim 4", lambda: v(2, 3).unsqueeze(4), OutOfRangeError, "unsqueeze", ("[-3, 2]",)
    ),
    Bad("flatten end_dim 3", lambda: v(2, 3).flatten(0, 3), OutOfRangeError, "flatten"),
    Bad("cat dim 2", lambda: mg.cat([v(2, 3), v(2, 3)], 2), OutOfRangeError, "cat", ("dim=2",)),
    Bad("stack dim 4", lambda: mg.stack([v(2, 3), v(2, 3)], 4), OutOfRangeError, "stack"),
    Bad("split dim 2", lambda: mg.split(v(2, 3), 1, 2), OutOfRangeError, "split", ("dim=2",)),
    Bad("chunk dim -3", lambda: mg.chunk(v(2, 3), 2, -3), OutOfRangeError, "chunk"),
    Bad("a float dim", lambda: v(2, 3).sum(1.0), ArgumentError, "sum", ("dim to be an int",)),
    Bad("a repeated dim", lambda: v(2, 3).sum((1, -1)), ArgumentError, "sum", ("at most once",)),
    Bad("permute, a dim twice", lambda: v(2, 3).permute(1, 1), ShapeError, "permute"),
    # -- dtype mistakes -----------------------------------------------------------------
    Bad(
        "int64 data into linear",
        lambda: mg.linear(torch.ones(2, 4, dtype=torch.int64), v(3, 4)),
        DTypeError,
        "linear",
        ("int64", "float"),
    ),
    Bad(
        "uint8 data into linear",
        lambda: mg.linear(torch.ones(2, 4, dtype=torch.uint8), v(3, 4), v(3)),
        DTypeError,
        "linear",
        ("uint8",),
    ),
    Bad(
        "uint8 images into conv2d",
        lambda: mg.conv2d(torch.ones(1, 1, 5, 5, dtype=torch.uint8), v(2, 1, 3, 3)),
        DTypeError,
        "conv2d",
        ("uint8", "/ 255"),
    ),
    Bad(
        "int64 images into conv2d",
        lambda: mg.conv2d(torch.ones(1, 1, 5, 5, dtype=torch.int64), v(2, 1, 3, 3)),
        DTypeError,
        "conv2d",
        ("int64",),
    ),
    Bad(
        "int64 into matmul",
        lambda: mg.matmul(torch.ones(2, 4, dtype=torch.int64), v(4, 3)),
        DTypeError,
        "matmul",
        ("int64",),
    ),
    Bad(
        "int32 class targets",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1, dtype=torch.int32)),
        DTypeError,
        "cross_entropy",
        ("int32", "target.long()"),
    ),
    Bad(
        "bool class targets",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1, dtype=torch.bool)),
        DTypeError,
        "cross_entropy",
        ("bool",),
    ),
    Bad(
        "uint8 class targets",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1, dtype=torch.uint8)),
        DTypeError,
        "cross_entropy",
        ("uint8",),
    ),
    Bad(
        "int32 targets into nll_loss",
        lambda: mg.nll_loss(v(2, 3), classes(0, 1, dtype=torch.int32)),
        DTypeError,
        "nll_loss",
        ("int32",),
    ),
    Bad(
        "float targets into nll_loss",
        lambda: mg.nll_loss(v(2, 3), torch.tensor([0.0, 1.0])),
        DTypeError,
        "nll_loss",
        ("float32", "class probabilities"),
    ),
    Bad(
        "int targets into BCE",
        lambda: mg.binary_cross_entropy_with_logits(v(2, 3), torch.ones(2, 3, dtype=torch.int64)),
        DTypeError,
        "binary_cross_entropy_with_logits",
        ("int64", "target.float()"),
    ),
    Bad(
        "float indices into embedding",
        lambda: mg.embedding(torch.tensor([0.0, 1.0]), v(3, 2)),
        DTypeError,
        "embedding",
        ("float32", ".long()"),
    ),
    Bad(
        "float32 meets float64",
        lambda: v(2) + v(2, dtype=torch.float64),
        DTypeError,
        "Add",
        ("float32", "float64"),
    ),
    Bad(
        "where with a float condition",
        lambda: mg.where(torch.ones(2), v(2), v(2)),
        DTypeError,
        "where",
        ("boolean",),
    ),
    # -- shapes that do not fit ---------------------------------------------------------
    Bad(
        "targets of the wrong shape",
        lambda: mg.cross_entropy(v(4, 3), classes(0, 1)),
        ShapeError,
        "cross_entropy",
        ("(4, 3)", "(2,)"),
    ),
    Bad(
        "a class out of range",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 5)),
        OutOfRangeError,
        "cross_entropy",
        ("[0, 3)", "0 to 5"),
    ),
    Bad(
        "class weight of the wrong size",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1), weight=torch.ones(4)),
        ShapeError,
        "cross_entropy",
        ("(3,)", "(4,)"),
    ),
    Bad(
        "a class weight that requires grad",
        lambda: mg.nll_loss(v(2, 3), classes(0, 1), weight=v(3)),
        ArgumentError,
        "nll_loss",
        ("requires_grad=True", "detach"),
    ),
    Bad(
        "mse of (N, 1) against (N,)",
        lambda: mg.mse_loss(v(4, 1), v(4)),
        ShapeError,
        "mse_loss",
        ("(4, 1)", "(4,)"),
    ),
    Bad(
        "BCE targets of another shape",
        lambda: mg.binary_cross_entropy_with_logits(v(4, 1), v(4)),
        ShapeError,
        "binary_cross_entropy_with_logits",
        ("(4, 1)", "(4,)"),
    ),
    Bad(
        "pos_weight that does not broadcast",
        lambda: mg.binary_cross_entropy_with_logits(v(4, 3), v(4, 3), pos_weight=torch.ones(2)),
        ShapeError,
        "binary_cross_entropy_with_logits",
        ("pos_weight", "(2,)"),
    ),
    Bad(
        "linear with the wrong features",
        lambda: mg.linear(v(2, 5), v(3, 4)),
        ShapeError,
        "linear",
        ("4 features", "5 features"),
    ),
    Bad(
        "conv2d on a 2-D image",
        lambda: mg.conv2d(v(5, 5), v(2, 1, 3, 3)),
        ShapeError,
        "conv2d",
        ("(N, C, H, W)", "(5, 5)", "unsqueeze"),
    ),
    Bad(
        "conv2d with the wrong channels",
        lambda: mg.conv2d(v(1, 3, 5, 5), v(2, 1, 3, 3)),
        ShapeError,
        "conv2d",
        ("1 channels", "3 channels"),
    ),
    Bad(
        "conv2d kernel larger than the image",
        lambda: mg.conv2d(v(1, 1, 2, 2), v(1, 1, 3, 3)),
        ShapeError,
        "conv2d",
        ("(3, 3)", "(1, 1, 2, 2)"),
    ),
    Bad(
        "max_pool2d padding over half the kernel",
        lambda: mg.max_pool2d(v(1, 1, 4, 4), 2, padding=2),
        ShapeError,
        "max_pool2d",
        ("padding", "half"),
    ),
    Bad(
        "avg_pool2d window larger than the image",
        lambda: mg.avg_pool2d(v(1, 1, 2, 2), 3),
        ShapeError,
        "avg_pool2d",
        ("kernel_size=(3, 3)",),
    ),
    Bad(
        "batch_norm with the wrong channels",
        lambda: mg.batch_norm(v(4, 3), torch.zeros(2), torch.ones(2), training=True),
        ShapeError,
        "batch_norm",
        ("running_mean", "3", "2 values"),
    ),
    Bad(
        "batch_norm weight of the wrong size",
        lambda: mg.batch_norm(v(4, 3), None, None, v(5), training=True),
        ShapeError,
        "batch_norm",
        ("weight", "5 values"),
    ),
    Bad(
        "batch_norm of one sample in training",
        lambda: mg.batch_norm(v(1, 3), None, None, training=True),
        ShapeError,
        "batch_norm",
        ("more than one value",),
    ),
    Bad(
        "layer_norm shape that does not end the input",
        lambda: mg.layer_norm(v(2, 3), (2,)),
        ShapeError,
        "layer_norm",
        ("(2,)", "(2, 3)"),
    ),
    Bad(
        "layer_norm weight of another shape",
        lambda: mg.layer_norm(v(2, 3), (3,), v(2)),
        ShapeError,
        "layer_norm",
        ("weight", "(3,)", "(2,)"),
    ),
    Bad("reshape to too many", lambda: v(2, 3).reshape(4, 2), ShapeError, "reshape", ("6",)),
    Bad(
        "reshape to a string (torch's own TypeError, in our words)",
        lambda: v(2, 3).reshape("a"),
        ArgumentError,
        "Reshape",
        ("torch said", "tuple of ints"),
    ),
    Bad("expand a size-3 dim", lambda: v(3, 1).expand(2, 4), ShapeError, "expand", ("(3, 1)",)),
    Bad("split sizes that miss", lambda: mg.split(v(4), [1, 2]), ShapeError, "split", ("4",)),
    Bad("cat of mismatched shapes", lambda: mg.cat([v(2, 3), v(3, 2)]), ShapeError, "cat"),
    Bad("stack of mismatched shapes", lambda: mg.stack([v(2), v(3)]), ShapeError, "stack"),
    Bad("index past the end", lambda: v(2, 3)[5], OutOfRangeError, "indexing", ("(2, 3)",)),
    Bad(
        "a mask of the wrong shape", lambda: v(2, 3)[torch.ones(3, dtype=bool)], ShapeError, "index"
    ),
    Bad("matmul that does not line up", lambda: v(3, 4) @ v(5, 2), ShapeError, "matmul", ("4",)),
    Bad("add that does not broadcast", lambda: v(3, 4) + v(3), ShapeError, "Add", ("(3, 4)",)),
    Bad(
        "embedding padding_idx past the end",
        lambda: mg.embedding(classes(0), v(3, 2), 3),
        OutOfRangeError,
        "embedding",
        ("padding_idx=3",),
    ),  # fmt: skip
    # -- arguments outside their values --------------------------------------------------
    Bad(
        "reduction 'avg'",
        lambda: mg.mse_loss(v(2), v(2), reduction="avg"),
        ArgumentError,
        "mse_loss",
        ("'avg'", '"mean"'),
    ),  # fmt: skip
    Bad(
        "cross_entropy reduction 'mean()'",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1), reduction="mean()"),
        ArgumentError,
        "cross_entropy",
        ("'mean()'",),
    ),
    Bad(
        "div rounding_mode 'round'",
        lambda: mg.div(v(2), v(2), rounding_mode="round"),
        ArgumentError,
        "div",
        ("'round'", '"trunc"'),
    ),  # fmt: skip
    Bad(
        "gelu approximate 'fast'",
        lambda: mg.gelu(v(2), approximate="fast"),
        ArgumentError,
        "gelu",
        ("'fast'",),
    ),  # fmt: skip
    Bad("clamp with no bounds", lambda: mg.clamp(v(2)), ArgumentError, "clamp", ("min=",)),
    Bad("dropout p=1.5", lambda: mg.dropout(v(2), 1.5), HyperParameterError, "dropout", ("1.5",)),
    Bad("softmax without dim", lambda: mg.softmax(v(2, 3)), ArgumentError, "softmax", ("dim=",)),
    Bad(
        "var unbiased and correction",
        lambda: v(3).var(unbiased=True, correction=0),
        ArgumentError,
        "var",
        ("correction",),
    ),  # fmt: skip
    Bad("flatten start after end", lambda: v(2, 3, 4).flatten(2, 1), ArgumentError, "flatten"),
    Bad("split size 0", lambda: mg.split(v(4), 0), ArgumentError, "split", ("split_size=0",)),
    Bad("chunk into 0", lambda: mg.chunk(v(4), 0), ArgumentError, "chunk", ("0",)),
    Bad(
        "conv2d padding 'full'",
        lambda: mg.conv2d(v(1, 1, 4, 4), v(1, 1, 3, 3), padding="full"),
        ArgumentError,
        "conv2d",
        ("'full'",),
    ),  # fmt: skip
    Bad(
        "conv2d padding 'same' with a stride",
        lambda: mg.conv2d(v(1, 1, 4, 4), v(1, 1, 3, 3), stride=2, padding="same"),
        ArgumentError,
        "conv2d",
        ("stride=1",),
    ),
    Bad(
        "a kernel_size of three ints",
        lambda: mg.max_pool2d(v(1, 1, 4, 4), (2, 2, 2)),
        ArgumentError,
        "max_pool2d",
        ("kernel_size",),
    ),  # fmt: skip
    Bad(
        "avg_pool2d divisor_override 0",
        lambda: mg.avg_pool2d(v(1, 1, 4, 4), 2, divisor_override=0),
        ArgumentError,
        "avg_pool2d",
        ("divisor_override",),
    ),  # fmt: skip
    Bad(
        "batch_norm eval without running stats",
        lambda: mg.batch_norm(v(4, 3), None, None),
        ArgumentError,
        "batch_norm",
        ("running_mean",),
    ),  # fmt: skip
    Bad("to a device that is not there", lambda: v(2).to("cude"), ArgumentError, "to", ("'cude'",)),
    Bad("to a string dtype", lambda: v(2).to(dtype="float64"), ArgumentError, "to", ("dtype",)),
    Bad(
        "to with an unknown argument",
        lambda: v(2).to(torch.float64, blocking=True),
        ArgumentError,
        "to",
        ("blocking",),
    ),  # fmt: skip
    # -- arguments left out on purpose ---------------------------------------------------
    Bad(
        "relu inplace",
        lambda: mg.relu(v(2), inplace=True),
        UnsupportedArgumentError,
        "relu",
        ("inplace=",),
    ),  # fmt: skip
    Bad(
        "leaky_relu inplace",
        lambda: mg.leaky_relu(v(2), 0.1, True),
        UnsupportedArgumentError,
        "leaky_relu",
        ("inplace=",),
    ),  # fmt: skip
    Bad(
        "dropout inplace",
        lambda: mg.dropout(v(2), 0.5, True, True),
        UnsupportedArgumentError,
        "dropout",
        ("inplace=",),
    ),  # fmt: skip
    Bad(
        "embedding max_norm",
        lambda: mg.embedding(classes(0), v(3, 2), max_norm=1.0),
        UnsupportedArgumentError,
        "embedding",
        ("max_norm=",),
    ),  # fmt: skip
    Bad(
        "embedding sparse",
        lambda: mg.embedding(classes(0), v(3, 2), sparse=True),
        UnsupportedArgumentError,
        "embedding",
        ("sparse=",),
    ),  # fmt: skip
    Bad(
        "view as a dtype",
        lambda: v(2).view(torch.int32),
        UnsupportedArgumentError,
        "view",
        ("dtype=",),
    ),  # fmt: skip
    Bad(
        "size_average",
        lambda: mg.cross_entropy(v(2, 3), classes(0, 1), size_average=False),
        UnsupportedArgumentError,
        "cross_entropy",
        ("size_average=", "reduction="),
    ),  # fmt: skip
    Bad(
        "reduce",
        lambda: mg.nll_loss(v(2, 3), classes(0, 1), reduce=False),
        UnsupportedArgumentError,
        "nll_loss",
        ("reduce=",),
    ),  # fmt: skip
    Bad(
        "mse size_average",
        lambda: mg.mse_loss(v(2), v(2), size_average=True),
        UnsupportedArgumentError,
        "mse_loss",
        ("size_average=",),
    ),  # fmt: skip
    Bad(
        "BCE reduce",
        lambda: mg.binary_cross_entropy_with_logits(v(2), v(2), reduce=True),
        UnsupportedArgumentError,
        "binary_cross_entropy_with_logits",
        ("reduce=",),
    ),  # fmt: skip
]


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
def test_bad_input_gets_a_typed_error_that_says_what_and_how(bad: Bad):
    with pytest.raises(MinigradError) as caught:
        bad.call()
    error = caught.value
    text = str(error)
    assert type(error) is bad.error, f"{type(error).__name__}: {text}"
    assert text.startswith(bad.op), text
    first, _, rest = text.partition("\n")
    assert "expected" in first and "got" in first, text
    assert "help:" in rest, text
    for word in bad.words:
        assert word in text, f"{word!r} not in: {text}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_moving_to_cuda_without_a_gpu_is_a_device_error():
    with pytest.raises(mg.DeviceError, match=r"(?s)to: expected a device this machine has.*help:"):
        v(2).to("cuda")


@pytest.mark.parametrize("loss", [mg.cross_entropy, mg.nll_loss])
def test_targets_on_another_device_than_the_scores_is_a_device_error(loss):
    # meta stands in for a second device on a machine without a GPU; the targets' values
    # are fine, so a message about their range would mislead
    scores = mg.Variable(torch.randn(3, 4, device="meta"))
    with pytest.raises(
        mg.DeviceError, match=r"(?s)expected the targets on the scores' device.*help:"
    ):
        loss(scores, torch.tensor([1, 2, 0]))


def test_a_variable_on_the_meta_device_prints_its_size_whole():
    assert repr(mg.Variable(torch.ones(3, 4, device="meta"))).endswith("size=(3, 4))")


def test_the_table_covers_every_kind_of_error():
    kinds = {bad.error for bad in BAD_INPUTS}
    assert kinds >= {
        OutOfRangeError,
        ArgumentError,
        DTypeError,
        ShapeError,
        UnsupportedArgumentError,
    }
    assert len(BAD_INPUTS) >= 80


def test_refused_batch_norm_leaves_the_running_statistics_alone():
    running_mean, running_var = torch.full((2,), 0.5), torch.full((2,), 2.0)
    for _ in range(3):
        with pytest.raises(ShapeError):
            mg.batch_norm(v(4, 3), running_mean, running_var, training=True)
        with pytest.raises(ShapeError):  # a weight of the wrong size, found after the stats
            mg.batch_norm(v(4, 2), running_mean, running_var, v(3), training=True)
    assert torch.equal(running_mean, torch.full((2,), 0.5))
    assert torch.equal(running_var, torch.full((2,), 2.0))


def test_errors_are_also_the_builtin_kinds_python_users_catch():
    with pytest.raises(IndexError):  # as torch raises for a dim out of range
        v(3, 4).sum(2)
    with pytest.raises(ValueError):
        mg.mse_loss(v(2), v(2), reduction="avg")
    with pytest.raises(TypeError):
        mg.cross_entropy(v(2, 3), classes(0, 1, dtype=torch.int32))
    with pytest.raises(NotImplementedError):
        mg.relu(v(2), inplace=True)


OPS_DIR = pathlib.Path(mg.__file__).parent / "ops"
BUILTIN_ERRORS = {"ValueError", "TypeError", "IndexError", "RuntimeError", "KeyError", "Exception"}


def test_the_ops_raise_no_bare_builtin_error():
    """Every error raised in minigrad/ops is a minigrad class (with expected / got / help)."""
    bare = []
    for path in sorted(OPS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            raised = node.exc if isinstance(node, ast.Raise) else None
            if isinstance(node, ast.Return) and path.name != "__init__.py":
                raised = node.value  # explain() returns the error it wants raised
            if isinstance(raised, ast.Call) and isinstance(raised.func, ast.Name):
                if raised.func.id in BUILTIN_ERRORS:
                    bare.append(f"{path.name}:{node.lineno} {raised.func.id}")
    assert not bare, bare
