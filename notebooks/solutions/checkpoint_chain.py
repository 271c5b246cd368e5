# EXERCISE checkpoint_chain
def checkpointed_forward(segment, x, params, segments):
    """The chain's output, run in `segments` checkpointed runs of consecutive layers."""
    layers = len(params) // 2
    size, longer = divmod(layers, segments)  # the first `longer` runs get one layer more
    h, start = x, 0
    for j in range(segments):
        end = start + size + (1 if j < longer else 0)
        h = mg.recompute(segment, h, *params[2 * start : 2 * end])
        start = end
    return h
