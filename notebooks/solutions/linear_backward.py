# EXERCISE linear_backward
def linear_backward(x, w, b, g):
    """(dL/dx, dL/dw, dL/db) for y = x @ w.T + b, given g = dL/dy of shape (n, o)."""
    grad_x = g @ w  # (n, o) @ (o, i) -> (n, i)
    grad_w = g.T @ x  # (o, n) @ (n, i) -> (o, i): summed over the batch
    grad_b = g.sum(dim=0)  # b was added to every row
    return grad_x, grad_w, grad_b
