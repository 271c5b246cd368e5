# EXERCISE one_hot
def one_hot(labels, num_classes, dtype):
    """(N,) integer labels -> (N, num_classes) of 0s and 1s, on the labels' device, in dtype."""
    result = torch.zeros(len(labels), num_classes, dtype=dtype, device=labels.device)
    return result.scatter_(1, labels[:, None], 1.0)  # a 1 at (i, labels[i]) in every row i
