"""The fast paths beside the formulas, and the arguments that pass or are refused on purpose.

ReLU and cross-entropy run torch's fused backward kernels for speed; each
keeps its readable formula as ``reference_backward``, and these tests prove
the two equal, corners included. (Forward values and gradients against
torch.autograd are in test_ops.py and test_opinfo.py.)
"""

from __future__ import annotations

import itertools

import pytest
import torch

import minigrad as mg
from minigrad.errors import UnsupportedArgumentError
from minigrad.ops import CrossEntropy, ReLU
from tests.op_cases import REFUSED_ARGUMENTS


def _run_gate(gate, *inputs):
    ctx = mg.Context()
    variables = [ctx.variable(x, requires_grad=True) for x in inputs]
    return gate(*variables)


def test_relu_fused_backward_equals_the_formula_at_zero_and_nan():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    x[0] = 0.0
    x[1, ::2] = float("nan")
    x[2, 1] = float("inf")
    gate = ReLU()
    _run_gate(gate, x)
    grad = torch.randn(6, 7, generator=generator, dtype=torch.float64)
    (fast,), (readable,) = gate.backward(grad), gate.reference_backward(grad)
    assert torch.equal(fast, readable)
    assert fast[0].eq(0).all()  # no gradient at 0
    assert torch.equal(fast[1, ::2], grad[1, ::2])  # at NaN it passes, as torch


CROSS_ENTROPY_OPTIONS = list(
    itertools.product(
        [None, "weight"],  # class weights
        [-100, 1],  # ignore_index (1 is a real class: some rows are ignored)
        [0.0, 0.3],  # label_smoothing
        ["mean", "sum", "none"],
        [(5, 4), (1100, 4), (2, 4, 400), (4,)],  # (N, C), (N, C, d), (C,); classes first too
    )
)


@pytest.mark.parametrize("weight, ignore_index, smoothing, reduction, shape", CROSS_ENTROPY_OPTIONS)
def test_cross_entropy_fused_backward_equals_the_formula(
    weight, ignore_index, smoothing, reduction, shape
):
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(shape, generator=generator, dtype=torch.float64)
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    target = torch.randint(0, classes, target_shape, generator=generator)
    weights = torch.rand(classes, generator=generator, dtype=torch.float64) if weight else None
    gate = CrossEntropy(target, weights, ignore_index, reduction, smoothing)
    out = _run_gate(gate, scores)
    grad = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    (fast,), (readable,) = gate.backward(grad), gate.reference_backward(grad)
    torch.testing.assert_close(fast, readable, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("rows", [3, 1100])  # scores rows first, then classes first
def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradients_as_torch(rows):
    scores = torch.randn(rows, 4, dtype=torch.float64)
    target = torch.full((rows,), -100)
    x = mg.tensor(scores, requires_grad=True)
    loss = mg.cross_entropy(x, target)
    loss.backward()
    reference = scores.clone().requires_grad_(True)
    expected = torch.nn.functional.cross_entropy(reference, target)
    expected.backward()
    assert loss.value.isnan() and expected.isnan()
    assert torch.equal(x.grad, reference.grad)


def test_to_returns_the_same_variable_when_nothing_changes_as_torch():
    x = mg.tensor(torch.ones(2, 3), requires_grad=True)
    assert x.to(torch.float32) is x
    assert x.to("cpu") is x
    assert x.float() is x
    assert x.to(torch.float32, copy=True) is not x
    assert x.double().dtype == torch.float64


def test_max_with_a_0dim_tensor_is_the_elementwise_maximum_not_a_reduction():
    x = mg.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    out = mg.max(x, torch.tensor(0.75))
    assert out.shape == (2, 2)
    assert out.tolist() == [[1.0, 0.75], [3.0, 0.75]]
    out.sum().backward()
    assert x.grad.tolist() == [[1.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    "op, call, argument", REFUSED_ARGUMENTS, ids=[f"{o}-{a}" for o, _, a in REFUSED_ARGUMENTS]
)
def test_an_argument_left_out_on_purpose_is_refused_by_name(op, call, argument):
    x = mg.tensor(torch.ones(2, 3), requires_grad=True)
    with pytest.raises(UnsupportedArgumentError) as caught:
        call(mg, x)
    assert caught.value.argument == argument and caught.value.op == op
    assert f"{argument}=" in str(caught.value) and "help:" in str(caught.value)
    assert len(x.context) == 0  # nothing was recorded
