# EXERCISE softmax_backward
def softmax_backward(y, g):
    """dL/dx for y = softmax(x, dim=-1), given g = dL/dy (both shaped like x)."""
    # dy_i/dx_j = y_i (delta_ij - y_j), so dL/dx_j = y_j (g_j - sum_i g_i y_i), row by row
    return y * (g - (g * y).sum(-1, keepdim=True))
