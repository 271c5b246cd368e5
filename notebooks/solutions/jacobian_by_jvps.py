# EXERCISE jacobian_by_jvps
def jacobian_forward(f, x):
    """The Jacobian of f at x, shape (m, n) for n inputs and m outputs, from n jvps."""
    columns = []
    for e in torch.eye(x.numel(), dtype=x.dtype):
        _, column = mg.jvp(f, (x,), (e.reshape(x.shape),))
        columns.append(column.reshape(-1))
    return torch.stack(columns, dim=1)
