# EXERCISE spacing
def spacing(w, dtype):
    """The gap from each |w| to the next larger number of dtype (a tensor shaped like w)."""
    info = torch.finfo(dtype)
    exponent = torch.floor(torch.log2(w.double().abs()))  # |w| lies in [2**e, 2**(e + 1))
    lowest = math.log2(info.smallest_normal)  # below it the gaps stop shrinking (subnormals)
    return info.eps * 2.0 ** exponent.clamp(min=lowest)
