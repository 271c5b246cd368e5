# %% [markdown]
# # Lesson 15: normalisation backward
#
# Lesson 10's CNN had batch norm; every transformer has layer norm. Both do the same thing
# to a group of $n$ numbers: subtract their mean, divide by their standard deviation, then
# scale and shift by learned parameters,
#
# $$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta .$$
#
# Batch norm takes the group over the *batch* (each feature is normalised across the
# examples), layer norm over the *features* (each example is normalised on its own). The
# forward is four lines. Its backward, derived stage by stage as in lesson 14, takes a
# dozen, because $\mu$ and $\sigma^2$ depend on every $x$ of the group. This lesson shows
# what those extra paths do to the gradient, and has you write the whole backward as one
# formula, which is how minigrad's gates (and torch's kernels) compute it. Last, the
# running statistics that evaluation mode uses, and why their variance is divided by
# $n - 1$.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn
from widgets import GradientFlow

_ = torch.manual_seed(0)

# %% [markdown]
# ## Why normalise: the gradient per layer
#
# Lesson 12 showed a deep sigmoid network whose first layers receive gradients orders of
# magnitude smaller than its last. Put a batch norm after every linear layer and run the
# same one backward pass: each layer's input is brought back to mean 0 and variance 1, so
# no layer pushes its successor into the flat tails of the sigmoid, and the gradient
# reaches the first layers almost undiminished.

# %%
x_digits, y_digits = mg.data.load_digits()
batch_x, batch_y = x_digits[:256], y_digits[:256]
per_layer = {}
nets = {}
for label, normalised in (("12 sigmoid layers", False), ("with batch norm", True)):
    torch.manual_seed(0)
    layers, width = [], 64
    for _ in range(12):
        layers.append(nn.Linear(width, 64, weights=nn.glorot_init()))
        layers += [nn.BatchNorm(64)] if normalised else []
        layers.append(nn.Sigmoid())
    nets[label] = nn.Sequential(*layers, nn.Linear(64, 10))
    mg.cross_entropy(nets[label](batch_x), batch_y).backward()
    per_layer[label] = [
        row["mean_abs"]
        for row in mg.stats.gradient_stats(nets[label])
        if row["name"].endswith("weight") and row["shape"] == (64, 64)
    ]

fig, ax = plt.subplots(figsize=(6.5, 3.2))
for label, grads in per_layer.items():
    ax.semilogy(range(1, len(grads) + 1), grads, "o-", ms=4, label=label)
ax.set_xlabel("linear layer (1 = nearest the input)")
ax.set_ylabel("mean |dL/dW|")
ax.set_title("One backward pass, with and without normalisation")
ax.legend()
plt.show()

# %% [markdown]
# `GradientFlow` (lesson 9) shows the normalised network's gradients parameter by
# parameter. The weights now get gradients of one size from the first layer to the last.
# The short red bars, flagged as vanishing, are the linear layers' *biases*: a bias added
# just before a batch norm is subtracted again with the mean, so the loss does not depend
# on it and its gradient is zero up to rounding. That is why lesson 10's
# `Conv2dBatchNorm` has no bias in its convolution.

# %%
flow = GradientFlow(nets["with batch norm"])
flow.record()
flow

# %% [markdown]
# ## What the statistics do to the gradient
#
# Here is a batch norm on a tape, training mode, with a loss that weighs every output
# differently. Compare the gradient the tape computes for `x` with the one you would get if
# $\mu$ and $\sigma$ were constants ($\gamma\, g / \sqrt{\sigma^2 + \epsilon}$, which is
# exactly the gradient in evaluation mode):

# %%
x = mg.tensor(torch.randn(6, 3, dtype=torch.float64) * 2 + 1, requires_grad=True, name="x")
gamma = mg.tensor(torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64), requires_grad=True)
beta = mg.tensor(torch.zeros(3, dtype=torch.float64), requires_grad=True)
g = torch.randn(6, 3, dtype=torch.float64)  # the gradient arriving at y
y = mg.batch_norm(x, None, None, gamma, beta, training=True)
(y * g).sum().backward()

inv_std = 1 / torch.sqrt(x.value.var(0, correction=0) + 1e-5)
x_hat = (x.value - x.value.mean(0)) * inv_std
as_constants = gamma.value * g * inv_std
for name, grad in (("the tape's dx", x.grad), ("statistics as constants", as_constants)):
    print(f"{name:<24} sum over the batch {grad.sum(0).numpy().round(4)}, "
          f"sum of dx * x_hat {(grad * x_hat).sum(0).numpy().round(4)}")  # fmt: skip

# %% [markdown]
# The true gradient sums to zero over the batch, for every feature, and it is orthogonal to
# $\hat x$. Both facts have a reason you can see without any algebra: add the same number to
# every example of a feature and $\hat x$ does not change at all (the mean absorbs it), so
# the loss cannot change in that direction; scale a feature's values around their mean and
# $\hat x$ does not change either (the standard deviation absorbs it). The two extra paths,
# through $\mu$ and through $\sigma^2$, are exactly what removes those two directions from
# the naive gradient.
#
# ### Exercise: batch norm's backward in one formula
#
# Write `batchnorm_backward(x, gamma, g, eps)` for training mode on `x` of shape `(N, D)`:
# return `(dx, dgamma, dbeta)` given `g` $= \partial L/\partial y$. Recompute the
# statistics from `x` inside (as forward did: the variance divided by $N$). The check tries
# square batches, large offsets and variances so small that `eps` matters.

# %% tags=["exercise"]
# EXERCISE batchnorm_backward
def batchnorm_backward(x, gamma, g, eps):
    """(dx, dgamma, dbeta) for y = gamma * x_hat + beta, x_hat normalised over the batch (dim 0)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write batchnorm_backward")


# %% tags=["check"]
# CHECK batchnorm_backward
passed = exercises.check_batchnorm_backward(batchnorm_backward)

# %% [markdown]
# Written out, with $\hat g = \gamma g$ and means over the batch,
#
# $$\frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2 + \epsilon}}\Big(\hat g -
#   \operatorname{mean}(\hat g) - \hat x \operatorname{mean}(\hat g \hat x)\Big):$$
#
# the naive gradient, less its mean, less its component along $\hat x$. It needs only
# $\hat x$ and $1/\sqrt{\sigma^2 + \epsilon}$ from forward, which is all minigrad's
# `BatchNorm` gate saves (see `minigrad/ops/normalization.py`). Once yours passes, the
# cell below holds it against the tape above.

# %%
if passed:
    dx, dgamma, dbeta = batchnorm_backward(x.value, gamma.value, g, 1e-5)
    print("dx matches the tape:", torch.allclose(dx, x.grad),
          "| dgamma:", torch.allclose(dgamma, gamma.grad), "| dbeta:", torch.allclose(dbeta, beta.grad))  # fmt: skip

# %% [markdown]
# ## Layer norm: the same formula, sideways
#
# Layer norm normalises each example over its own features, the last dimension, whatever
# comes before it (a batch, or a batch and a time axis in a transformer: `(B, T, D)`). The
# mean and variance paths now run along the last dimension. One thing does not carry over
# from batch norm: there, $\gamma$ was one number per feature and so a constant across the
# group being normalised; here $\gamma$ *varies along* the group. Think about what that
# means for where $\gamma$ may stand in your formula.
#
# ### Exercise: layer norm's backward
#
# Write `layernorm_backward(x, gamma, g, eps)` for `x` of shape `(..., D)` and `gamma` of
# shape `(D,)`: return `(dx, dgamma, dbeta)`, with `dgamma` and `dbeta` of shape `(D,)`.
# The check tries 2-D and 3-D inputs.

# %% tags=["exercise"]
# EXERCISE layernorm_backward
def layernorm_backward(x, gamma, g, eps):
    """(dx, dgamma, dbeta) for y = gamma * x_hat + beta, x_hat normalised over the last dim."""
    # Your code here: replace the line below.
    raise NotImplementedError("write layernorm_backward")


# %% tags=["check"]
# CHECK layernorm_backward
passed = exercises.check_layernorm_backward(layernorm_backward)

# %% [markdown]
# minigrad's `LayerNorm` gate and its `BatchNorm` gate share one helper for this formula,
# `_normalized_backward`: the two differ only in which dimensions the means run over.

# %%
if passed:
    xs = mg.tensor(torch.randn(2, 5, 4, dtype=torch.float64), requires_grad=True)
    w = mg.tensor(torch.rand(4, dtype=torch.float64) + 0.5, requires_grad=True)
    b = mg.tensor(torch.zeros(4, dtype=torch.float64), requires_grad=True)
    gs = torch.randn(2, 5, 4, dtype=torch.float64)
    (mg.layer_norm(xs, 4, w, b) * gs).sum().backward()
    mine = layernorm_backward(xs.value, w.value, gs, 1e-5)
    print("the same as minigrad's LayerNorm gate:",
          all(torch.allclose(a, t.grad) for a, t in zip(mine, (xs, w, b))))  # fmt: skip

# %% [markdown]
# ## The running statistics, and Bessel's correction
#
# In evaluation mode batch norm cannot use the batch's statistics: a single example has
# none, and a prediction should not depend on which other examples share its batch. So,
# while training, each batch norm keeps a **running** estimate of every channel's mean and
# variance, moving it a fraction `momentum` (0.1 by default) towards each new batch's
# value.
#
# The variance needs care. The batch variance divides the squared deviations by $n$, and
# they are deviations from the batch's *own* mean, which sits closer to the data than the
# true mean does. On average it comes out too small by the factor $(n - 1)/n$: with a batch
# of 4 that is 25% too small, for ever, however long you train. Dividing by $n - 1$
# instead (Bessel's correction) removes the bias; torch's running variance does that, and
# so does minigrad's. (The normalisation itself, in training, still uses the biased one.)
#
# ### Exercise: one step of the running statistics
#
# Write `running_stats(running_mean, running_var, x, momentum)` for a training batch `x` of
# shape `(N, C)` or `(N, C, H, W)`: the new running mean and variance, one value per
# channel (dim 1), as torch computes them. Return new tensors (torch updates its buffers
# in place; here, leave the ones you are given as they are).

# %% tags=["exercise"]
# EXERCISE running_stats
def running_stats(running_mean, running_var, x, momentum):
    """The running (mean, var) per channel (dim 1) after one training batch x; new tensors."""
    # Your code here: replace the line below.
    raise NotImplementedError("write running_stats")


# %% tags=["check"]
# CHECK running_stats
passed = exercises.check_running_stats(running_stats)

# %% [markdown]
# Once yours passes, watch the estimate settle. 300 batches of 4 values each, drawn from a
# distribution whose variance is 4; your running variance next to the same update without
# Bessel's correction, and next to minigrad's `BatchNorm` module fed the same batches.

# %%
if passed:
    generator = torch.Generator().manual_seed(15)
    layer = nn.BatchNorm(1, dtype=torch.float64)
    mean, var = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    biased = var.clone()
    curves = {"yours (n - 1)": [], "divided by n": [], "minigrad's BatchNorm": []}
    for _ in range(300):
        batch = 3 + 2 * torch.randn(4, 1, generator=generator, dtype=torch.float64)
        mean, var = running_stats(mean, var, batch, 0.1)
        biased = 0.9 * biased + 0.1 * batch.var(0, correction=0)
        layer(mg.tensor(batch))
        curves["yours (n - 1)"].append(var.item())
        curves["divided by n"].append(biased.item())
        curves["minigrad's BatchNorm"].append(layer.running_var.value.item())
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for label, curve in curves.items():
        ax.plot(curve, label=label, lw=1.2, ls="--" if "minigrad" in label else "-")
    ax.axhline(4.0, color="black", lw=0.8)
    ax.axhline(3.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training batch (4 values each)")
    ax.set_ylabel("running variance")
    ax.set_title("True variance 4: divided by n, the estimate hovers around 3")
    ax.legend()
    plt.show()
    tail = slice(100, None)
    print({k: round(sum(v[tail]) / len(v[tail]), 2) for k, v in curves.items()})

# %% [markdown]
# **What to remember.** A normalisation's backward is the naive gradient
# $\gamma g / \sqrt{\sigma^2 + \epsilon}$ with its mean and its component along $\hat x$
# removed, over the same group the forward normalised: the batch for batch norm, the
# features for layer norm (where $\gamma$ stays inside the means). Training normalises with
# the biased variance; the running estimate for evaluation divides by $n - 1$.

# %% [markdown]
# **Next:** [Lesson 16: convolution backward](16_convolution_backward.ipynb) · **Previous:** [Lesson 14: softmax and cross-entropy by hand](14_softmax_by_hand.ipynb) · [Start here](00_start_here.ipynb)
