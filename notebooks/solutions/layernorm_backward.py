# EXERCISE layernorm_backward
def layernorm_backward(x, gamma, g, eps):
    """(dx, dgamma, dbeta) for y = gamma * x_hat + beta, x_hat normalised over the last dim."""
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    inv_std = 1 / torch.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    g_hat = g * gamma  # gamma varies along the last dim: it stays inside the means
    dx = inv_std * (
        g_hat - g_hat.mean(-1, keepdim=True) - x_hat * (g_hat * x_hat).mean(-1, keepdim=True)
    )
    lead = tuple(range(x.ndim - 1))
    return dx, (g * x_hat).sum(lead), g.sum(lead)
