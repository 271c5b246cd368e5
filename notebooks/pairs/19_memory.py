# %% [markdown]
# # Lesson 19: memory, and trading time for it
#
# A training step that runs out of memory rarely does so because of the weights. It runs
# out because of the **tape**: every gate keeps, for its backward, some of the tensors it
# saw (lesson 2's "saved" column), and keeps them until backprop walks back to it. At the
# end of the forward pass *every* layer's saved tensors are alive at once. For a deep
# network that is far more than the parameters.
#
# This lesson measures that memory in bytes, node by node, with the tape's own table; then
# it trades time for memory with **gradient checkpointing**: keep only a few activations,
# and compute the rest again during backward. The question at the end is how many
# checkpoints to keep, and the answer is about $\sqrt{n}$ for $n$ layers.

# %%
import time

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import draw_tape

_ = torch.manual_seed(0)

# %% [markdown]
# ## What one node saves, in bytes
#
# The model of this lesson is a chain of layers $h_i = \tanh(h_{i-1} W_i^T + b_i)$ on data
# $x = h_0$, with the loss $\text{mean}(h_n^2)$. `exercises.chain_params` makes the
# weights of a chain of the given widths, named `w1, b1, w2, b2, ...`, and
# `exercises.tanh_layers(h, *params)` runs the layers. Here are three layers on a batch of
# 32, and the tape they leave behind:

# %%
ctx = mg.Context(name="three layers")
params = exercises.chain_params(ctx, widths=(64, 128, 128, 10))
x = ctx.variable(torch.randn(32, 64), name="x")
loss = exercises.chain_loss(exercises.tanh_layers(x, *params))
print(ctx)

# %% [markdown]
# The **bytes** column is what each node's gate saved, in bytes: a tensor of $N$ numbers
# takes $N$ times the element size of its dtype (4 bytes for float32). Read it row by row:
#
# * the first `Linear` keeps only its input `x` (32 x 64 x 4 = 8 KiB): the data needs no
#   gradient, so the weight, needed only for $\partial L/\partial x$, is not kept;
# * every later `Linear` keeps its input *and* its weight (the weight is needed for the
#   gradient of its input, which now needs one);
# * every `Tanh` keeps its output, because $\tanh' = 1 - \tanh^2$ is computed from it;
# * `Mul` keeps its two factors, here the same tensor.
#
# The last line adds them up, counting each tensor once. That matters: the output of a
# `Tanh` and the input the next `Linear` keeps are one tensor in memory, listed on two
# rows. The same tape, drawn with what each node saved:

# %%
draw_tape(loss, show_saved=True)

# %% [markdown]
# `mg.saved_bytes(ctx)` gives that total as a number; `besides=` leaves out tensors that
# live anyway, such as the parameters (a weight a `Linear` keeps costs nothing more than
# the parameter itself). What is left is the memory the tape adds: the **activations**.

# %%
print("the tape holds", mg.saved_bytes(ctx), "bytes;",
      mg.saved_bytes(ctx, besides=params), "of them beyond the parameters")
loss.backward()
print("after backward:", mg.saved_bytes(ctx), "bytes (each node let go once walked)")

# %% [markdown]
# ### Exercise: the bytes a chain saves
#
# Write `chain_saved_bytes(batch, widths, dtype)`: the bytes the tape of this lesson's
# chain saves, beyond its parameters, for a batch of `batch` inputs, layer widths
# `widths = (d_0, d_1, ..., d_n)` and the given dtype. Work it out from the table above,
# without building a tape. The check compares your number with chains of 1 to 5 layers in
# four dtypes, and tells you if you counted a tensor twice, left one out, counted numbers
# instead of bytes, or counted the parameters.

# %% tags=["exercise"]
# EXERCISE tape_bytes
def chain_saved_bytes(batch, widths, dtype):
    """The bytes the chain's tape saves beyond its parameters (an int)."""
    # Your code here: replace the line below.
    raise NotImplementedError("count the bytes the chain's tape keeps")


# %% tags=["check"]
# CHECK tape_bytes
passed = exercises.check_tape_bytes(chain_saved_bytes)

# %% [markdown]
# ## It grows with depth
#
# Every layer adds one activation that stays alive until the backward pass reaches it.
# So the memory of a step grows linearly with the depth, and with the batch size, while
# the parameters of a layer do not depend on the batch at all. For a chain of width 128 on
# a batch of 64 in float32, one activation is 64 x 128 x 4 = 32 KiB, and a layer's
# parameters are (128 x 128 + 128) x 4 = 64.5 KiB; at a batch of 1024 the activation alone
# would be 512 KiB. The tape of 64 such layers:

# %%
WIDTH, BATCH, LAYERS = 128, 64, 64
ACTIVATION = BATCH * WIDTH * 4  # bytes of one (64, 128) float32 activation
deep = mg.Context(name="deep")
deep_params = exercises.chain_params(deep, widths=(WIDTH,) * (LAYERS + 1))
deep_x = torch.randn(BATCH, WIDTH)


def plain(depth=LAYERS):
    """The first `depth` layers of the deep chain, without checkpoints: its loss."""
    h = deep.variable(deep_x)
    return exercises.chain_loss(exercises.tanh_layers(h, *deep_params[: 2 * depth]))


depths = [1, 2, 4, 8, 16, 32, 64]
by_depth = []
for depth in depths:
    loss = plain(depth)
    by_depth.append(mg.saved_bytes(deep, besides=deep_params))
    deep.clear()  # drop this tape: we only measured it
print("activations on the tape:", [b // ACTIVATION for b in by_depth], "for depths", depths)

# %% [markdown]
# One activation for the input, and one per layer: $n + 1$ for $n$ layers.
#
# ## Gradient checkpointing: save less, compute again
#
# The activations inside a run of layers are needed only when the backward pass walks
# through that run. So we could keep only the run's *input*, and when backward arrives,
# run those layers forward again (on a tape of their own), walk back through them, and
# drop them. That is `mg.recompute(segment, h, *parameters)`:
#
# * in forward it runs `segment(h, *parameters)` with recording switched off, and puts
#   one `Recompute` node on the tape, which saves only its inputs;
# * in backward it runs the segment again, walks back through it from the gradient that
#   arrived, and hands each input (the parameters too) its gradient.
#
# The parameters go in as inputs, not read from outside, because the segment is re-run on
# a tape of its own: a Variable from the outer tape inside it is refused with a message.
# Two segments of 32 layers each (the table lists the first few inputs of each):

# %%
h = deep.variable(deep_x)
h = mg.recompute(exercises.tanh_layers, h, *deep_params[:64])
h = mg.recompute(exercises.tanh_layers, h, *deep_params[64:])
loss = exercises.chain_loss(h)
print(deep)
print("activations on the tape:", mg.saved_bytes(deep, besides=deep_params) // ACTIVATION)

# %% [markdown]
# Each `Recompute` row counts all its inputs, the 64 parameter tensors included (they are
# the parameters themselves, not copies: 2.0 MiB that live anyway). Beyond the parameters
# the tape holds three activations instead of 65: the two segments' inputs, and the
# output (which the loss's `Mul` keeps). The gradients are the same numbers: the recomputation repeats the
# same ops on the same values.

# %%
loss.backward()
checkpointed = [p.grad for p in deep_params]
for p in deep_params:
    p.grad = None
plain().backward()
print("largest difference from the plain chain's gradients:",
      max(float((p.grad - g).abs().max()) for p, g in zip(deep_params, checkpointed)))

# %% [markdown]
# A segment that draws random numbers (dropout) would draw *other* numbers the second
# time, and the gradient would belong to another mask. `mg.recompute` therefore saves the
# random generator's state when the segment used it, and puts it back before the
# recomputation (as `torch.utils.checkpoint` does); the `Recompute` node then lists a
# saved `rng_state`.
#
# ### Exercise: checkpoint a chain in segments
#
# Write `checkpointed_forward(segment, x, params, segments)`: run the chain of layers
# whose parameters are `params = [w1, b1, w2, b2, ...]` on `x`, cut into `segments` runs
# of consecutive layers, each run through `mg.recompute(segment, h, ...)`, and return the
# output. `segment(h, *params_of_a_run)` runs the layers it is given
# (`exercises.tanh_layers`). Make the runs as equal in length as possible: 7 layers in 3
# segments are 3 + 2 + 2. The check counts the Recompute nodes on your tape and the layers
# in each, and compares the output and every gradient with the plain chain's.

# %% tags=["exercise"]
# EXERCISE checkpoint_chain
def checkpointed_forward(segment, x, params, segments):
    """The chain's output, run in `segments` checkpointed runs of consecutive layers."""
    # Your code here: replace the line below.
    raise NotImplementedError("run the layers in segments through mg.recompute")


# %% tags=["check"]
# CHECK checkpoint_chain
passed = exercises.check_checkpoint_chain(checkpointed_forward)

# %% [markdown]
# ## How many segments? About √n
#
# With $k$ segments of $L = n/k$ layers, two things cost memory:
#
# * for the whole step, the $k$ segment inputs (and the output);
# * while segment $j$ is recomputed, its $L$ activations, on top of the inputs of
#   segments $1..j$, which are still waiting for their turn.
#
# The worst moment is the last segment, recomputed first, with all $k$ inputs still held:
# about $k + n/k$ activations. Few segments are long (a big $n/k$); many segments leave
# many inputs (a big $k$). The sum is smallest where the two are equal, at
# $k = \sqrt{n}$, where it is $2\sqrt{n}$ instead of $n + 1$.
#
# `mg.peak_saved_bytes(loss, besides=...)` runs the backward pass and returns the most
# bytes the saved tensors held at any moment, the recomputed segments included. We
# measure it for the 64-layer chain cut into $k$ equal segments, for every $k$ that
# divides 64.

# %%
def chain_in_segments(k):
    """The deep chain's loss, its layers in k equal segments (k divides 64; 0: no checkpoints)."""
    if k == 0:
        return plain()
    h = deep.variable(deep_x)
    size = LAYERS // k
    for start in range(0, LAYERS, size):
        h = mg.recompute(exercises.tanh_layers, h, *deep_params[2 * start : 2 * (start + size)])
    return exercises.chain_loss(h)


counts = [1, 2, 4, 8, 16, 32, 64]
peaks = [mg.peak_saved_bytes(chain_in_segments(k), besides=deep_params) for k in counts]
plain_peak = mg.peak_saved_bytes(chain_in_segments(0), besides=deep_params)
best = counts[peaks.index(min(peaks))]
print(f"no checkpoints: {plain_peak // ACTIVATION} activations at the peak "
      f"({plain_peak / 2**20:.2f} MiB)")
print("k segments:    ", {k: p // ACTIVATION for k, p in zip(counts, peaks)})
print(f"smallest peak at k = {best}: {min(peaks) // ACTIVATION} activations "
      f"({min(peaks) / 2**20:.2f} MiB)")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
ks = 2 ** torch.linspace(0, 6, 200)
ax.plot(ks, (ks + LAYERS / ks) * ACTIVATION / 2**20, color="0.6", label="k + n/k activations")
ax.plot(counts, [p / 2**20 for p in peaks], "o", label="measured peak, k segments")
ax.axhline(plain_peak / 2**20, color="C3", linestyle="--", label="no checkpoints")
ax.axvline(LAYERS**0.5, color="0.3", linestyle=":", label="k = √n = 8")
ax.set_xscale("log", base=2)
ax.set_xlabel("number of segments k (n = 64 layers)")
ax.set_ylabel("peak saved bytes (MiB)")
ax.set_title("gradient checkpointing: peak memory against the number of segments")
ax.legend(fontsize=8, loc="upper center")
plt.show()

# %% [markdown]
# The measured peak is exactly $k + n/k$ activations: the $k$ segment inputs ($x$ among
# them) and the $n/k$ activations of the segment being recomputed. At both ends nothing
# is gained: one segment recomputes all 64 layers at once, and 64 segments of one layer
# keep every input, so both peak at 65 activations, as the chain without checkpoints. In
# between, 8 = √64 segments keep the peak at 16 activations, a quarter of the memory.
#
# The price is time: every layer runs forward twice. Measured on this machine (the best
# of five rounds, taken in turns, since a shared CPU is noisy):

# %%
def step_milliseconds(k):
    """Forward, then backward, of the chain in k segments (0: none), in milliseconds."""
    start = time.perf_counter()
    loss = chain_in_segments(k)
    middle = time.perf_counter()
    loss.backward()
    return 1000 * (middle - start), 1000 * (time.perf_counter() - middle)


rounds = [{k: step_milliseconds(k) for k in (0, 2, 8, 32)} for _ in range(5)]
best = {k: min(sum(r[k]) for r in rounds) for k in rounds[0]}
forward_ms = min(r[0][0] for r in rounds)
print(f"no checkpoints: {best[0]:.1f} ms a step, of which the forward pass {forward_ms:.1f} ms")
for k in (2, 8, 32):
    print(f"{k:2} segments:    {best[k]:.1f} ms, {best[k] - best[0]:+.1f} ms")

# %% [markdown]
# A checkpointed step costs about one forward pass more, whatever $k$ is (a little more
# than one: each segment also makes its own tape). For a quarter of the memory that is
# usually a good trade, and the only way to train a model whose activations do not fit.

# %% [markdown]
# **What to remember.**
#
# * A tape keeps what each gate saved until backprop reaches the node: about one
#   activation per layer, all alive at the end of the forward pass. `print(ctx)` shows
#   the bytes of each node and the total, counting a shared tensor once.
# * Activations grow with depth and with the batch size; parameters do not.
# * `mg.recompute(segment, h, *params)` keeps only a segment's inputs and runs it again
#   in backward: the same gradients for one more forward pass.
# * With $n$ layers, about $\sqrt{n}$ segments give the smallest peak, about $2\sqrt{n}$
#   activations instead of $n$.

# %% [markdown]
# **Next:** [Lesson 20: precision](20_precision.ipynb) · **Previous:** [Lesson 18: attention and a small transformer](18_attention_transformer.ipynb) · [Start here](00_start_here.ipynb)
