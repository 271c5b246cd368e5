# EXERCISE warm_up
def slope(x):
    """f'(x) for f(x) = x**3 - 2 * x."""
    return 3 * x**2 - 2
