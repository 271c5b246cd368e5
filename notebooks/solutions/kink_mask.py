# EXERCISE kink_mask
def kink_mask(x, eps):
    """True where the central difference of relu at x has one probe on each side of 0."""
    return (x - eps < 0) & (0 < x + eps)
