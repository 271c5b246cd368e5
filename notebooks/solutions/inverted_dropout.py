# EXERCISE inverted_dropout
class InvertedDropout(mg.Gate):
    """Training-time dropout: zero each value with probability p, keep the expected value."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        keep = (torch.rand_like(x) >= self.p).to(x.dtype)  # 1 with probability 1 - p
        self.mask = keep / (1 - self.p)  # the expected value of x * mask is x
        return x * self.mask

    def backward(self, grad_output):
        return (grad_output * self.mask,)  # the same mask: dropped values get no gradient
