"""The transformer's and the recurrent cells' modules against torch.nn, weights copied.

For every module: the output, the input's gradient and every parameter's gradient
equal torch.autograd's through the torch.nn module with the same weights, in
float32 and float64.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import nn
from tests.conftest import assert_close

DTYPES = [torch.float32, torch.float64]


def causal_mask(length: int) -> torch.Tensor:
    """torch.nn.MultiheadAttention's convention: True where a query may NOT look."""
    return torch.ones(length, length, dtype=torch.bool).triu(1)


def copy_into_torch(module: nn.Module, reference: torch.nn.Module) -> None:
    state = {name: value.detach().clone() for name, value in module.state_dict().items()}
    reference.load_state_dict(state)


def compare(module, reference, inputs, run, run_torch, dtype, integer_input=False):
    """Forward and backward through both; every gradient by parameter name."""
    copy_into_torch(module, reference)
    generator = torch.Generator().manual_seed(7)
    ours_in = [x if integer_input else mg.tensor(x.clone(), requires_grad=True) for x in inputs]
    theirs_in = [x if integer_input else x.clone().requires_grad_(True) for x in inputs]
    ours = run(module, *ours_in)
    theirs = run_torch(reference, *theirs_in)
    ours, theirs = (
        (ours if isinstance(ours, tuple) else (ours,)),
        (theirs if isinstance(theirs, tuple) else (theirs,)),
    )
    total_ours, total_theirs = None, None
    for a, b in zip(ours, theirs):
        assert tuple(a.shape) == tuple(b.shape)
        assert_close(a.value, b.detach(), dtype, "forward")
        upstream = torch.randn(b.shape, generator=generator, dtype=dtype)
        term_ours, term_theirs = (a * upstream).sum(), (b * upstream).sum()
        total_ours = term_ours if total_ours is None else total_ours + term_ours
        total_theirs = term_theirs if total_theirs is None else total_theirs + term_theirs
    total_ours.backward()
    total_theirs.backward()
    if not integer_input:
        for i, (a, b) in enumerate(zip(ours_in, theirs_in)):
            assert_close(a.grad, b.grad, dtype, f"gradient of input {i}")
    grads = dict(reference.named_parameters())
    names = [name for name, _ in module.named_parameters()]
    assert sorted(names) == sorted(grads), "the same parameters, by name"
    for name, parameter in module.named_parameters():
        assert_close(parameter.grad, grads[name].grad, dtype, f"gradient of {name}")


def data(*shape, dtype, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_embedding_matches_torch(dtype):
    torch.manual_seed(0)
    module = nn.Embedding(11, 5, dtype=dtype)
    reference = torch.nn.Embedding(11, 5, dtype=dtype)
    ids = torch.randint(0, 11, (3, 7), generator=torch.Generator().manual_seed(1))
    compare(module, reference, [ids], lambda m, i: m(i), lambda m, i: m(i), dtype, True)


def test_embedding_padding_row_starts_at_zero_and_never_learns():
    module = nn.Embedding(6, 3, padding_idx=-1)
    assert module.padding_idx == 5 and bool((module.weight.value[5] == 0).all())
    module(torch.tensor([[5, 1, 5]])).sum().backward()
    assert bool((module.weight.grad[5] == 0).all()) and bool((module.weight.grad[1] == 1).all())
    with pytest.raises(mg.HyperParameterError, match="padding_idx"):
        nn.Embedding(6, 3, padding_idx=6)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("affine", ["both", "no_bias", "none"])
def test_layer_norm_matches_torch(dtype, affine):
    options = {"both": {}, "no_bias": {"bias": False}, "none": {"elementwise_affine": False}}
    module = nn.LayerNorm(6, dtype=dtype, **options[affine])
    reference = torch.nn.LayerNorm(6, dtype=dtype, **options[affine])
    with torch.no_grad():  # weights that are not all ones, so a lost weight shows
        for p in reference.parameters():
            p.add_(torch.randn(p.shape, dtype=dtype))
    module.load_state_dict({k: v.detach().clone() for k, v in reference.state_dict().items()})
    compare(module, reference, [data(2, 3, 6, dtype=dtype)], lambda m, x: m(x),
            lambda m, x: m(x), dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_causal_self_attention_matches_torchs_multihead_attention(dtype):
    torch.manual_seed(0)
    module = nn.CausalSelfAttention(8, 2, dtype=dtype)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=dtype)
    x = data(3, 5, 8, dtype=dtype)
    compare(
        module,
        reference,
        [x],
        lambda m, x: m(x),
        lambda m, x: m(x, x, x, attn_mask=causal_mask(5), need_weights=False)[0],
        dtype,
    )


MHA_CALLS = {
    # name: (minigrad call, torch call) on query, key, value of shapes below
    "cross": (
        lambda m, q, k, v: m(q, k, v, need_weights=False)[0],
        lambda m, q, k, v: m(q, k, v, need_weights=False)[0],
    ),
    "weights": (
        lambda m, q, k, v: m(q, k, v),
        lambda m, q, k, v: m(q, k, v),
    ),
    "per_head_weights": (
        lambda m, q, k, v: m(q, k, v, average_attn_weights=False),
        lambda m, q, k, v: m(q, k, v, average_attn_weights=False),
    ),
    "float_mask": (
        lambda m, q, k, v: m(q, k, v, attn_mask=FLOAT_MASK.to(q.dtype), need_weights=False)[0],
        lambda m, q, k, v: m(q, k, v, attn_mask=FLOAT_MASK.to(q.dtype), need_weights=False)[0],
    ),
    "padding": (
        lambda m, q, k, v: m(q, k, v, key_padding_mask=PADDING),
        lambda m, q, k, v: m(q, k, v, key_padding_mask=PADDING),
    ),
}
FLOAT_MASK = torch.randn(4, 6, generator=torch.Generator().manual_seed(3))
PADDING = torch.tensor(
    [[False] * 5 + [True], [False] * 6, [True, False, False, True, False, False]]
)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_first"])
@pytest.mark.parametrize("call", sorted(MHA_CALLS))
def test_multihead_attention_matches_torch(call, batch_first, dtype):
    torch.manual_seed(1)
    module = nn.MultiheadAttention(6, 3, batch_first=batch_first, dtype=dtype)
    reference = torch.nn.MultiheadAttention(6, 3, batch_first=batch_first, dtype=dtype)
    with torch.no_grad():  # torch starts the biases at zero: give them values to check
        module.in_proj_bias.value.normal_()
        module.out_proj.bias.value.normal_()
    shapes = [(3, 4, 6), (3, 6, 6), (3, 6, 6)]
    if not batch_first:
        shapes = [(s[1], s[0], s[2]) for s in shapes]
    inputs = [data(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    ours, theirs = MHA_CALLS[call]
    compare(module, reference, inputs, ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_transformer_block_matches_torchs_pre_norm_encoder_layer(causal, dtype):
    torch.manual_seed(2)
    module = nn.TransformerBlock(8, 2, dim_feedforward=16, causal=causal, dtype=dtype)
    reference = torch.nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0, activation="gelu", batch_first=True,
        norm_first=True, dtype=dtype,
    )  # fmt: skip
    mask = causal_mask(5) if causal else None
    compare(module, reference, [data(2, 5, 8, dtype=dtype)], lambda m, x: m(x),
            lambda m, x: m(x, src_mask=mask, is_causal=causal), dtype)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("state", ["given", "zeros", "unbatched"])
def test_gru_cell_matches_torch(state, dtype):
    torch.manual_seed(3)
    module = nn.GRUCell(4, 6, dtype=dtype)
    reference = torch.nn.GRUCell(4, 6, dtype=dtype)
    if state == "given":
        inputs = [data(3, 4, dtype=dtype), data(3, 6, dtype=dtype, seed=1)]
    else:
        inputs = [data(*((4,) if state == "unbatched" else (3, 4)), dtype=dtype)]
    compare(module, reference, inputs, lambda m, *a: m(*a), lambda m, *a: m(*a), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("state", ["given", "zeros"])
def test_lstm_cell_matches_torch(state, dtype):
    torch.manual_seed(4)
    module = nn.LSTMCell(4, 5, dtype=dtype)
    reference = torch.nn.LSTMCell(4, 5, dtype=dtype)
    x = data(3, 4, dtype=dtype)
    if state == "zeros":
        compare(module, reference, [x], lambda m, x: m(x), lambda m, x: m(x), dtype)
    else:
        h, c = data(3, 5, dtype=dtype, seed=1), data(3, 5, dtype=dtype, seed=2)
        compare(module, reference, [x, h, c], lambda m, x, h, c: m(x, (h, c)),
                lambda m, x, h, c: m(x, (h, c)), dtype)  # fmt: skip


def test_a_gru_unrolled_over_a_sequence_matches_torchs_gru():
    """Ten steps of the cell are torch.nn.GRU's one layer (backprop through time)."""
    torch.manual_seed(5)
    cell = nn.GRUCell(3, 4, dtype=torch.float64)
    reference = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    reference.load_state_dict({f"{k}_l0": v.detach().clone() for k, v in cell.state_dict().items()})
    x = data(2, 10, 3, dtype=torch.float64)
    h = None
    for t in range(10):
        h = cell(x[:, t], h)
    h.sum().backward()
    out, _ = reference(x)
    out[:, -1].sum().backward()
    assert_close(h.value, out[:, -1].detach(), torch.float64, "last state")
    for name, parameter in cell.named_parameters():
        grad = dict(reference.named_parameters())[f"{name}_l0"].grad
        assert_close(parameter.grad, grad, torch.float64, name)


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: nn.MultiheadAttention(10, 3), "divisible by num_heads"),
        (lambda: nn.MultiheadAttention(8, 2, dropout=0.1), "dropout"),
        (lambda: nn.MultiheadAttention(8, 2, kdim=4), "kdim"),
        (lambda: nn.LayerNorm(0), "normalized_shape"),
        (lambda: nn.GRUCell(0, 3), "input_size"),
        (lambda: nn.TransformerBlock(8, 3), "divisible by num_heads"),
        (lambda: nn.Embedding(5, 0), "embedding_dim"),
    ],
)
def test_bad_settings_are_refused_when_the_module_is_built(build, words):
    with pytest.raises(mg.MinigradError, match=words):
        build()


def test_bad_inputs_get_shape_errors():
    with pytest.raises(mg.ShapeError, match="batch"):
        nn.CausalSelfAttention(8, 2)(torch.randn(5, 8))
    with pytest.raises(mg.ShapeError, match=r"\(batch, 4\)"):
        nn.GRUCell(4, 6)(torch.randn(3, 5))
    with pytest.raises(mg.ShapeError, match="hx of shape"):
        nn.GRUCell(4, 6)(torch.randn(3, 4), torch.randn(2, 6))
