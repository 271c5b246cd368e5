# EXERCISE bptt
def bptt(xs, h0, Wx, Wh, hs, dhs):
    """(dWx, dWh, db, dh0) for the RNN run over xs (T, N, D); hs holds h_1..h_T, dhs each dL/dh_t."""
    dWx = dWh = db = 0  # sums over the steps (0 + a tensor is that tensor)
    carried = torch.zeros_like(h0)  # what the future sends back to h_t
    for t in reversed(range(len(xs))):
        h_prev = h0 if t == 0 else hs[t - 1]
        _, carried, gx, gh, gb = rnn_step_backward(xs[t], h_prev, Wx, Wh, hs[t], dhs[t] + carried)
        dWx, dWh, db = dWx + gx, dWh + gh, db + gb  # every step shares the weights: add
    return dWx, dWh, db, carried
