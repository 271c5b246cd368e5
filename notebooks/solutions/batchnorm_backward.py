# EXERCISE batchnorm_backward
def batchnorm_backward(x, gamma, g, eps):
    """(dx, dgamma, dbeta) for y = gamma * x_hat + beta, x_hat normalised over the batch (dim 0)."""
    mean = x.mean(0, keepdim=True)
    var = ((x - mean) ** 2).mean(0, keepdim=True)  # biased, as forward uses it
    inv_std = 1 / torch.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    g_hat = g * gamma
    dx = inv_std * (g_hat - g_hat.mean(0) - x_hat * (g_hat * x_hat).mean(0))
    return dx, (g * x_hat).sum(0), g.sum(0)
