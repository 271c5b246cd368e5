"""nn, optim and training read in one dialect: torch's names, one check per rule, small files.

* The forward path carries no bookkeeping for the summary table.
* Each argument rule lives in one place, with one message (Dropout's p).
* Learner-facing errors are minigrad's typed errors, never bare ones.
* No core file of these packages holds two ideas (about 300 lines at most).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import minigrad as mg
from minigrad import nn

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["minigrad/nn", "minigrad/optim", "minigrad/training", "minigrad/data"]
FILES = [p for folder in PACKAGES for p in sorted((ROOT / folder).glob("*.py"))] + [
    ROOT / "minigrad" / name for name in ("checkpoint.py", "atomic_file.py", "file_kinds.py")
]


def cnn():
    return nn.Sequential(
        nn.Conv2dBatchNorm(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(4 * 4 * 4, 10),
    )  # fmt: skip


def attributes(model):
    return [
        (name, sorted(vars(m)), [id(v) for v in vars(m).values()])
        for name, m in model.named_modules()
    ]


def test_a_forward_records_nothing_on_the_modules():
    model = cnn()
    before = attributes(model)
    model(mg.tensor(torch.randn(2, 1, 8, 8)))
    model(mg.tensor(torch.randn(3, 1, 8, 8)), training=False)
    assert attributes(model) == before


def test_summary_sees_the_shapes_and_puts_every_forward_back():
    model = cnn()
    custom = nn.Module().add(nn.Linear(3, 2))
    custom.forward = lambda x: custom._modules["0"](x) * 2  # nimxla style: forward on the instance
    own_forward = custom.forward
    table = model.summary((5, 1, 8, 8))
    assert "(5, 4, 8, 8)" in table and "(5, 64)" in table and "(5, 10)" in table
    rows = {r["name"]: r["output_shape"] for r in nn.summary_rows(model)}
    assert rows["0.conv"] == (5, 4, 8, 8) and rows["(model)"] == (5, 10)
    assert all("forward" not in vars(m) for m in model.modules())  # no wrapper left behind
    assert "(7, 2)" in custom.summary((7, 3)) and custom.forward is own_forward
    assert str(model) == table == model.info  # the shapes stay for the next table


def test_dropout_s_p_has_one_rule_and_one_message():
    x = mg.tensor(torch.ones(3))
    messages = set()
    for call in (
        lambda: nn.Dropout(1.5),
        lambda: nn.dropout(x, 1.5, training=True),
        lambda: nn.dropout(x, 1.5, training=False),
        lambda: mg.dropout(x, 1.5),
    ):
        with pytest.raises(mg.HyperParameterError) as caught:
            call()
        messages.add(str(caught.value))
    assert len(messages) == 1, messages


def test_layer_constructors_raise_hyper_parameter_errors():
    for call in (
        lambda: nn.Linear(0, 2),
        lambda: nn.Conv2d(3, 4, 3, groups=2),
        lambda: nn.BatchNorm(4, momentum=2.0),
        lambda: nn.Dropout(-1),
        lambda: nn.he_init(gain=-1.0),
    ):
        with pytest.raises(mg.HyperParameterError) as caught:
            call()
        assert type(caught.value) is mg.HyperParameterError and "help:" in str(caught.value)


# Python's protocols need these exact types: a missing attribute, a missing key.
ALLOWED = {
    ("registry.py", "AttributeError"),  # __getattr__: hasattr() relies on it
    ("train_result.py", "KeyError"),  # TrainResult["name"]: a mapping
    ("compile.py", "AttributeError"),  # step.program before the first call: hasattr() holds
    ("digits.py", "FileNotFoundError"),  # the package's own data file is missing
    ("digits.py", "ValueError"),  # ... or damaged
    ("mnist.py", "FileNotFoundError"),  # no MNIST files in the folder given
    ("text.py", "FileNotFoundError"),  # the package's own corpus is missing or damaged
}


# MinigradErrors defined outside errors.py; an abstract method a subclass must write.
SUBCLASSED = ("IDXError", "DownloadError", "NotImplementedError")


def test_errors_raised_are_minigrad_s_typed_errors():
    bare = []
    for path in FILES:
        for kind in re.findall(r"raise (\w+Error)\(", path.read_text()):
            error = getattr(mg, kind, None) or getattr(mg.errors, kind, None)
            typed = isinstance(error, type) and issubclass(error, mg.MinigradError)
            if not typed and (path.name, kind) not in ALLOWED and kind not in SUBCLASSED:
                bare.append(f"{path.relative_to(ROOT)}: {kind}")
    assert not bare, bare


def test_no_file_holds_two_ideas():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in FILES}
    assert sizes["minigrad/nn/module.py"] < 300
    assert not {name: n for name, n in sizes.items() if n > 320}
