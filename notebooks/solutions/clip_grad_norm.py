# EXERCISE clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    """Scale every .grad by one factor so that their total norm is at most max_norm.

    Returns the total norm before clipping, as torch.nn.utils.clip_grad_norm_ does.
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    total = sum((g**2).sum() for g in grads) ** 0.5  # the norm of all of them as one vector
    factor = max_norm / (total + 1e-6)
    if factor < 1:  # clipping only ever shrinks
        for g in grads:
            g.mul_(factor)
    return float(total)
