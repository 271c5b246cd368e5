# EXERCISE kink_mask
def kink_mask(x, eps):
    """True where the central difference of relu at x, with step eps, straddles the kink."""
    return (x - eps < 0) & (0 < x + eps)
