# %% [markdown]
# # Lesson 12: debugging training
#
# When training fails it rarely crashes. The loss turns into `nan`, or stops falling, or
# some layers quietly stop learning. This lesson produces each classic failure on purpose,
# shows the symptom, and the tool that finds the cause:
#
# | symptom | likely cause | tool |
# |---|---|---|
# | loss is `nan` | a `log`, `sqrt` or division at 0, an `exp` that overflowed | `mg.detect_anomaly()` |
# | part of a layer never changes | dead ReLUs: units that output 0 for every input | activation counts |
# | early layers do not learn | vanishing gradients | `GradientFlow`, `mg.stats.gradient_stats` |
# | loss jumps to huge values | exploding gradients | the same; a smaller init or lr; clipping the gradient norm |

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn
from widgets import GradientFlow
from widgets.lesson_plots import integer_ticks

_ = torch.manual_seed(0)
x_all, y_all = mg.data.load_digits()
batch_x, batch_y = x_all[:256], y_all[:256]

# %% [markdown]
# ## NaN: find the op that made it
#
# An entropy-like term $\sum_i p_i \log p_i$ is fine until some $p_i$ is exactly 0: then
# $\log 0 = -\infty$ and $0 \cdot (-\infty) = \text{nan}$. The loss is `nan`, and so is the
# gradient of that $p_i$ (the other entries' gradients stay finite: each term's gradient
# involves only its own $p_i$). Nothing says where it started:

# %%
p = mg.tensor([0.5, 0.5, 0.0], requires_grad=True, name="p")
loss = (p * p.log()).sum()
loss.backward()
print("loss:", loss.item(), "| p.grad:", p.grad.tolist())

# %% [markdown]
# ### Exercise: find the first non-finite node
#
# Once a value is `nan` or `inf`, everything computed from it is too, so the last value
# says only *that* something broke. Where it broke is the first node on the tape whose
# output is not finite. Write `first_nonfinite(ctx)`: it gets the tape of a broken model
# whose Context keeps every node's outputs (`Context(keep_outputs=True)`, as lesson 2's
# viewer uses), and returns that node's index. `exercises.broken_model(k)` builds one of
# the check's four broken models; here is the first:

# %%
ctx, broken_loss = exercises.broken_model(0)
print(ctx)
print("loss:", broken_loss.item())

# %% tags=["exercise"]
# EXERCISE first_nonfinite
def first_nonfinite(ctx):
    """The index of the first node on ctx whose output holds a NaN or an Inf."""
    # Your code here.
    raise NotImplementedError("write first_nonfinite")


# %% tags=["check"]
# CHECK first_nonfinite
passed = exercises.check_first_nonfinite(first_nonfinite)

# %% [markdown]
# `mg.detect_anomaly()` does this while the model runs: it checks every gate's output in forward and every gradient in
# backward, and stops at the *first* value that is not finite, naming the gate, its place
# on the tape and the shapes. It costs a pass over each tensor, so it is off by default:
# switch it on while you hunt.

# %%
p = mg.tensor([0.5, 0.5, 0.0], requires_grad=True, name="p")
try:
    with mg.detect_anomaly():
        loss = (p * p.log()).sum()
except mg.AnomalyError as error:
    print(error)

# %% [markdown]
# The first non-finite value came out of `Log`, not out of the `Mul` where the `nan`
# appeared. The usual fixes: clamp before the log (`p.clamp(min=1e-12).log()`), or use a
# fused, stable op (`mg.log_softmax`, `mg.cross_entropy`) instead of composing
# `log(softmax(x))` yourself.

# %%
p = mg.tensor([0.5, 0.5, 0.0], requires_grad=True, name="p")
with mg.detect_anomaly():
    loss = (p * p.clamp(min=1e-12).log()).sum()
    loss.backward()
print("loss:", loss.item(), "| p.grad:", p.grad.tolist())

# %% [markdown]
# ## Dead ReLUs
#
# A ReLU unit whose input is negative for *every* example outputs 0 and, worse, passes 0
# gradient back (lesson 4): its weights never change again. A bad initialisation or one
# too-large step can kill many units at once.
#
# ### Exercise: the dead fraction
#
# Write `dead_fraction(hidden)`: given a batch of ReLU outputs, shape `(examples, units)`,
# the fraction of units that are never active on it (0 for every example). The check
# plants dead units in batches from 1 example to 128, and some units that fire for a
# single example only, very weakly.

# %% tags=["exercise"]
# EXERCISE dead_fraction
def dead_fraction(hidden):
    """The fraction of units (columns of hidden) that are 0 for every example (row)."""
    # Your code here.
    raise NotImplementedError("write dead_fraction")


# %% tags=["check"]
# CHECK dead_fraction
passed = exercises.check_dead_fraction(dead_fraction)

# %% [markdown]
# Now we kill units deliberately with a bias of -1.5, count, over a batch, how many are never
# active, and look at the gradient rows of their weights.

# %%
def dead_fraction_and_grads(biases, activation):
    torch.manual_seed(0)
    layer = nn.Linear(64, 128, biases=biases)
    head = nn.Linear(128, 10)
    hidden = activation(layer(batch_x))
    mg.cross_entropy(head(hidden), batch_y).backward()
    never_active = (hidden.value <= 0).all(dim=0)
    row_grad = layer.weight.grad.abs().sum(dim=1)
    return float(never_active.float().mean()), row_grad


healthy, healthy_rows = dead_fraction_and_grads(nn.constant_init(0.0), mg.relu)
dead, dead_rows = dead_fraction_and_grads(nn.constant_init(-1.5), mg.relu)
leaky, leaky_rows = dead_fraction_and_grads(nn.constant_init(-1.5), mg.leaky_relu)
print(f"bias 0:  {healthy:.0%} of units never active")
print(f"bias -1.5: {dead:.0%} of units never active")
print(f"bias -1.5 with leaky ReLU: {leaky:.0%} 'inactive', but every row still gets gradient")

fig, ax = plt.subplots(figsize=(7, 3))
ax.semilogy(healthy_rows + 1e-12, ".", label="ReLU, bias 0")
ax.semilogy(dead_rows + 1e-12, ".", label="ReLU, bias -1.5")
ax.semilogy(leaky_rows + 1e-12, ".", label="leaky ReLU, bias -1.5")
ax.set_xlabel("hidden unit")
ax.set_ylabel("sum |dL/dW| of its row")
integer_ticks(ax)
ax.set_title("Dead units get exactly zero gradient (drawn at 1e-12)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Fixes: He initialisation with zero biases (lesson 6), a smaller learning rate or a
# warm-up (lesson 8), or an activation with a small slope below zero (leaky ReLU, GELU)
# so that no unit is ever completely cut off.
#
# ## Vanishing and exploding gradients
#
# Backprop multiplies one local derivative per layer. If each factor is below 1 the product
# shrinks geometrically with depth (vanishing); above 1, it grows (exploding). Sigmoid's
# derivative is at most 1/4, so a deep sigmoid network vanishes almost by construction; a
# ReLU network with weights that are too large explodes. We build three 12-layer networks,
# run one backward pass each, and read each layer's mean |gradient| with
# `mg.stats.gradient_stats`.

# %%
def deep_net(init, activation, depth=12, width=64):
    torch.manual_seed(0)
    layers = [nn.Linear(64, width, weights=init), activation()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width, weights=init), activation()]
    layers.append(nn.Linear(width, 10, weights=init))
    return nn.Sequential(*layers)


def weight_grads(model):
    model.zero_grad()
    mg.cross_entropy(model(batch_x), batch_y).backward()
    return [r["mean_abs"] for r in mg.stats.gradient_stats(model) if r["name"].endswith("weight")]


nets = {
    "sigmoid, Glorot (vanishing)": deep_net(nn.glorot_init(), nn.Sigmoid),
    "ReLU, He (healthy)": deep_net(nn.he_init(), nn.ReLU),
    "ReLU, N(0, 0.5²) (exploding)": deep_net(nn.normal_init(0.0, 0.5), nn.ReLU),
}
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for label, net in nets.items():
    ax.semilogy(range(1, 13), weight_grads(net), "o-", ms=4, label=label)
ax.set_xlabel("layer (1 = nearest the input)")
ax.set_ylabel("mean |dL/dW|")
integer_ticks(ax)
ax.legend(fontsize=8)
ax.set_title("One backward pass through 12 layers")
plt.show()

# %% [markdown]
# The sigmoid network's first layer receives a gradient seven orders of magnitude smaller
# than its last: the early layers barely learn. The oversized ReLU network has the opposite
# problem: every layer's gradient is some $10^5$ times the healthy network's (the
# activations grow layer by layer going forward and the gradients grow going back, so
# their product is about as large everywhere), so large that one step would throw the
# weights far away. `GradientFlow` flags both automatically (thresholds on mean |g| and
# max |g|); here it records one step of the exploding network:

# %%
exploding = nets["ReLU, N(0, 0.5²) (exploding)"]
flow = GradientFlow(exploding)
weight_grads(exploding)
rows = flow.record(exploding)
print("flagged:", {r["name"]: r["flags"] for r in rows if r["flags"]})
flow

# %% [markdown]
# ## Exercise: clip the gradient norm
#
# When gradients explode, a common safety net is to **clip** them before the step: if the
# gradients are too large taken together, shrink them, without changing the direction of
# the step. Write `clip_grad_norm(parameters, max_norm)` to do what
# `torch.nn.utils.clip_grad_norm_` does: change each parameter's `.grad` (parameters whose
# `.grad` is `None` take no part) and return the total norm the gradients had before. The
# check compares with torch's function on the same gradients.

# %% tags=["exercise"]
# EXERCISE clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    """Scale every .grad by one factor so that their total norm is at most max_norm.

    Returns the total norm before clipping, as torch.nn.utils.clip_grad_norm_ does.
    """
    # Your code here.
    raise NotImplementedError("write clip_grad_norm")


# %% tags=["check"]
# CHECK clip_grad_norm
passed = exercises.check_clip_grad_norm(clip_grad_norm)

# %% [markdown]
# With your clipping, the exploding network's step would be tame (this cell runs once the
# check passes):

# %%
if passed:
    weight_grads(exploding)
    before = clip_grad_norm(list(exploding.parameters()), max_norm=1.0)
    after = sum(float((p.grad**2).sum()) for p in exploding.parameters()) ** 0.5
    print(f"total gradient norm: {before:.3g} before clipping, {after:.3g} after")
else:
    print("(runs once clip_grad_norm passes its check)")

# %% [markdown]
# Clipping hides the symptom; it does not cure the cause (here, the initialisation). It is
# most useful against the rare huge gradient of an otherwise healthy run.
#
# **What to remember.** Turn on `detect_anomaly()` to find the first NaN; count units that
# are never active to find dead ReLUs; plot the gradient per layer to see vanishing or
# exploding gradients, and clip the gradient norm as a safety net. The fixes are the
# lessons before: good initialisation (6), sensible learning rates and warm-up (7, 8),
# normalisation (10), stable fused ops (9).

# %% [markdown]
# **Next:** [Lesson 13: data-parallel training, on several processes](13_data_parallel.ipynb) · **Previous:** [Lesson 11: the same code on a GPU](11_on_a_gpu.ipynb) · [Start here](00_start_here.ipynb)
