# EXERCISE central_difference
def central_difference(f, x, eps):
    """Estimate f'(x) from f(x + eps) and f(x - eps)."""
    return (f(x + eps) - f(x - eps)) / (2 * eps)
