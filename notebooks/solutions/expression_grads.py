# EXERCISE expression_grads
def expression_grads(a, b, c, d):
    """(dL/da, dL/db, dL/dc, dL/dd) for L = (a + b) * (c - d)."""
    p, q = a + b, c - d  # forward: L = p * q
    dL_dp, dL_dq = q, p  # a product sends each factor the other one
    return dL_dp * 1, dL_dp * 1, dL_dq * 1, dL_dq * -1
