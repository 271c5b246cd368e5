# EXERCISE running_stats
def running_stats(running_mean, running_var, x, momentum):
    """The running (mean, var) per channel (dim 1) after one training batch x; new tensors."""
    dims = [d for d in range(x.ndim) if d != 1]  # every dimension but the channels
    batch_mean = x.mean(dims)
    batch_var = x.var(dims, correction=1)  # Bessel: divided by n - 1
    new_mean = (1 - momentum) * running_mean + momentum * batch_mean
    new_var = (1 - momentum) * running_var + momentum * batch_var
    return new_mean, new_var
