# EXERCISE conv_fans
def fans(shape):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    kernel = math.prod(shape[2:])  # 1 for a linear weight
    return shape[1] * kernel, shape[0] * kernel
