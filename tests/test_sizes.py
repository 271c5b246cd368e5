"""The helpers that hand torch a shape as separate sizes give what the one-argument call gives.

0-dim shapes included (no sizes to spread), on tensors and, where a recorded
formula uses them, on Variables.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.sizes import expanded, permuted, reshaped, viewed, zeros_like_shape

SHAPES = [((), ()), ((6,), (2, 3)), ((2, 3), (3, 2)), ((1,), ()), ((), (1, 1))]


@pytest.mark.parametrize("start, shape", SHAPES)
def test_reshaped_and_viewed_match_torch(start, shape):
    t = torch.arange(torch.Size(start).numel(), dtype=torch.float64).reshape(start)
    for helper, method in ((reshaped, torch.Tensor.reshape), (viewed, torch.Tensor.view)):
        for given in (shape, torch.Size(shape), list(shape)):
            out = helper(t, given)
            assert out.shape == method(t, shape).shape == torch.Size(shape)
            assert torch.equal(out, method(t, shape))
        v = helper(mg.tensor(t, requires_grad=True), torch.Size(shape))
        assert isinstance(v, mg.Variable) and v.shape == torch.Size(shape)


@pytest.mark.parametrize("start, shape", [((), ()), ((3,), (2, 3)), ((1, 3), (4, 3)), ((), (2,))])
def test_expanded_and_zeros_match_torch(start, shape):
    t = torch.randn(start, dtype=torch.float64)
    assert torch.equal(expanded(t, torch.Size(shape)), t.expand(shape))
    assert expanded(mg.tensor(t, requires_grad=True), shape).shape == torch.Size(shape)
    zeros = zeros_like_shape(t, torch.Size(shape))
    assert zeros.shape == torch.Size(shape) and zeros.dtype == t.dtype and not zeros.any()


@pytest.mark.parametrize("dims", [(), (0,), (1, 0), (2, 0, 1)])
def test_permuted_matches_torch(dims):
    t = torch.randn((2, 3, 4)[: len(dims)], dtype=torch.float64)
    assert torch.equal(permuted(t, dims), t.permute(dims))
    assert permuted(mg.tensor(t, requires_grad=True), dims).shape == t.permute(dims).shape


@pytest.mark.parametrize(
    "grad_shape, shape",
    [((4, 3), (3,)), ((2, 4, 3), (3,)), ((2, 4, 3), (4, 3)), ((4, 3), (4, 1)), ((4, 3), ()),
     ((2, 4, 3), (1, 3)), ((4, 3), (1, 1))],
)  # fmt: skip
def test_sum_to_shape_equals_summing_by_hand(grad_shape, shape):
    """Every route (new leading dimensions only, stretched ones, both) gives the sum that
    torch's autograd gives for a broadcast input of ``shape``."""
    grad = torch.randn(grad_shape, dtype=torch.float64)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    (x.expand(grad_shape) * 1.0).backward(grad)
    out = sum_to_shape(grad, torch.Size(shape))
    assert out.shape == torch.Size(shape)
    torch.testing.assert_close(out, x.grad, rtol=1e-12, atol=1e-12)
