# EXERCISE master_step
def master_step(weight, master, grad, lr):
    """One SGD step with a float32 master copy: (the new 16-bit weight, the new master)."""
    master = master - lr * grad.float()  # in float32, where a small step survives
    return master.to(weight.dtype), master
