# EXERCISE conv_backward
def conv2d_backward(x, w, g, stride, padding):
    """(dx, dw, db) for y = conv2d(x, w, b, stride, padding), given g = dL/dy (N, O, OH, OW)."""
    n, _, height, width = x.shape
    out, _, kh, kw = w.shape
    cols = torch.nn.functional.unfold(x, (kh, kw), padding=padding, stride=stride)
    g_flat = g.reshape(n, out, -1)  # (N, O, L), like the forward's product
    dw = (g_flat @ cols.transpose(1, 2)).sum(0).reshape(w.shape)
    dcols = w.reshape(out, -1).T @ g_flat
    dx = torch.nn.functional.fold(dcols, (height, width), (kh, kw), padding=padding, stride=stride)
    return dx, dw, g.sum((0, 2, 3))
