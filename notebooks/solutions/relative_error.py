# EXERCISE relative_error
def relative_error(a, b):
    """The largest |a - b| / max(|a|, |b|) over the elements (0 where both are 0)."""
    size = torch.maximum(a.abs(), b.abs())
    errors = (a - b).abs() / size.clamp_min(torch.finfo(size.dtype).tiny)  # 0 / tiny = 0
    return float(errors.max())
