"""Attention: bmm (a batch of matrix products, one per head) and scaled dot-product attention.

Self-attention lets every position of a sequence look at the others. With
queries Q (..., L, D), keys K (..., S, D) and values V (..., S, Dv):

    S = Q K^T * scale          (L, S) scores: how well query i matches key j
    P = softmax(S + M) by row  each query's weights over the keys, summing to 1
    O = P V                    each output is a weighted mean of the values

``scale`` is 1/sqrt(D), so that the scores of random unit vectors keep a
variance of about 1 whatever D is (a larger variance saturates the softmax).
The mask M is -inf where a query may not look (a causal model: at later
positions), so those weights are exactly 0.

Backward walks the same three steps in reverse, with G = dL/dO:

    dV = P^T G
    dP = G V^T
    dS = P * (dP - sum_j dP_ij P_ij)     softmax's backward, row by row
    dQ = dS K * scale,   dK = dS^T Q * scale

A masked weight is 0, so its dS is 0 too: the mask needs no backward of its own.
"""

from __future__ import annotations

import math

import torch

from minigrad.errors import DTypeError, ShapeError, UnsupportedArgumentError, format_shape, message
from minigrad.gate import Gate
from minigrad.ops.broadcast import sum_to_shape
from minigrad.ops.linalg import _integer_inputs
from minigrad.ops.tangents import total
from minigrad.variable import Variable

# torch's kernel for softmax's backward, p * (dP - sum_j dP_j p_j) in one pass
_softmax_backward = torch._softmax_backward_data


class BMM(Gate):
    """Y[b] = A[b] @ B[b] for a batch of matrices: A (n, i, k), B (n, k, j), as torch.bmm.

    dL/dA[b] = G[b] @ B[b]^T,   dL/dB[b] = A[b]^T @ G[b]   (no broadcasting: the batch
    sizes must be equal, so nothing is summed).
    """

    def forward(self, a, b):
        need_a, need_b = self.needs_input_grad
        self.a = a if need_b else None
        self.b = b if need_a else None
        return torch.bmm(a, b)

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        grad_a = grad_output @ self.b.transpose(1, 2) if need_a else None
        grad_b = self.a.transpose(1, 2) @ grad_output if need_b else None
        return grad_a, grad_b

    def jvp(self, ta, tb):  # the product rule, matrix by matrix
        return total(
            None if ta is None else torch.bmm(ta, self.b),
            None if tb is None else torch.bmm(self.a, tb),
        )

    def explain(self, tensors, error):
        return _integer_inputs("bmm", tensors) or _bmm_shapes(*tensors)


def _bmm_shapes(a, b) -> ShapeError:
    return ShapeError(
        message(
            "bmm",
            "3-D inputs (n, i, k) and (n, k, j): the same batch size n, and the k of the "
            "first equal to the k of the second",
            f"shapes {format_shape(a.shape)} and {format_shape(b.shape)}",
            "for broadcast batch dimensions (heads, say) use matmul",
        )
    )


class ScaledDotProductAttention(Gate):
    """O = softmax(Q K^T * scale + M) V (see the module docstring for the backward).

    ``causal``: query i sees keys 0..i only (M = -inf above the diagonal).
    ``mask`` (a constant): a boolean one says which keys each query may see
    (True: it may), a float one is added to the scores. A float mask may
    also be the fourth input, a Variable, and then gets the gradient dS.
    Batch dimensions broadcast, as in matmul.

    :meth:`reference_forward` and :meth:`reference_backward` are the formulas,
    step by step; they keep the weights P, (..., L, S) numbers. For the usual
    call of a transformer on the CPU (4-D (B, H, T, D) inputs, at most a
    causal mask) ``forward`` and ``backward`` run torch's fused
    attention kernels instead: the same maths in one pass over each block of
    keys, which keeps only the output and one log-sum-exp per row, and is
    1.5 to 3 times faster at this course's sizes. A test proves the two
    routes equal.
    """

    def __init__(self, scale: float, causal: bool = False, mask=None):
        self.scale, self.causal, self.mask = scale, causal, mask

    def forward(self, q, k, v, added_mask=None):
        # The inputs as given (both routes keep them): the weights are made again from
        # them for the tangents (jvp) and for a recorded backward (create_graph).
        self.query, self.key, self.added_mask = q, k, added_mask
        self.fused = _fusable(q, k, v, self.mask, added_mask)
        if not self.fused:
            return self.reference_forward(q, k, v, added_mask)
        self.q, self.k, self.v = q, k, v
        self.out, self.logsumexp = _flash(q, k, v, 0.0, self.causal, scale=self.scale)
        return self.out

    def backward(self, grad_output):
        if not self.fused:
            return self.reference_backward(grad_output)
        grads = _flash_backward(
            grad_output.contiguous(), self.q, self.k, self.v, self.out, self.logsumexp,
            0.0, self.causal, scale=self.scale,
        )  # fmt: skip
        return tuple(g if need else None for g, need in zip(grads, self.needs_input_grad))

    def reference_forward(self, q, k, v, added_mask=None):
        # sqrt(scale) on each side, as torch's own math does: the same products, rounded alike
        self.q_factor, self.k_factor = _split_scale(self.scale)
        self.q, self.k, self.v = q * self.q_factor, k * self.k_factor, v
        scores = self._masked(torch.matmul(self.q, self.k.transpose(-2, -1)), added_mask)
        if added_mask is not None:
            self.mask_shape = added_mask.shape
        self.weights = torch.softmax(scores, -1)
        return torch.matmul(self.weights, v)

    def reference_backward(self, grad_output):
        need = self.needs_input_grad
        p, g = self.weights, grad_output
        grad_v = sum_to_shape(p.transpose(-2, -1) @ g, self.v.shape) if need[2] else None
        grad_p = g @ self.v.transpose(-2, -1)
        grad_s = _softmax_backward(grad_p, p, -1, p.dtype)  # P * (dP - sum_j dP_j P_j)
        grad_q = grad_k = None
        if need[0]:
            grad_q = sum_to_shape(grad_s @ self.k, self.q.shape) * self.q_factor
        if need[1]:
            grad_k = sum_to_shape(grad_s.transpose(-2, -1) @ self.q, self.k.shape) * self.k_factor
        if len(need) == 3:
            return grad_q, grad_k, grad_v
        grad_mask = sum_to_shape(grad_s, self.mask_shape) if need[3] else None
        return grad_q, grad_k, grad_v, grad_mask

    def weights_from(self, q, k):
        """P = softmax(Q K^T * scale + M), from the inputs, on tensors or Variables."""
        return self._masked((q @ k.transpose(-2, -1)) * self.scale, self.added_mask).softmax(-1)

    def _masked(self, scores, added_mask):
        """S + M: -inf where a query may not look (causal, a boolean mask), plus a float mask."""
        if self.causal:
            length, keys = scores.shape[-2], scores.shape[-1]
            allowed = torch.ones(length, keys, dtype=torch.bool, device=_device(scores)).tril()
            scores = scores.masked_fill(~allowed, float("-inf"))
        if self.mask is not None:
            if self.mask.dtype is torch.bool:
                scores = scores.masked_fill(~self.mask, float("-inf"))
            else:
                scores = scores + self.mask
        return scores if added_mask is None else scores + added_mask

    def recorded_backward(self, grad_output):
        """The backward of the module docstring on Variables (``create_graph``).

        P is made again from Q and K, so that how it moves with them is
        recorded too (the fused route keeps no P, the formula's P is not an input).
        """
        need = self.needs_input_grad
        q, k, v, g = self.query, self.key, self.v, grad_output
        p = self.weights_from(q, k)
        grad_v = sum_to_shape(p.transpose(-2, -1) @ g, v.shape) if need[2] else None
        grad_p = g @ v.transpose(-2, -1)
        grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True))
        grad_q = sum_to_shape(grad_s @ k, q.shape) * self.scale if need[0] else None
        grad_k = (
            sum_to_shape(grad_s.transpose(-2, -1) @ q, k.shape) * self.scale if need[1] else None
        )
        if len(need) == 3:
            return grad_q, grad_k, grad_v
        grad_mask = sum_to_shape(grad_s, self.added_mask.shape) if need[3] else None
        return grad_q, grad_k, grad_v, grad_mask

    def jvp(self, tq, tk, tv, tmask=None):
        """How O moves: dS = (tQ K^T + Q tK^T) * scale + tM, dP = P * (dS - sum_j P_j dS_j),
        dO = dP V + P tV."""
        q, k = self.query, self.key
        p = self.weights_from(q, k)
        moved_scores = total(
            None if tq is None else (tq @ k.transpose(-2, -1)) * self.scale,
            None if tk is None else (q @ tk.transpose(-2, -1)) * self.scale,
            tmask,
        )
        moved = None
        if moved_scores is not None:
            moved_p = p * (moved_scores - (p * moved_scores).sum(-1, keepdim=True))
            moved = moved_p @ self.v
        return total(moved, None if tv is None else p @ tv)

    def explain(self, tensors, error):
        dtype_error = _integer_inputs("scaled_dot_product_attention", tensors)
        if dtype_error is not None:
            return dtype_error
        q, k, v = tensors[:3]
        return ShapeError(
            message(
                "scaled_dot_product_attention",
                "query (..., L, D), key (..., S, D) and value (..., S, Dv) whose batch "
                "dimensions broadcast",
                ", ".join(format_shape(t.shape) for t in (q, k, v)),
                "query and key share their last size D; key and value their length S",
            )
        )


def _device(t):
    return t.value.device if isinstance(t, Variable) else t.device


def _split_scale(scale: float) -> tuple[float, float]:
    """Factors for Q and for K whose product is ``scale`` (sqrt each; a sign goes on Q)."""
    root = math.sqrt(abs(scale))
    return (root if scale >= 0 else -root), root


# torch's fused attention for the CPU: (output, log-sum-exp) forward, then its backward
# (None in a torch too old to have them: then the formulas run)
_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
_flash_backward = getattr(
    torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None
)


def _fusable(q, k, v, mask, added_mask) -> bool:
    """Whether the fused kernels apply: the CPU, 4-D (B, H, T, D) inputs with one (B, H),
    no mask but the causal one (where torch's own dispatch picks the same kernel)."""
    return (
        _flash is not None
        and mask is None
        and added_mask is None
        and q.ndim == k.ndim == v.ndim == 4
        and q.shape[:2] == k.shape[:2] == v.shape[:2]
        and q.stride(-1) == k.stride(-1) == v.stride(-1) == 1  # each row's D numbers adjacent
        and q.is_cpu
        and q.dtype in (torch.float32, torch.float64)
    )


def bmm(input, mat2):
    """A batch of matrix products, as torch.bmm: (n, i, k) @ (n, k, j) -> (n, i, j)."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise _bmm_shapes(input, mat2)
    return BMM()(input, mat2)


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
):
    """softmax(Q K^T * scale + mask) V, as torch.nn.functional.scaled_dot_product_attention.

    ``scale`` defaults to 1/sqrt(D), D the last size of the query. ``is_causal``
    lets query i see keys 0..i only (with L queries and S keys, the top-left
    L x S triangle, as torch). ``attn_mask``: boolean (True where a query may
    look) or float (added to the scores; a Variable gets a gradient).
    """
    if dropout_p:
        raise UnsupportedArgumentError(
            "scaled_dot_product_attention",
            "dropout_p",
            dropout_p,
            "apply mg.dropout to the attention's output (or leave it out: small models "
            "rarely need it)",
        )
    if enable_gqa:
        raise UnsupportedArgumentError(
            "scaled_dot_product_attention",
            "enable_gqa",
            enable_gqa,
            "repeat the key and value heads to the query's number of heads first",
        )
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise ShapeError(
            message(
                "scaled_dot_product_attention",
                "query, key and value with at least 2 dimensions (length, features)",
                ", ".join(format_shape(t.shape) for t in (query, key, value)),
                "a single sequence is (L, D); a batch of heads (B, H, L, D)",
            )
        )
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    gate_mask, inputs = None, [query, key, value]
    if attn_mask is not None:
        is_variable = isinstance(attn_mask, Variable)
        dtype = attn_mask.dtype
        if dtype is not torch.bool and not dtype.is_floating_point:
            raise DTypeError(
                message(
                    "scaled_dot_product_attention",
                    "a boolean or floating attn_mask",
                    f"dtype {dtype}",
                    "True (or 0.0) where a query may look, False (or -inf) where not",
                )
            )
        if is_variable and attn_mask.requires_grad:
            inputs.append(attn_mask)
        else:
            gate_mask = attn_mask.value if is_variable else attn_mask
    return ScaledDotProductAttention(scale, is_causal, gate_mask)(*inputs)
