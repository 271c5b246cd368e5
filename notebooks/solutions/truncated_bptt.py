# EXERCISE truncated_bptt
def truncated_bptt(xs, h0, Wx, Wh, hs, dhs, k):
    """bptt's four gradients when no gradient crosses into the chunk before: chunks of k steps."""
    dWx = dWh = db = 0  # sums over the steps (0 + a tensor is that tensor)
    carried = torch.zeros_like(h0)
    for t in reversed(range(len(xs))):
        h_prev = h0 if t == 0 else hs[t - 1]
        _, back, gx, gh, gb = rnn_step_backward(xs[t], h_prev, Wx, Wh, hs[t], dhs[t] + carried)
        dWx, dWh, db = dWx + gx, dWh + gh, db + gb
        carried = torch.zeros_like(h0) if t % k == 0 and t > 0 else back  # a chunk starts at t
    return dWx, dWh, db, carried
