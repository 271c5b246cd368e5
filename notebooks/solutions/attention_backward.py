# EXERCISE attention_backward
def attention_backward(q, k, v, p, g):
    """(dL/dq, dL/dk, dL/dv) for O = P V, P = softmax(q k^T / sqrt(d) + causal mask), g = dL/dO."""
    scale = 1 / math.sqrt(q.shape[-1])
    grad_v = p.transpose(-2, -1) @ g  # O = P V: the values' gradient goes back through P
    grad_p = g @ v.transpose(-2, -1)
    grad_s = p * (grad_p - (grad_p * p).sum(-1, keepdim=True))  # softmax's backward
    grad_q = grad_s @ k * scale  # S = Q K^T * scale
    grad_k = grad_s.transpose(-2, -1) @ q * scale
    return grad_q, grad_k, grad_v
