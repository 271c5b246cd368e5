"""Every op, forward and every input gradient, against torch.autograd.

The table lives in ``op_cases.py``; hypothesis adds random shapes (with
broadcasting) for the element-wise ops and reductions.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from tests.conftest import DEVICES, assert_close
from tests.op_cases import ARGUMENT_CASES, CASES, CORNER_CASES, TORCH, OpCase
from tests.test_gradcheck import gradcheck_weights

ALL_CASES = CASES + ARGUMENT_CASES + CORNER_CASES

DTYPES = [torch.float32, torch.float64]


def random_input(shape, domain: str, dtype, device, generator) -> torch.Tensor:
    if domain == "positive":
        x = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
    elif domain == "away":
        magnitude = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
        sign = torch.randint(0, 2, shape, generator=generator) * 2 - 1
        x = magnitude * sign
    elif domain == "unit":
        x = torch.rand(shape, generator=generator, dtype=torch.float64)
    elif domain in ("ties", "natural"):
        low = -1 if domain == "ties" else 0
        x = torch.randint(low, low + 3, shape, generator=generator).to(torch.float64)
    elif domain == "nan":
        x = torch.randn(shape, generator=generator, dtype=torch.float64)
        x[torch.rand(shape, generator=generator) < 0.25] = float("nan")
    else:
        x = torch.randn(shape, generator=generator, dtype=torch.float64)
    return x.to(dtype=dtype, device=device)


def make_inputs(case: OpCase, dtype, device, seed: int = 0, shapes=None):
    generator = torch.Generator().manual_seed(seed)
    shapes = shapes or case.shapes
    domains = case.domain if isinstance(case.domain, list) else [case.domain] * len(shapes)
    values = [random_input(s, d, dtype, device, generator) for s, d in zip(shapes, domains)]
    constants = ()
    if case.constants is not None:
        made = case.constants(generator)
        constants = made if isinstance(made, tuple) else (made,)
        constants = tuple(
            c.to(device) if c.is_floating_point() is False else c.to(dtype=dtype, device=device)
            for c in constants
        )
    return constants, values


def run_minigrad(case, constants, values, upstream_seed=1):
    ctx = mg.Context()
    inputs = [ctx.variable(v.clone(), requires_grad=True) for v in values]
    constants = tuple(c.clone() for c in constants)  # batch_norm updates running stats
    out = case.fn(mg, *constants, *inputs)
    upstream = torch.randn(
        out.shape, generator=torch.Generator().manual_seed(upstream_seed), dtype=torch.float64
    ).to(out.value)
    out.backward(upstream)
    return out.value, [x.grad for x in inputs], upstream


def run_torch(case, constants, values, upstream):
    inputs = [v.clone().requires_grad_(True) for v in values]
    constants = tuple(c.clone() for c in constants)
    out = case.fn(TORCH, *constants, *inputs)
    out.backward(upstream)
    return out, [x.grad for x in inputs]


def compare(case, dtype, device, seed=0, shapes=None):
    constants, values = make_inputs(case, dtype, device, seed, shapes)
    mg_out, mg_grads, upstream = run_minigrad(case, constants, values)
    torch_out, torch_grads = run_torch(case, constants, values, upstream)
    assert mg_out.shape == torch_out.shape, f"{case.name}: output shape"
    assert mg_out.dtype == torch_out.dtype, f"{case.name}: output dtype"
    nan = case.equal_nan
    assert_close(mg_out, torch_out, dtype, f"{case.name} forward", nan)
    for i, (ours, theirs) in enumerate(zip(mg_grads, torch_grads)):
        expected = theirs if theirs is not None else torch.zeros_like(values[i])
        assert ours is not None, f"{case.name}: no gradient for input {i}"
        assert ours.shape == values[i].shape, f"{case.name}: gradient shape of input {i}"
        assert_close(ours, expected, dtype, f"{case.name} gradient of input {i}", nan)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_op_matches_torch(case, dtype, device):
    compare(case, dtype, device)


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.gradcheck], ids=lambda c: c.name)
def test_gradcheck_passes_for_every_op(case):
    constants, values = make_inputs(case, torch.float64, "cpu", seed=3)
    ctx = mg.Context()
    inputs = [ctx.variable(v, requires_grad=True) for v in values]
    report = mg.gradcheck(lambda *xs: case.fn(mg, *constants, *xs), *inputs)
    assert report, str(report)
    # torch.autograd judges both of gradcheck's sides: the gradient of sum(f * r).
    leaves = [v.clone().requires_grad_(True) for v in values]
    out = case.fn(TORCH, *tuple(c.clone() for c in constants), *leaves)
    out.backward(gradcheck_weights(out.shape))
    for i, leaf in enumerate(leaves):
        expected = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
        assert_close(report.analytic[i], expected, torch.float64, f"{case.name} tape, input {i}")
        torch.testing.assert_close(
            report.numeric[i], expected, rtol=1e-6, atol=1e-7,
            msg=lambda m, i=i: f"{case.name} finite differences, input {i}: {m}",
        )  # fmt: skip


# -- random shapes with hypothesis ------------------------------------------

BINARY = {
    "add": lambda ns, a, b: a + b,
    "sub": lambda ns, a, b: a - b,
    "mul": lambda ns, a, b: a * b,
    "div": lambda ns, a, b: a / b,
    "maximum": lambda ns, a, b: ns.maximum(a, b),
    "minimum": lambda ns, a, b: ns.minimum(a, b),
    "pow": lambda ns, a, b: a**b,
}
UNARY = {
    "exp": (lambda ns, a: ns.exp(a), "real"),
    "log": (lambda ns, a: ns.log(a), "positive"),
    "sqrt": (lambda ns, a: ns.sqrt(a), "positive"),
    "tanh": (lambda ns, a: ns.tanh(a), "real"),
    "sigmoid": (lambda ns, a: ns.sigmoid(a), "real"),
    "relu": (lambda ns, a: ns.relu(a), "away"),
    "abs": (lambda ns, a: ns.abs(a), "away"),
    "neg": (lambda ns, a: -a, "real"),
    "square": (lambda ns, a: a * a, "real"),
}


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(sorted(BINARY)),
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_binary_ops_broadcast_like_torch(name, shapes, dtype, seed):
    domain = "positive" if name == "pow" else ("away" if name == "div" else "real")
    case = OpCase(name, BINARY[name], list(shapes.input_shapes), domain=domain)
    compare(case, dtype, "cpu", seed)


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(sorted(UNARY)),
    shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
    dtype=st.sampled_from(DTYPES),
    seed=st.integers(0, 2**16),
)
def test_unary_ops_on_random_shapes(name, shape, dtype, seed):
    fn, domain = UNARY[name]
    compare(OpCase(name, fn, [shape], domain=domain), dtype, "cpu", seed)


@settings(max_examples=20, deadline=None)
@given(
    data=st.data(),
    reduction=st.sampled_from(["sum", "mean", "var", "max", "logsumexp", "softmax"]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=2, max_side=4),
    keepdim=st.booleans(),
    dtype=st.sampled_from(DTYPES),
)
def test_reductions_over_random_dims(data, reduction, shape, keepdim, dtype):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    fns = {
        "sum": lambda ns, a: a.sum(dim, keepdim=keepdim),
        "mean": lambda ns, a: a.mean(dim, keepdim=keepdim),
        "var": lambda ns, a: a.var(dim, keepdim=keepdim),
        "max": lambda ns, a: ns.max(a, dim, keepdim=keepdim).values,
        "logsumexp": lambda ns, a: ns.logsumexp(a, dim, keepdim=keepdim),
        "softmax": lambda ns, a: ns.softmax(a, dim),
    }
    compare(OpCase(reduction, fns[reduction], [shape]), dtype, "cpu", data.draw(st.integers(0, 99)))


def test_dropout_gradient_uses_the_same_mask_as_forward():
    torch.manual_seed(0)
    x = mg.tensor(torch.randn(200, dtype=torch.float64), requires_grad=True)
    out = mg.dropout(x, 0.3, training=True)
    kept = out.value != 0
    assert 0.55 < kept.double().mean() < 0.85  # about 70% kept
    upstream = torch.randn(200, dtype=torch.float64)
    out.backward(upstream)
    # Oracle: torch.autograd through the same mask as a constant.
    reference = x.value.detach().clone().requires_grad_(True)
    (reference * kept / 0.7).backward(upstream)
    assert_close(out.value, reference.detach() * kept / 0.7, torch.float64, "dropout forward")
    assert_close(x.grad, reference.grad, torch.float64, "dropout gradient")
    assert mg.dropout(x, 0.3, training=False) is x


def test_to_dtype_is_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True, dtype=torch.float64)
    y = (x.float() * 3).sum()
    y.backward()
    assert x.grad.dtype == torch.float64
    assert x.grad.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 2, 1), (2, 1, 0)])
def test_max_pool_routes_tied_gradients_like_torch(kernel, stride, padding):
    """ReLU outputs are full of tied zeros: the winner of each window must be torch's."""
    generator = torch.Generator().manual_seed(0)
    values = torch.relu(torch.randn(3, 4, 9, 9, generator=generator, dtype=torch.float64))
    values[:, :, :4, :4] = 0.0  # whole windows of ties
    x = mg.tensor(values, requires_grad=True)
    out = mg.max_pool2d(x, kernel, stride, padding)
    upstream = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    out.backward(upstream)
    reference = values.clone().requires_grad_(True)
    expected = F.max_pool2d(reference, kernel, stride, padding)
    expected.backward(upstream)
    assert torch.equal(out.value, expected.detach())
    assert torch.equal(x.grad, reference.grad)


# -- ties: which elements of a max or min get the gradient -------------------------------
TIED = [
    [1.0, 3.0, 3.0, 2.0],
    [[2.0, 1.0, 5.0], [1.0, 5.0, 1.0]],
    [[4.0, 4.0], [4.0, 4.0]],  # every element ties
]


@pytest.mark.parametrize("values", TIED, ids=["vector", "matrix", "all_equal"])
@pytest.mark.parametrize("largest", [True, False], ids=["max", "min"])
def test_a_full_max_or_min_splits_the_gradient_over_ties_like_torch(values, largest):
    """torch.max(x), torch.amax(x) (and min, amin) share the gradient equally among ties."""
    upstream = torch.tensor(0.7, dtype=torch.float64)
    x = mg.tensor(torch.tensor(values, dtype=torch.float64), requires_grad=True)
    (mg.max(x) if largest else mg.min(x)).backward(upstream)
    for reduce in (torch.max, torch.amax) if largest else (torch.min, torch.amin):
        reference = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        reduce(reference).backward(upstream)
        assert torch.equal(x.grad, reference.grad), reduce.__name__
    # and by hand: 0.7 / (number of winners) at each winner
    winners = x.value == (x.value.max() if largest else x.value.min())
    share = upstream / int(winners.sum())
    assert torch.equal(x.grad, torch.where(winners, share, torch.zeros_like(share)))
    if values == TIED[0]:
        assert x.grad.tolist() == ([0.0, 0.7 / 2, 0.7 / 2, 0.0] if largest else [0.7, 0, 0, 0])


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("largest", [True, False], ids=["max", "min"])
def test_max_or_min_along_a_dim_sends_a_tie_to_torchs_index(largest, dim, keepdim):
    """torch.max(x, dim) gives the whole gradient to the index it reports, ties or not."""
    # every row and every column has a tie for its max or its min, most for both
    values = torch.tensor(
        [[5.0, 5.0, 1.0, 1.0], [5.0, 0.0, 1.0, 0.0], [5.0, 5.0, 5.0, 5.0], [2.0, 5.0, 1.0, 5.0]],
        dtype=torch.float64,
    )
    x = mg.tensor(values, requires_grad=True)
    ours = (mg.max if largest else mg.min)(x, dim, keepdim=keepdim)
    reference = values.clone().requires_grad_(True)
    theirs = (torch.max if largest else torch.min)(reference, dim, keepdim=keepdim)
    upstream = torch.randn(theirs.values.shape, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(dim + 3))  # fmt: skip
    ours.values.backward(upstream)
    theirs.values.backward(upstream)
    assert torch.equal(ours.indices, theirs.indices)
    assert torch.equal(ours.values.value, theirs.values.detach())
    assert torch.equal(x.grad, reference.grad)
    assert int((x.grad != 0).sum()) == upstream.numel()  # one element per slice, not a share
