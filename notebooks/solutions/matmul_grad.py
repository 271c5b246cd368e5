# EXERCISE matmul_grad
def matmul_backward(a, b, g):
    """Gradients of L with respect to a (n, k) and b (k, m), given g = dL/d(a @ b) (n, m)."""
    grad_a = g @ b.T  # (n, m) @ (m, k) -> (n, k), the shape of a
    grad_b = a.T @ g  # (k, n) @ (n, m) -> (k, m), the shape of b
    return grad_a, grad_b
