"""The transformer's ops beyond the op table: the fused attention route equals the formulas,
and bad arguments get clear, typed errors."""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad.ops.attention import ScaledDotProductAttention


def _inputs(shape_q, shape_kv, seed=0, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=generator, dtype=dtype) for s in (shape_q, shape_kv, shape_kv)]


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("shapes", [((2, 3, 5, 4), (2, 3, 5, 4)), ((2, 2, 3, 4), (2, 2, 6, 4))])
def test_fused_attention_equals_the_reference_formulas(causal, shapes):
    q, k, v = _inputs(*shapes)
    upstream = torch.randn(shapes[0], generator=torch.Generator().manual_seed(9), dtype=q.dtype)
    fused = ScaledDotProductAttention(0.5, causal)
    fused.needs_input_grad = (True, True, True)
    out = fused.forward(q, k, v)
    assert fused.fused, "the usual (B, H, T, D) call should take the fused route"
    reference = ScaledDotProductAttention(0.5, causal)
    reference.needs_input_grad = (True, True, True)
    expected = reference.reference_forward(q, k, v)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(fused.backward(upstream), reference.reference_backward(upstream)):
        torch.testing.assert_close(ours, theirs, rtol=1e-11, atol=1e-12)


def test_attention_through_heads_matches_torch_in_float32():
    """The model's own layout: heads split out of (B, T, C) by a transpose (not contiguous)."""
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(3, 7, 3, 8, generator=generator).transpose(1, 2)  # (B, H, T, D) view
    leaves = [x.clone().requires_grad_(True) for _ in range(3)]
    expected = torch.nn.functional.scaled_dot_product_attention(*leaves, is_causal=True)
    upstream = torch.randn(expected.shape, generator=generator)
    expected.backward(upstream)
    ctx = mg.Context()
    variables = [ctx.variable(x.clone().transpose(1, 2).transpose(1, 2)) for _ in range(3)]
    for v in variables:
        v.requires_grad = True
    out = mg.scaled_dot_product_attention(*variables, is_causal=True)
    out.backward(upstream)
    torch.testing.assert_close(out.value, expected.detach(), rtol=1e-5, atol=1e-6)
    for v, leaf in zip(variables, leaves):
        torch.testing.assert_close(v.grad, leaf.grad, rtol=1e-5, atol=1e-5)


def test_causal_attention_never_looks_ahead():
    q, k, v = _inputs((1, 1, 6, 4), (1, 1, 6, 4), seed=2)
    ctx = mg.Context()
    variables = [ctx.variable(t, requires_grad=True) for t in (q, k, v)]
    out = mg.scaled_dot_product_attention(*variables, is_causal=True)
    out[0, 0, 2].sum().backward()  # the output at position 2 ...
    assert torch.all(variables[1].grad[0, 0, 3:] == 0)  # ... owes nothing to keys 3, 4, 5
    assert torch.all(variables[2].grad[0, 0, 3:] == 0)
    assert torch.all(variables[1].grad[0, 0, :3].abs().sum(-1) > 0)


def _like(x, *shape):
    """Another Variable on x's tape (made without recording anything)."""
    return x.context.variable(torch.randn(shape), requires_grad=True)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda x: mg.masked_fill(x, torch.ones(2, 3), 0.0), mg.DTypeError, "boolean mask"),
        (
            lambda x: mg.masked_fill(x, torch.ones(2, 3, dtype=torch.bool), torch.zeros(3)),
            mg.ArgumentError,
            "0-dim",
        ),
        (lambda x: mg.tril(_like(x, 3)), mg.ArgumentError, "at least 2 dimensions"),
        (lambda x: mg.triu(x, 1.5), mg.ArgumentError, "diagonal to be an int"),
        (lambda x: mg.gather(x, 1, torch.zeros(2, 1)), mg.DTypeError, "integer indices"),
        (lambda x: mg.gather(x, 1, torch.tensor([[3], [0]])), mg.OutOfRangeError, "[0, 3)"),
        (lambda x: mg.gather(x, 2, torch.tensor([[0]])), mg.OutOfRangeError, "dim"),
        (lambda x: mg.index_select(x, 0, torch.tensor([[0]])), mg.ShapeError, "1-D"),
        (lambda x: mg.bmm(x, x), mg.ShapeError, "3-D inputs"),
        (
            lambda x: mg.bmm(_like(x, 1, 2, 3), _like(x, 1, 2, 3)),
            mg.ShapeError,
            "the k of the first",
        ),
        (
            lambda x: mg.scaled_dot_product_attention(x, _like(x, 3, 2), x),
            mg.ShapeError,
            "share their last size D",
        ),
        (
            lambda x: mg.scaled_dot_product_attention(x, x, x, attn_mask=torch.zeros(2, 2).int()),
            mg.DTypeError,
            "boolean or floating attn_mask",
        ),
    ],
    ids=[
        "float-mask",
        "tensor-value",
        "tril-1d",
        "float-diagonal",
        "float-index",
        "index-too-large",
        "bad-dim",
        "2d-index-select",
        "bmm-2d",
        "bmm-inner",
        "attention-shapes",
        "int-attn-mask",
    ],
)
def test_bad_arguments_get_clear_errors_and_record_nothing(call, error, words):
    ctx = mg.Context()
    x = ctx.variable(torch.randn(2, 3), requires_grad=True)
    with pytest.raises(error) as raised:
        call(x)
    assert words in str(raised.value)
    assert "help:" in str(raised.value)
    assert len(ctx) == 0
