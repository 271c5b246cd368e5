# EXERCISE relative_error
def relative_error(a, b):
    """The worst element's relative error between tensors a and b, as a number."""
    size = torch.maximum(a.abs(), b.abs())
    errors = (a - b).abs() / size.clamp_min(torch.finfo(size.dtype).tiny)  # 0 / tiny = 0
    return float(errors.max())
