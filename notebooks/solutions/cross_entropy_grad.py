# EXERCISE cross_entropy_grad
def cross_entropy_backward(z, y):
    """dL/dz for L = mean over n of -log softmax(z[n])[y[n]]; z is (N, C), y holds N class indices."""
    n = z.shape[0]
    probs = torch.softmax(z, dim=1)  # torch's softmax shifts by the max too
    probs[torch.arange(n), y] -= 1  # softmax - onehot
    return probs / n
