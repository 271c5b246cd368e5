# EXERCISE adam_step
def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled):
    """One step of Adam or AdamW (torch.optim): (new_param, new_exp_avg, new_exp_avg_sq).

    Return new tensors; leave the ones you are given as they are.
    """
    beta1, beta2 = betas
    if decoupled:  # AdamW: shrink the weight itself, before the step
        param = param * (1 - lr * weight_decay)
    else:  # Adam: L2 decay, part of the gradient
        grad = grad + weight_decay * param
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad**2
    m_hat = exp_avg / (1 - beta1**step)  # undo the pull towards the zeros they started from
    v_hat = exp_avg_sq / (1 - beta2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), exp_avg, exp_avg_sq
