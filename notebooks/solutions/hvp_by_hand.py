# EXERCISE hvp_by_hand
def hessian_vector_product(f, x, v):
    """H(x) v for a function f of a Variable with one number out, by double backward."""
    x = mg.tensor(x, requires_grad=True)
    (g,) = mg.grad(f(x), x, create_graph=True)
    (hv,) = mg.grad((g * v).sum(), x)
    return hv
