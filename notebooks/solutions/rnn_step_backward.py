# EXERCISE rnn_step_backward
def rnn_step_backward(x, h_prev, Wx, Wh, h, dh):
    """(dx, dh_prev, dWx, dWh, db) for h = tanh(x @ Wx.T + h_prev @ Wh.T + b), given dh = dL/dh."""
    da = dh * (1 - h**2)  # through the tanh, at its output h
    return da @ Wx, da @ Wh, da.T @ x, da.T @ h_prev, da.sum(0)
