"""Fast paths beside the formulas: each fused kernel equals the readable formula it stands for.

A gate that calls one of torch's fused kernels for speed keeps the formula
written out as ``reference_forward`` / ``reference_backward`` (STYLE.md,
habit 14); these tests run both on the same saved state and prove them
equal, in float64 (to 1e-12) and float32, corners included. torch.autograd
checks the fast paths themselves in test_ops.py and test_opinfo.py.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import memory
from minigrad.ops import GELU, BatchNorm, Dropout, Embedding, Index, LayerNorm, Softmax, Tanh

TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-6}
DTYPES = [torch.float64, torch.float32]


def run_gate(gate, *inputs, needs=None):
    """Forward through the gate as on a tape; returns the output tensor."""
    ctx = mg.Context()
    needs = needs or [True] * len(inputs)
    variables = [
        ctx.variable(x, requires_grad=n) if isinstance(x, torch.Tensor) else x
        for x, n in zip(inputs, needs)
    ]
    return gate(*variables).value


def assert_equal_pairs(fast, readable, dtype, what):
    assert len(fast) == len(readable), what
    for position, (a, b) in enumerate(zip(fast, readable)):
        if a is None or b is None:
            assert a is None and b is None, f"{what}: gradient {position}"
            continue
        tol, where = TOLERANCE[dtype], f"{what} {position}"
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m, w=where: f"{w}: {m}")


def randn(*shape, dtype, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_forward_and_backward_equal_the_formulas(dtype, approximate):
    x = randn(7, 9, dtype=dtype) * 3
    x[0, :3] = torch.tensor([0.0, -10.0, 10.0], dtype=dtype)  # the tails and the kink-free 0
    gate = GELU(approximate)
    out = run_gate(gate, x)
    assert_equal_pairs([out], [gate.reference_forward(x)], dtype, "gelu forward")
    grad = randn(7, 9, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "gelu")


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_backward_equals_the_formula(dtype):
    gate = Tanh()
    run_gate(gate, randn(5, 6, dtype=dtype) * 4)
    grad = randn(5, 6, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "tanh")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_backward_equals_the_formula(dtype, dim):
    gate = Softmax(dim)
    x = randn(4, 5, 6, dtype=dtype) * 3
    x[0, 0, :2] = float("-inf")  # a masked score, as causal attention makes
    run_gate(gate, x)
    grad = randn(4, 5, 6, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "softmax")


NORM_INPUTS = [(True, True), (True, False), (False, False)]  # (weight, bias)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, normalized", [((6, 5), (5,)), ((2, 3, 4, 5), (4, 5))])
@pytest.mark.parametrize("weight, bias", NORM_INPUTS)
def test_layer_norm_native_kernels_equal_the_formulas(dtype, shape, normalized, weight, bias):
    x = randn(*shape, dtype=dtype) * 2 + 1
    params = [randn(*normalized, dtype=dtype, seed=s) for s, on in ((2, weight), (3, bias)) if on]
    gate = LayerNorm(normalized)
    out = run_gate(gate, x, *params)
    assert gate.native
    assert_equal_pairs([out], [gate.reference_forward(x, *params)], dtype, "layer_norm forward")
    grad = randn(*shape, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "layer_norm")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 5, 6)])
@pytest.mark.parametrize("weight, bias", NORM_INPUTS)
def test_batch_norm_native_kernels_equal_the_formulas(dtype, shape, weight, bias):
    x = randn(*shape, dtype=dtype) * 2 + 1
    channels = shape[1]
    params = [randn(channels, dtype=dtype, seed=s) for s, on in ((2, weight), (3, bias)) if on]
    stats = [randn(channels, dtype=dtype, seed=4), randn(channels, dtype=dtype, seed=5).abs()]
    copies = [s.clone() for s in stats]
    gate = BatchNorm(*stats, training=True, momentum=0.3)
    out = run_gate(gate, x, *params)
    assert gate.native
    readable = BatchNorm(*copies, training=True, momentum=0.3)
    readable.x, readable.dims, readable.param_shape = x, gate.dims, gate.param_shape
    expected = readable.reference_forward(x, *params)
    assert_equal_pairs([out, *stats], [expected, *copies], dtype, "batch_norm forward, stats")
    grad = randn(*shape, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "batch_norm")


def test_batch_norm_in_evaluation_and_of_mixed_dtypes_takes_the_formula():
    x = randn(6, 4, dtype=torch.float64)
    gate = BatchNorm(torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64),
                     training=False)  # fmt: skip
    run_gate(gate, x)
    assert not gate.native
    gate = BatchNorm(torch.zeros(4), torch.ones(4), training=True)  # float32 statistics
    run_gate(gate, x)
    assert not gate.native


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding_idx, scale", [(None, False), (2, False), (None, True), (0, True)])
def test_embedding_backward_equals_the_formula(dtype, padding_idx, scale):
    indices = torch.tensor([[0, 2, 2], [4, 0, 2]])  # repeats, and rows never read
    gate = Embedding(indices, padding_idx, scale)
    run_gate(gate, randn(6, 3, dtype=dtype))
    grad = randn(2, 3, 3, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "embedding")


KEYS = [
    torch.tensor([[0, 2, 2], [4, 0, 2]]),  # a table lookup, rows repeated
    torch.tensor([1, 1, 3], dtype=torch.int32),
    (torch.tensor([0, 0, 4]), torch.tensor([1, 1, 0])),  # element by element, one repeated
    torch.tensor([True, False, True, True, False, True]),  # a mask
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", KEYS, ids=["table", "int32", "pairs", "mask"])
def test_index_backward_equals_the_formula(dtype, key):
    gate = Index(key)
    out = run_gate(gate, randn(6, 3, dtype=dtype))
    grad = randn(*out.shape, dtype=dtype, seed=1)
    assert_equal_pairs(gate.backward(grad), gate.reference_backward(grad), dtype, "index")


def test_dropout_scales_its_mask_in_place_with_the_same_numbers():
    x = randn(50, 40, dtype=torch.float64)
    torch.manual_seed(3)
    gate = Dropout(0.3)
    out = run_gate(gate, x)
    torch.manual_seed(3)
    keep = torch.empty_like(x).bernoulli_(0.7)
    assert torch.equal(out, x * (keep / 0.7))
    grad = randn(50, 40, dtype=torch.float64, seed=1)
    assert torch.equal(gate.backward(grad)[0], grad * (keep / 0.7))


def heads(x: torch.Tensor) -> torch.Tensor:
    """(B, T, H*D) -> (B, H, T, D), as attention splits its heads: batch dimensions that
    cannot be read as one without a copy."""
    b, t, _ = x.shape
    return x.reshape(b, t, 3, -1).transpose(1, 2)


@pytest.mark.parametrize("transposed", [False, True], ids=["q@v", "q@k^T"])
def test_matmul_of_attention_heads_gives_torchs_numbers(transposed):
    """Operands and a gradient whose batch dimensions cannot be read as one: MatMul's
    backward copies such a gradient once (torch.matmul would in each product); values
    and gradients stay torch's."""
    q, k = randn(2, 5, 12, dtype=torch.float64), randn(2, 5, 12, dtype=torch.float64, seed=1)
    width = 5 if transposed else 4
    grad = randn(2, 5, 3, width, dtype=torch.float64, seed=2).transpose(1, 2)  # heads too
    tq, tk = q.clone().requires_grad_(), k.clone().requires_grad_()
    right = heads(tk).transpose(-2, -1) if transposed else heads(tk)[:, :, :4]
    expected = heads(tq) @ right
    expected.backward(grad)

    ctx = mg.Context()
    mq, mk = ctx.variable(q, requires_grad=True), ctx.variable(k, requires_grad=True)
    other = heads(mk).transpose(-2, -1) if transposed else heads(mk)[:, :, :4]
    out = heads(mq) @ other
    out.backward(grad)
    torch.testing.assert_close(out.value, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(mq.grad, tq.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(mk.grad, tk.grad, rtol=0, atol=1e-12)


def test_a_batch_of_products_keeps_one_folded_copy_of_split_heads_and_not_the_heads():
    """q @ k^T over heads split from one tensor: bmm needs them folded, which copies them.
    The gate keeps those copies (as torch's autograd does), not the views of the tensor
    they were split from: the memory saved is the copies' and no more."""
    ctx = mg.Context()
    qk = ctx.variable(randn(2, 5, 24, dtype=torch.float64), requires_grad=True)
    q, k = qk.split(12, 2)
    out = heads(q) @ heads(k).transpose(-2, -1)
    gate = out.node.gate
    assert memory.storage_key(qk.value) not in memory.gate_storages(gate)
    assert memory.node_saved_bytes(out.node) == 2 * q.value.numel() * 8  # the two copies
    torch.testing.assert_close(gate.a, heads(q.value), rtol=0, atol=0)  # q's numbers
    torch.testing.assert_close(gate.b, heads(k.value).transpose(-2, -1), rtol=0, atol=0)


CROSS_ENTROPY_CASES = [
    {},  # the usual mean over one-hot rows
    {"ignore_index": 1},  # some rows ignored
    {"weight": True, "label_smoothing": 0.1, "reduction": "sum"},
    {"reduction": "none"},
]
CROSS_ENTROPY_IDS = ["plain", "ignored", "weighted", "none"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", CROSS_ENTROPY_CASES, ids=CROSS_ENTROPY_IDS)
@pytest.mark.parametrize("need_g", [False, True])
def test_cross_entropy_backward_on_tensors_equals_its_recorded_formula(dtype, options, need_g):
    """Its backward and jvp on tensors take s = exp(log_probs); recorded they take
    softmax(logits) (a stand-in): the same numbers."""
    from minigrad.ops.cross_entropy_backward import CrossEntropyBackward

    options = dict(options)
    if options.pop("weight", False):
        options["weight"] = randn(4, dtype=dtype, seed=3).abs() + 0.5
    ctx = mg.Context()
    logits = randn(6, 4, dtype=dtype) * 3
    target = torch.tensor([0, 1, 3, 1, 2, 0])
    loss = mg.cross_entropy(ctx.variable(logits, requires_grad=True), target, **options)
    grad_output = randn(tuple(loss.shape), dtype=dtype, seed=1)
    gate = CrossEntropyBackward(loss.node.gate)
    run_gate(gate, grad_output, logits, needs=[need_g, True])
    recorded = object.__new__(CrossEntropyBackward)
    recorded.__dict__.update(gate.__dict__)
    recorded.logits = ctx.variable(logits)  # what create_graph hands it: the softmax is recorded

    def values(sent):
        return [g.value if isinstance(g, mg.Variable) else g for g in sent]

    arriving = randn(6, 4, dtype=dtype, seed=2)
    assert_equal_pairs(
        gate.backward(arriving), values(recorded.backward(arriving)), dtype, "backward"
    )
    moved = [gate.jvp(grad_output, arriving)]
    assert_equal_pairs(moved, values([recorded.jvp(grad_output, arriving)]), dtype, "jvp")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(256, 10), (1100, 4), (2, 4, 400), (600, 2), (32, 10)])
@pytest.mark.parametrize("options", CROSS_ENTROPY_CASES, ids=CROSS_ENTROPY_IDS)
def test_cross_entropy_laid_out_classes_first_gives_torchs_loss_and_gradient(dtype, shape, options):
    """With few classes and many scores, log_softmax and its backward run on a (C, M)
    copy of the scores (classes_first_pays): torch's loss and gradient all the same, and
    rows' gradients laid out as rows. (32, 10) is below the rule's size: rows first."""
    from minigrad.ops.losses import classes_first_pays

    options = dict(options)
    classes = shape[1]
    if options.pop("weight", False):
        options["weight"] = randn(classes, dtype=dtype, seed=3).abs() + 0.5
    scores = randn(*shape, dtype=dtype) * 3
    target_shape = (shape[0],) + shape[2:]
    target = torch.randint(0, classes, target_shape, generator=torch.Generator().manual_seed(4))
    x = mg.tensor(scores, requires_grad=True)
    loss = mg.cross_entropy(x, target, **options)
    assert loss.node.gate.classes_first == (shape != (32, 10))
    assert classes_first_pays(scores.movedim(1, -1).reshape(-1, classes)) == (shape != (32, 10))
    grad_output = randn(tuple(loss.shape), dtype=dtype, seed=1)
    loss.backward(grad_output)
    reference = scores.clone().requires_grad_(True)
    expected = torch.nn.functional.cross_entropy(reference, target, **options)
    expected.backward(grad_output)
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype is torch.float32 else {}
    torch.testing.assert_close(loss.value, expected.detach(), **tolerance)
    torch.testing.assert_close(x.grad, reference.grad, **tolerance)
    if len(shape) == 2:  # (as before: (N, C, d) scores get their gradient moved back, a view)
        assert x.grad.is_contiguous()
