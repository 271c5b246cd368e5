# %% [markdown]
# # Lesson 17: recurrent networks and backprop through time
#
# Text, speech and time series come as sequences, of any length. A **recurrent network**
# reads one element at a time and carries what it has seen in a hidden state $h$, updated
# at every step with the *same* weights:
#
# $$h_t = \tanh(x_t W_x^\top + h_{t-1} W_h^\top + b).$$
#
# To train it, unroll it: $T$ steps become a chain of $T$ layers that share their weights,
# and backprop runs through that chain from the last step to the first. That is
# **backpropagation through time** (BPTT). Nothing in it is new, but two of its
# consequences shaped the history of sequence models. The weights' gradient is a sum over
# the steps. And the gradient that reaches an early step has passed through every step
# after it, multiplied by one Jacobian per step, so over long sequences it shrinks to
# nothing or blows up. This lesson has you write the step's backward, full BPTT and the
# truncated BPTT used in practice, then measures the vanishing, and shows what a gated cell
# and gradient clipping change.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import TapeViewer

_ = torch.manual_seed(0)

# %% [markdown]
# ## One step, and its backward
#
# A step is a linear layer with two inputs, the new element $x_t$ and the previous state
# $h_{t-1}$, followed by tanh. `exercises.rnn_forward` runs a whole sequence; here are 5
# steps for a batch of 3 sequences with 4 features each and a hidden state of 6.

# %%
T, N, D, H = 5, 3, 4, 6
xs = torch.randn(T, N, D, dtype=torch.float64)
h0 = torch.zeros(N, H, dtype=torch.float64)
p = exercises.rnn_params(D, H, seed=0)
hs = exercises.rnn_forward(xs, h0, p["Wx"], p["Wh"], p["b"])
print("xs", tuple(xs.shape), "-> hs", tuple(hs.shape), "(h_1 to h_T)")

# %% [markdown]
# ### Exercise: one step's backward
#
# Write `rnn_step_backward(x, h_prev, Wx, Wh, h, dh)` for one step
# `h = tanh(x @ Wx.T + h_prev @ Wh.T + b)`: given the step's output `h` and `dh`
# $= \partial L/\partial h$, return `(dx, dh_prev, dWx, dWh, db)`. The bias itself is not
# needed (its gradient does not depend on it); use the output `h` for tanh's derivative.

# %% tags=["exercise"]
# EXERCISE rnn_step_backward
def rnn_step_backward(x, h_prev, Wx, Wh, h, dh):
    """(dx, dh_prev, dWx, dWh, db) for h = tanh(x @ Wx.T + h_prev @ Wh.T + b), given dh = dL/dh."""
    # Your code here: replace the line below.
    raise NotImplementedError("write rnn_step_backward")


# %% tags=["check"]
# CHECK rnn_step_backward
passed = exercises.check_rnn_step_backward(rnn_step_backward)

# %% [markdown]
# ## The unrolled network
#
# Here are three steps recorded on a minigrad tape, with a loss at every step (the sum of
# each $h_t$ weighted by some fixed numbers). Step through its backward and watch two things.
# `Wh` and `Wx` appear at every step, and each step's share of their gradient is *added* to
# the ones before: a weight used $T$ times gets a sum of $T$ gradients. And each $h_t$ is
# used twice, by the loss at step $t$ and by step $t + 1$, so its gradient is complete only
# once step $t + 1$ has sent its part back.

# %%
tape = mg.Context(keep_outputs=True, name="unrolled")
leaves = {k: tape.variable(v, requires_grad=True, name=k) for k, v in p.items()}
h = tape.variable(h0, name="h0")
weights = torch.randn(3, N, H, dtype=torch.float64)
losses = []
for t in range(3):
    h = exercises.rnn_cell(tape.variable(xs[t], name=f"x{t + 1}"), h, leaves)
    h.name = f"h{t + 1}"
    losses.append((h * weights[t]).sum())
loss = losses[0] + losses[1] + losses[2]
TapeViewer(loss)

# %% [markdown]
# ### Exercise: backprop through time
#
# Write `bptt(xs, h0, Wx, Wh, hs, dhs)` for the whole sequence: `hs` holds the states
# $h_1 \dots h_T$ that forward computed, shape `(T, N, H)`, and `dhs[t]` is the gradient
# that the loss sends to $h_{t+1}$ *directly* (from the prediction made at that step; zero
# where there is none). Return `(dWx, dWh, db, dh0)`. Your `rnn_step_backward` from above
# is the step to use.

# %% tags=["exercise"]
# EXERCISE bptt
def bptt(xs, h0, Wx, Wh, hs, dhs):
    """(dWx, dWh, db, dh0) for the RNN run over xs (T, N, D); hs holds h_1..h_T, dhs each dL/dh_t."""
    # Your code here: replace the line below.
    raise NotImplementedError("write bptt")


# %% tags=["check"]
# CHECK bptt
passed = exercises.check_bptt(bptt)

# %% [markdown]
# Once yours passes, the cell below runs it on the 5-step sequence above and compares with
# minigrad's tape, which recorded the same steps and walked them back itself.

# %%
if passed:
    dhs = torch.randn(T, N, H, dtype=torch.float64)
    tape = mg.Context(name="five steps")
    leaves = {k: tape.variable(v, requires_grad=True, name=k) for k, v in p.items()}
    start = tape.variable(h0, requires_grad=True, name="h0")
    h, total = start, 0
    for t in range(T):
        h = exercises.rnn_cell(tape.variable(xs[t]), h, leaves)
        total = total + (h * dhs[t]).sum()
    total.backward()
    mine = bptt(xs, h0, p["Wx"], p["Wh"], hs, dhs)
    tapes = [leaves["Wx"].grad, leaves["Wh"].grad, leaves["b"].grad, start.grad]
    for name, a, b in zip(["dWx", "dWh", "db", "dh0"], mine, tapes):
        print(f"{name}: the same as minigrad's tape: {torch.allclose(a, b)}")

# %% [markdown]
# ## Vanishing and exploding, step by step
#
# How much of the loss's gradient reaches a step far back? Going back one step multiplies
# the gradient by the step's Jacobian, $\mathrm{diag}(1 - h_t^2)\,W_h$. Over many steps
# that is a product of many matrices: if they shrink vectors, the gradient falls
# geometrically; if they stretch them, it grows. Below, a loss that reads only the last of
# 60 states, and the size of its gradient at every earlier state, for three cells:
#
# * the plain tanh cell with ordinary weights ($W_h$ of scale $1/\sqrt H$);
# * the same cell with weights three times larger;
# * a **gated** cell, a GRU (`exercises.gru_cell`, built from minigrad's ops here; it
#   computes what `torch.nn.GRUCell` computes). Its update gate $z$ mixes the old state
#   into the new one, $h_t = (1 - z)\,n + z\,h_{t-1}$: where $z$ is near 1 the state is
#   copied forward, and its gradient flows back through the copy without passing a tanh or
#   a weight matrix. We start its gate's bias at 3, so that $z \approx 0.95$: "remember by
#   default", the same idea as the forget-gate bias of 1 commonly given to LSTMs.

# %%
steps, width = 60, 32
generator = torch.Generator().manual_seed(17)  # the same sequence, whatever ran before
sequence = torch.randn(steps, 8, D, dtype=torch.float64, generator=generator)
start = torch.randn(8, width, dtype=torch.float64, generator=generator) * 0.5
cells = {
    "tanh, Wh x1 (vanishing)": (exercises.rnn_cell, exercises.rnn_params(D, width, 1.0)),
    "tanh, Wh x3 (exploding)": (exercises.rnn_cell, exercises.rnn_params(D, width, 3.0)),
    "gated (GRU, remember bias 3)": (exercises.gru_cell, exercises.gru_params(D, width, 3.0)),
}
through_time = {}
for label, (cell, params) in cells.items():
    through_time[label], _ = exercises.gradient_through_time(cell, params, sequence, start)

fig, ax = plt.subplots(figsize=(6.5, 3.5))
for label, norms in through_time.items():
    ax.semilogy(range(1, steps + 1), norms, label=label)
ax.set_xlabel("time step t (the loss reads h_60)")
ax.set_ylabel("||dL/dh_t||")
ax.set_title("How much gradient reaches each step")
ax.legend(fontsize=8)
plt.show()
for label, norms in through_time.items():
    print(f"{label:<30} ||dL/dh_60|| = {norms[-1]:8.3g}   ||dL/dh_1|| = {norms[0]:8.3g}")

# %% [markdown]
# The plain cell's gradient at the first step is smaller than at the last by more than ten
# orders of magnitude: whatever the first inputs were, the weights cannot learn from how
# they affected the end. With large weights it grows instead, by more than five orders of
# magnitude. The gated cell keeps most of it across all 60 steps. That is why LSTMs and GRUs replaced plain RNNs for
# long sequences, and why transformers (the next lessons) connect every step to every other
# directly.
#
# ## Clipping: a cap on the size, not a cure
#
# An exploding gradient makes one training step throw the weights far away. The usual
# guard is **clipping by norm**: if the norm of all the parameters' gradients together is
# above a threshold, scale them all down to it. Here the threshold is 100, above what the
# healthy network's gradient needs. Each step's share of $dW_h$ shows what clipping does
# (`exercises.step_shares` computes them: the terms your `bptt` adds up):

# %%
last_only = torch.zeros(steps, 8, width, dtype=torch.float64)
last_only[-1] = 1.0  # the loss reads h_60 only, as above
fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2), sharex=True)
for ax, (label, gain) in zip(axes, [("exploding", 3.0), ("vanishing", 1.0)]):
    params = exercises.rnn_params(D, width, gain)
    shares = torch.tensor(exercises.step_shares(sequence, start, params, last_only))
    _, grads = exercises.gradient_through_time(exercises.rnn_cell, params, sequence, start)
    total = torch.sqrt(sum(g.pow(2).sum() for g in grads.values()))
    scale = min(1.0, 100.0 / float(total))  # clip the whole gradient to norm 100
    ax.semilogy(range(1, steps + 1), shares, label="as computed")
    ax.semilogy(range(1, steps + 1), shares * scale, "--", label="clipped to norm 100")
    truncated = exercises.step_shares(sequence, start, params, last_only, k=20)
    ax.semilogy(range(1, steps + 1), truncated, ":", lw=2.5, label="truncated, k = 20")
    ax.set_title(f"{label}: total norm {float(total):.2g}", fontsize=10)
    ax.set_xlabel("time step t")
axes[0].set_ylabel("||step t's share of dL/dWh||")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Clipping multiplies every share by the same factor: the update has a bounded size, its
# direction is unchanged, and the steps far back still dominate it (left). Where the
# gradient vanishes (right) its total is below the threshold, clipping does nothing, and
# the early steps' shares stay negligible. So clipping makes exploding gradients safe; only a
# different cell (or architecture) brings vanished gradients back.
#
# The dotted curves show the third tool. **Truncated BPTT** lets no gradient travel more
# than the chunk it started in: with chunks of 20 steps, the steps before 41 get nothing
# from a loss at step 60 (the curve stops: zero has no place on a log scale). Truncation
# bounds the memory and the time of backward, and the explosion with them, at the price of
# any dependency longer than a chunk.
#
# ## Truncated BPTT
#
# In practice a long sequence is cut into chunks of $k$ steps. Forward runs through all of
# them, each chunk starting from the state the previous one ended in; but the state is
# *detached* at each chunk's start (in torch, `h = h.detach()`), so backward never crosses
# from a chunk into the one before. Chunks start at step 0, so the last one may be shorter.
#
# ### Exercise: truncated backprop through time
#
# Write `truncated_bptt(xs, h0, Wx, Wh, hs, dhs, k)`: the same four gradients as `bptt`,
# for chunks of `k` steps (steps $0 \dots k-1$, then $k \dots 2k-1$, and so on, counting
# steps from 0). `dh0` is the gradient that reaches `h0` from the first chunk.

# %% tags=["exercise"]
# EXERCISE truncated_bptt
def truncated_bptt(xs, h0, Wx, Wh, hs, dhs, k):
    """bptt's four gradients when no gradient crosses into the chunk before: chunks of k steps."""
    # Your code here: replace the line below.
    raise NotImplementedError("write truncated_bptt")


# %% tags=["check"]
# CHECK truncated_bptt
passed = exercises.check_truncated_bptt(truncated_bptt)

# %% [markdown]
# **What to remember.** An RNN's backward is its step's backward, walked from the last step
# to the first: each $h_t$ receives its own loss's gradient plus what step $t + 1$ sends
# back through $W_h$, and the shared weights add up one share per step. The gradient
# reaching step $t$ has passed one Jacobian per later step, so it vanishes or explodes
# geometrically; a gate that copies the state forward keeps it alive, clipping bounds its
# size (not its shape across time), and truncation cuts it off after $k$ steps on purpose.

# %% [markdown]
# **Next:** [Lesson 19: memory](19_memory.ipynb) · **Previous:** [Lesson 16: convolution backward](16_convolution_backward.ipynb) · [Start here](00_start_here.ipynb)
