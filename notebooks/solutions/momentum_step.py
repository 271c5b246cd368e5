# EXERCISE momentum_step
def momentum_step(param, grad, velocity, lr, momentum, nesterov):
    """One step of SGD with momentum (torch.optim.SGD, dampening 0): (new_param, new_velocity).

    Return new tensors; leave the ones you are given as they are.
    """
    velocity = momentum * velocity + grad  # the running sum, now holding this step's gradient
    direction = grad + momentum * velocity if nesterov else velocity
    return param - lr * direction, velocity
