# EXERCISE sum_to_shape
def sum_to_shape(grad, shape):
    """Sum grad (the gradient of a broadcast result) back to the input's shape."""
    extra = grad.ndim - len(shape)  # dimensions broadcasting added on the left
    if extra:
        grad = grad.sum(dim=tuple(range(extra)))
    stretched = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(dim=stretched, keepdim=True)  # size-1 dimensions stay
    return grad
