# EXERCISE dead_fraction
def dead_fraction(hidden):
    """The fraction of units (columns of hidden) that are 0 for every example (row)."""
    dead = (hidden <= 0).all(dim=0)  # one bool per unit
    return dead.float().mean().item()
