"""Lesson 11's exercises: tensors that live where their inputs live, and state that moves.

A device bug hides on a machine with one device: code that makes a tensor on
the CPU works until its input sits on a GPU. These checks catch it on any
machine by also running the learner's code on torch's ``meta`` device, which
has shapes, dtypes and a device but no data: every op runs (and checks that
its inputs share a device) without computing anything. Values are checked on
the CPU, placement on ``meta``, and both on ``cuda`` when there is a GPU.
"""

from __future__ import annotations

import torch

from minigrad.errors import DeviceError
from minigrad.exercises.checking import Check, Mistake, draw, exercise
from minigrad.nn import Module
from minigrad.variable import Variable, tensor

# Where placement is checked: the meta device always, a GPU when there is one.
PLACES = ["meta"] + (["cuda"] if torch.cuda.is_available() else [])

DEVICE_HELP = (
    "a tensor your code makes lives on the CPU unless you make it somewhere else; make each "
    "new tensor on the device of the input it works with"
)


META_HELP = (
    "your code reads values out of a tensor or copies it to the CPU (.cpu(), .item(), "
    ".tolist(), a loop over its values): the meta device has no values, and on a GPU each "
    "such read is a slow round trip; keep the work in tensor ops on the input's device"
)


def placed(fn):
    """``fn``, with torch's errors about devices turned into a DeviceError that says where to look.

    The learner's frames stay in the traceback, so the FAIL still names their line.
    """

    def run(*args):
        try:
            return fn(*args)
        except RuntimeError as error:  # NotImplementedError too: meta has no data to copy out
            said = str(error).splitlines()[0] if str(error) else ""
            if "meta" in said.lower():
                help_ = META_HELP if "expected device" not in said else DEVICE_HELP
            elif "device" in said.lower():
                help_ = DEVICE_HELP
            else:
                raise  # not about devices (an empty gap raises NotImplementedError too)
            raise DeviceError(f"{said[:160]}\nhelp: {help_}").with_traceback(
                error.__traceback__
            ) from None

    run.__name__ = getattr(fn, "__name__", "run")
    return run


def expect_tensor_like(check: Check, name: str, got, device, dtype) -> torch.Tensor:
    """FAIL unless ``got`` (a tensor or a Variable) lives on ``device`` with ``dtype``."""
    value = got.value if isinstance(got, Variable) else got
    if not isinstance(value, torch.Tensor):
        check.fail(f"{name} should be a tensor, received {type(got).__name__}")
    if value.device.type != torch.device(device).type:
        check.fail(
            f"{name} lives on {value.device.type}, but the input lives on {device}",
            DEVICE_HELP,
        )
    if value.dtype != dtype:
        check.fail(
            f"{name} has dtype {value.dtype}, but {dtype} was asked for",
            "a new tensor gets torch's default dtype (float32, or int64 for integers) unless "
            "you say otherwise",
        )
    return value


# -- one_hot --------------------------------------------------------------------------------


@exercise(
    "one_hot",
    lesson=11,
    title="one-hot targets, made where the labels live",
    hints=(
        "Row i of the result is all zeros except a 1 in column labels[i]. The result is a "
        "new tensor, and a new tensor lives on the CPU, in float32, unless it is made "
        "elsewhere: make it on the labels' device, in the dtype asked for.",
        "Start from zeros of shape (len(labels), num_classes) with device=labels.device and "
        "dtype=dtype, and put a 1 at (i, labels[i]) for every row i (scatter_ along dimension "
        "1 does it in one call; so does comparing labels[:, None] with an arange made on the "
        "same device).",
    ),
)
def check_one_hot(check: Check, one_hot) -> str:
    """``one_hot(labels, num_classes, dtype)`` -> (N, num_classes) 0s and 1s, where labels live."""
    generator = torch.Generator().manual_seed(11)
    cases = [(7, 4, torch.float32), (12, 10, torch.float64), (1, 3, torch.float32)]
    for size, classes, dtype in cases:
        labels = torch.randint(classes, (size,), generator=generator)
        want = torch.nn.functional.one_hot(labels, classes).to(dtype)
        for device in ["cpu", *PLACES]:
            check.case = f"{size} labels of {classes} classes on {device}, dtype {dtype}"
            got = check.call(placed(one_hot), labels.to(device), classes, dtype, names=("labels",))
            value = expect_tensor_like(check, "the result", got, device, dtype)
            if device == "meta":  # no values: its placement (and shape) was the point
                if tuple(value.shape) != tuple(want.shape):
                    check.fail(
                        f"the result has shape {tuple(value.shape)}, not {tuple(want.shape)}"
                    )
                continue
            mistakes = (
                Mistake(want.flip(1), "the 1s sit in mirrored columns: column k is class k"),
                Mistake(1 - want, "0s and 1s are the wrong way round: the 1 marks the class"),
            )
            check.expect("the result", want, value.cpu(), mistakes=mistakes)
    where = " and ".join(["the CPU", *PLACES])
    return f"right values on the CPU, and made where the labels live on {where}"


# -- a layer whose state moves with it -----------------------------------------------------


def standardize_case(generator: torch.Generator):
    """Training data with very different features, and new inputs to standardise."""
    centres = torch.tensor([10.0, -3.0, 0.0, 250.0, 0.5], dtype=torch.float64)
    spreads = torch.tensor([0.1, 2.0, 1.0, 40.0, 1e-3], dtype=torch.float64)
    data = centres + spreads * draw(generator, 40, 5)
    inputs = centres + spreads * draw(generator, 6, 5)
    return data, inputs


def standardize_slips(data, inputs, eps) -> tuple:
    mean, std = data.mean(0), data.std(0)
    return (
        Mistake(
            (inputs - mean) / (data.std(0, correction=0) + eps),
            "that divides by the population standard deviation (correction 0); torch's "
            "default, std(0), is the unbiased one (it divides by N - 1)",
        ),
        Mistake((inputs - mean) / std, "eps is missing: a feature that never changes has "
                "std 0, and the division would give inf"),
        Mistake((inputs - mean) / (data.var(0) + eps), "that divides by the variance: "
                "standardising divides by the standard deviation, its square root"),
        Mistake(inputs - mean, "the values are centred but not scaled"),
    )  # fmt: skip


def _values(output) -> torch.Tensor:
    return output.value if isinstance(output, Variable) else output


def stored_tensors(layer) -> list[torch.Tensor]:
    return [value for value in layer.state_dict().values() if isinstance(value, torch.Tensor)]


@exercise(
    "standardize",
    lesson=11,
    title="a layer whose state moves with model.to(device)",
    hints=(
        "The mean and the standard deviation are state of the layer: computed once from the "
        "training data, never learned, but they must be saved with the model and move with "
        "it. A module knows only the state it has *registered*: model.to(device) moves "
        "exactly that, and state_dict() saves exactly that. A plain tensor attribute is "
        "invisible to both; a parameter is something an optimiser trains.",
        "In __init__: register data.mean(0) and data.std(0) as buffers "
        "(self.register_buffer(name, tensor)), and keep eps. In forward: (x - mean) / "
        "(std + eps), with the buffers as they are now (they are Variables).",
    ),
)
def check_standardize(check: Check, layer_class) -> str:
    """``layer_class(data, eps=1e-5)``: a Module computing (x - mean) / (std + eps) per feature."""
    if not (isinstance(layer_class, type) and issubclass(layer_class, Module)):
        check.fail(
            f"expected a subclass of nn.Module, received {layer_class!r}",
            "define `class Standardize(nn.Module):` with __init__(self, data, eps=1e-5) and "
            "forward(self, x)",
        )
    generator = torch.Generator().manual_seed(12)
    for eps in (1e-5, 1e-2):
        data, inputs = standardize_case(generator)
        mean, std = data.mean(0), data.std(0)
        want = (inputs - mean) / (std + eps)
        check.case = f"training data of shape {tuple(data.shape)}, eps = {eps}"
        layer = check.call(layer_class, data, eps, names=("data",))
        got = check.call(placed(layer), tensor(inputs), names=("x",))
        value = expect_tensor_like(check, "the output", got, "cpu", torch.float64)
        check.expect("the output", want, value, mistakes=standardize_slips(data, inputs, eps))
        if list(layer.parameters()):
            check.fail(
                "the layer has parameters: "
                + ", ".join(name for name, _ in layer.named_parameters()),
                "the mean and std are not learned: as parameters an optimiser given "
                "model.parameters() would hold them; register them as buffers",
            )
        other = layer_class(data * 3 + 1, eps)  # other statistics, until its state is loaded
        check.call(other.load_state_dict, layer.state_dict(), names=("state_dict",))
        if not torch.equal(_values(other(tensor(inputs))), _values(got)):
            check.fail(
                "a layer loaded with your layer's state_dict() gives other outputs",
                "the statistics must be registered state (buffers), or state_dict() cannot "
                "save them and model.to(device) cannot move them",
            )
        for device in PLACES:
            check.case = f"the layer moved with .to({device!r})"
            moved = layer_class(data, eps).to(device)
            out = check.call(placed(moved), tensor(inputs, device=device), names=("x",))
            value = expect_tensor_like(check, "the output", out, device, torch.float64)
            if device != "meta":
                check.expect("the output", want, value.cpu())
            if any(s.device.type != device for s in stored_tensors(moved)):
                check.fail(f"after .to({device!r}) the layer still holds tensors elsewhere")
    where = " and ".join(PLACES)
    return f"right values on the CPU; the statistics are buffers, and move to {where}"
