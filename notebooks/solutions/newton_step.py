# EXERCISE newton_step
def newton_step(f, x):
    """One step of Newton's method on f (a function of a Variable, one number out) from x."""
    p = mg.tensor(x, requires_grad=True)
    (g,) = mg.grad(f(p), p)
    h = mg.hessian(f, x)
    return x - torch.linalg.solve(h, g)
