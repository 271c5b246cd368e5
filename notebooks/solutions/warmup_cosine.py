# EXERCISE warmup_cosine
def warmup_cosine(epoch, base_lr, warmup, epochs, start_factor, lr_min):
    """The learning rate used during `epoch` (counted from 0): a warm-up, then a cosine."""
    if epoch < warmup:  # a straight line from start_factor * base_lr that reaches base_lr at `warmup`
        return base_lr * (start_factor + (1 - start_factor) * epoch / warmup)
    progress = (epoch - warmup) / (epochs - warmup)  # 0 where the cosine begins
    return lr_min + (base_lr - lr_min) * (1 + math.cos(math.pi * progress)) / 2
