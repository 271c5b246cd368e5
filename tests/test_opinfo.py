"""Every op minigrad names after torch, on torch's own OpInfo samples.

For each row of ``tests/opinfo_table.py`` and each sample torch's ``op_db``
gives for that op (float64 and float32, contiguous and made non-contiguous by
the sample's own ``noncontiguous()``, CPU and CUDA when present), minigrad's
forward values and every input gradient are compared with torch.autograd's.
A sample passes, or is refused on purpose (an ``UnsupportedArgumentError``
that names the argument), or fails the test. The counts are printed at the
end of the session (see ``tests/opinfo_report.py``).
"""

from __future__ import annotations

import pytest
import torch

# torch's OpInfo database ships in the torch wheel; importing it needs the
# expecttest package, which the dev extra installs. A missing one must fail
# the suite, not skip it.
from torch.testing._internal import common_methods_invocations
from torch.testing._internal.common_utils import noncontiguous_like

import minigrad as mg
from minigrad.errors import UnsupportedArgumentError
from tests.conftest import DEVICES
from tests.opinfo_report import TALLIES, Tally
from tests.opinfo_table import ROWS, OpRow

OPINFOS = {(op.name, op.variant_test_name): op for op in common_methods_invocations.op_db}

# float64 to 1e-10, relative; float32 as torch's own tests compare it (their
# default tolerances for float32, with a little room for a different but
# equally exact formula in minigrad's backward).
TOLERANCES = {torch.float64: (1e-10, 1e-12), torch.float32: (1e-5, 1e-5)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: these tests run thousands of tiny ops, which extra threads only
    slow down (several times over on a shared machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _copy(t: torch.Tensor) -> torch.Tensor:
    """A separate copy of a tensor that keeps it non-contiguous if it was."""
    copy = t.detach().clone()
    return copy if t.is_contiguous() else noncontiguous_like(copy)


def _to_minigrad(obj, ctx: mg.Context, pairs: list):
    """The sample with every tensor that requires grad turned into a Variable.

    ``pairs`` collects (torch leaf, Variable) so the gradients can be compared.
    Other tensors (targets, masks, running statistics) get their own copy,
    since an op like batch_norm updates them in place.
    """
    if isinstance(obj, torch.Tensor):
        if obj.requires_grad:
            variable = ctx.variable(obj, requires_grad=True)
            pairs.append((obj, variable))
            return variable
        return _copy(obj)
    if isinstance(obj, list):
        return [_to_minigrad(o, ctx, pairs) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_to_minigrad(o, ctx, pairs) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_minigrad(v, ctx, pairs) for k, v in obj.items()}
    return obj


def _copy_constants(obj):
    if isinstance(obj, torch.Tensor):
        return obj if obj.requires_grad else _copy(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_copy_constants(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _copy_constants(v) for k, v in obj.items()}
    return obj


def _outputs(out) -> list:
    """The tensors (or Variables) an op returned, flattened, in order."""
    if out is None:
        return []
    if isinstance(out, (list, tuple)):
        return [leaf for o in out for leaf in _outputs(o)]
    return [out]


def _value(x):
    return x.value if isinstance(x, mg.Variable) else x


def _dropout_reference(minigrad_out):
    """torch's dropout on the mask minigrad drew (read back from its output)."""
    kept = _value(minigrad_out) != 0

    def reference(x, p=0.5, training=True, inplace=False):
        if not training or p == 0:
            return x * 1
        return x * 0 if p == 1 else x * kept / (1 - p)

    return reference


def _close(ours, theirs, dtype, what):
    rtol, atol = TOLERANCES[dtype]
    torch.testing.assert_close(
        ours, theirs, rtol=rtol, atol=atol, equal_nan=True, msg=lambda m: f"{what}: {m}"
    )


def _upcast(obj):
    """The sample in float64: the more exact oracle for a float32 run (see check_sample)."""
    if isinstance(obj, torch.Tensor):
        if not obj.is_floating_point():
            return obj
        wide = obj.detach().to(torch.float64)
        return wide.requires_grad_(obj.requires_grad)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_upcast(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _upcast(v) for k, v in obj.items()}
    return obj


def _leaves(obj) -> list:
    """The tensors of a sample that require grad, in the order _to_minigrad meets them."""
    if isinstance(obj, torch.Tensor):
        return [obj] if obj.requires_grad else []
    if isinstance(obj, (list, tuple)):
        return [leaf for o in obj for leaf in _leaves(o)]
    if isinstance(obj, dict):
        return [leaf for v in obj.values() for leaf in _leaves(v)]
    return []


def _run_torch(op, inputs, args, kwargs, upstream_seed: int = 0):
    """torch's outputs, and the gradients torch.autograd gives every leaf for a random
    upstream gradient (None where there is nothing to differentiate)."""
    inputs, args, kwargs = _copy_constants(inputs), _copy_constants(args), _copy_constants(kwargs)
    outputs = _outputs(op(inputs, *args, **kwargs))
    differentiable = [t for t in outputs if t.requires_grad]
    leaves = _leaves((inputs, args, kwargs))
    if not differentiable or not leaves:
        return outputs, None, None
    generator = torch.Generator().manual_seed(upstream_seed)
    upstream = [
        torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t) for t in differentiable
    ]
    grads = torch.autograd.grad(differentiable, leaves, upstream, allow_unused=True)
    return outputs, upstream, [g if g is None else g.detach() for g in grads]


def _compare(mg_out, mg_grads, torch_out, torch_grads, dtype) -> None:
    assert len(mg_out) == len(torch_out), f"{len(mg_out)} outputs, torch gives {len(torch_out)}"
    for i, (ours, theirs) in enumerate(zip(mg_out, torch_out)):
        _close(ours.to(theirs.dtype), theirs.detach(), dtype, f"output {i}")
    for k, (ours, theirs) in enumerate(zip(mg_grads, torch_grads or ())):
        if theirs is None:
            theirs = torch.zeros_like(ours)
        _close(ours.to(theirs.dtype), theirs, dtype, f"gradient of input {k}")


def check_sample(row: OpRow, opinfo, sample, dtype) -> bool:
    """Run one sample through minigrad and torch; raise AssertionError on any difference.
    True when the float64 oracle (below) decided.

    float32 is compared with torch's float32 result; where that differs by
    more than the float32 tolerance, also with torch's float64 result on the
    same values, and the sample passes if minigrad is that close to it (then
    torch's float32 kernel was the one further from the exact answer).
    """
    ctx = mg.Context()
    pairs: list = []
    mg_input = _to_minigrad(sample.input, ctx, pairs)
    mg_args = _to_minigrad(sample.args, ctx, pairs)
    mg_kwargs = _to_minigrad(sample.kwargs, ctx, pairs)
    mg_out = _outputs(row.fn(mg_input, *mg_args, **mg_kwargs))
    torch_op = _dropout_reference(mg_out[0]) if row.random else opinfo.op
    torch_out, upstream, torch_grads = _run_torch(
        torch_op, sample.input, sample.args, sample.kwargs
    )

    assert len(mg_out) == len(torch_out), f"{len(mg_out)} outputs, torch gives {len(torch_out)}"
    values = []
    for i, (ours, theirs) in enumerate(zip(mg_out, torch_out)):
        value = _value(ours)
        assert isinstance(value, torch.Tensor), f"output {i} is a {type(value).__name__}"
        assert value.shape == theirs.shape, f"output {i}: shape {value.shape} != {theirs.shape}"
        assert value.dtype == theirs.dtype, f"output {i}: dtype {value.dtype} != {theirs.dtype}"
        assert value.device == theirs.device, f"output {i}: device {value.device}"
        values.append(value)

    grads = []
    if upstream is not None:
        differentiable = [ours for ours, theirs in zip(mg_out, torch_out) if theirs.requires_grad]
        for i, ours in enumerate(differentiable):
            assert isinstance(ours, mg.Variable), f"output {i} is not a Variable: no gradient"
        if len(differentiable) == 1:
            differentiable[0].backward(upstream[0])
        else:
            total = None
            for ours, u in zip(differentiable, upstream):
                term = (ours * u).sum()
                total = term if total is None else total + term
            total.backward()
        for k, (leaf, variable) in enumerate(pairs):
            grad = variable.grad if variable.grad is not None else torch.zeros_like(leaf)
            assert grad.shape == leaf.shape, f"gradient {k}: shape {grad.shape} != {leaf.shape}"
            grads.append(grad)

    try:
        _compare(values, grads, torch_out, torch_grads, dtype)
    except AssertionError:
        if dtype is not torch.float32 or row.random:
            raise
        wide = _upcast((sample.input, sample.args, sample.kwargs))
        wide_out, _, wide_grads = _run_torch(opinfo.op, *wide)
        _compare(values, grads, wide_out, wide_grads, dtype)
        return True
    return False


def _samples(opinfo, device, dtype, layout):
    samples = opinfo.sample_inputs(device, dtype, requires_grad=opinfo.supports_autograd)
    if layout == "contiguous":
        return list(samples)
    return [s.noncontiguous() for s in samples]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["contiguous", "noncontiguous"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_opinfo_samples_match_torch(row: OpRow, dtype, layout, device):
    opinfo = OPINFOS[(row.name, row.variant)]
    tally = Tally(row.family, row.id, f"{str(dtype)[6:]} {layout} {device}")
    TALLIES.append(tally)
    for sample in _samples(opinfo, device, dtype, layout):
        tally.run += 1
        try:
            tally.float64_oracle += check_sample(row, opinfo, sample, dtype)
        except UnsupportedArgumentError as refusal:
            assert refusal.argument in str(refusal), "a refusal must name its argument"
            tally.refused[refusal.argument] = tally.refused.get(refusal.argument, 0) + 1
        except Exception as error:  # noqa: BLE001 - every failure is listed below
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            tally.failed.append(f"{sample.summary()}: {type(error).__name__}: {first_line}")
        else:
            tally.passed += 1
    assert not tally.failed, f"{len(tally.failed)} of {tally.run} samples fail:\n" + "\n".join(
        tally.failed
    )
