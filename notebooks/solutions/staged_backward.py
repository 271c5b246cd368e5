# EXERCISE staged_backward
def backward_by_hand(f, p, y):
    """{stage: dloss/dstage} for the MLP's stages, filled in backward order.

    The order: logprobs, total, counts, shifted, logits, h, W2, b2, hpre, W1, b1.
    """
    n = f["x"].shape[0]
    g = {}
    g["logprobs"] = torch.zeros_like(f["logprobs"])
    g["logprobs"][torch.arange(n), y] = -1 / n
    g["total"] = -g["logprobs"].sum(1, keepdim=True) / f["total"]
    g["counts"] = g["total"] * torch.ones_like(f["counts"])
    g["shifted"] = g["logprobs"] + f["counts"] * g["counts"]  # two uses: add both
    g["logits"] = g["shifted"]
    g["h"] = g["logits"] @ p["W2"]
    g["W2"] = g["logits"].T @ f["h"]
    g["b2"] = g["logits"].sum(0)
    g["hpre"] = g["h"] * (1 - f["h"] ** 2)
    g["W1"] = g["hpre"].T @ f["x"]
    g["b1"] = g["hpre"].sum(0)
    return g
