# EXERCISE conv_unfold
def conv2d_by_unfold(x, w, b, stride, padding):
    """conv2d of x (N, C, H, W) with filters w (O, C, kh, kw) and bias b (O,), by unfold and @."""
    n, _, height, width = x.shape
    out, _, kh, kw = w.shape
    cols = torch.nn.functional.unfold(x, (kh, kw), padding=padding, stride=stride)
    rows = (height + 2 * padding - kh) // stride + 1
    columns = (width + 2 * padding - kw) // stride + 1
    y = w.reshape(out, -1) @ cols  # (N, O, L): one dot product per filter and window
    return y.reshape(n, out, rows, columns) + b.reshape(1, out, 1, 1)
