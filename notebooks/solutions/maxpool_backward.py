# EXERCISE maxpool_backward
def max_pool_backward(x, g, kernel_size, stride):
    """dL/dx for y = max_pool2d(x, kernel_size, stride), given g = dL/dy; ties as torch."""
    n, channels, height, width = x.shape
    k = kernel_size
    cols = torch.nn.functional.unfold(x.reshape(n * channels, 1, height, width), k, stride=stride)
    winners = torch.zeros_like(cols)
    winners.scatter_(1, cols.argmax(1, keepdim=True), 1.0)  # argmax: the first largest
    spread = winners * g.reshape(n * channels, 1, -1)  # each window's gradient at its winner
    dx = torch.nn.functional.fold(spread, (height, width), k, stride=stride)  # overlaps add
    return dx.reshape(x.shape)
