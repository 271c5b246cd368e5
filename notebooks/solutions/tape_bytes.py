# EXERCISE tape_bytes
def chain_saved_bytes(batch, widths, dtype):
    """The bytes the chain's tape saves beyond its parameters (an int)."""
    element_size = torch.empty((), dtype=dtype).element_size()
    # x and each layer's output, once each: the next Linear keeps the same tensor as the Tanh
    return element_size * batch * sum(widths)
