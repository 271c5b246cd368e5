# %% [markdown]
# # Lesson 20: precision: float16, bfloat16, loss scaling and master weights
#
# Lesson 19 counted bytes: a float32 number takes 4. The 16-bit formats take 2, which
# halves the memory of every activation and weight, and on a GPU they also run matrix
# products several times faster. So large models train in 16 bits. But 16 bits hold
# fewer numbers, and where a format spends its bits decides what breaks:
#
# * gradients too small for the format **flush to zero**, so the weights they belong to
#   stop learning; **loss scaling** lifts them back into range;
# * updates too small next to their weight **are lost in rounding**; **float32 master
#   weights** keep them.
#
# Every number here is computed in this notebook, on the CPU: torch runs float16 and
# bfloat16 arithmetic there too (slowly, but exactly as a GPU rounds).

# %%
import math

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises

_ = torch.manual_seed(0)
FORMATS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

# %% [markdown]
# ## Three formats
#
# A floating-point number is a sign, an **exponent** (which power of two: the range) and
# a **fraction** (how many steps between two powers of two: the precision). float16 has 5
# exponent bits and 10 fraction bits; bfloat16 ("brain float") has float32's 8 exponent
# bits and only 7 fraction bits. `torch.finfo` has the consequences:

# %%
print(f"{'':9} {'bytes':>5} {'eps':>10} {'smallest normal':>16} {'smallest':>10} {'largest':>10}")
for name, dtype in FORMATS.items():
    info = torch.finfo(dtype)
    smallest = info.eps * info.smallest_normal  # the smallest subnormal number
    print(f"{name:9} {info.bits // 8:>5} {info.eps:>10.3g} {info.smallest_normal:>16.3g} "
          f"{smallest:>10.3g} {info.max:>10.3g}")

# %% [markdown]
# * **eps** is the gap between 1 and the next number: the relative precision. float16
#   keeps about 3 decimal digits, bfloat16 about 2, float32 about 7.
# * **smallest normal** is where the exponent runs out. Below it the format still has
#   *subnormal* numbers, evenly spaced down to the **smallest** one, with fewer and fewer
#   digits; below half of that, everything rounds to 0. For float16 that happens at
#   $2^{-25} \approx 3 \cdot 10^{-8}$, for bfloat16 near $10^{-40}$, like float32.
# * **largest**: float16 ends at 65504; anything larger is `inf`.
#
# ## The gap next to a number
#
# Between two powers of two, $2^e \le |w| < 2^{e+1}$, a format has the same number of
# values, equally spaced. So the gap next to $w$ doubles at every power of two: it is
# tiny near 0 and large for large $w$. The gap is what decides whether a change to $w$
# survives: $w - u$ rounds back to $w$ when $|u|$ is less than half the gap.
#
# ### Exercise: the gap next to a number
#
# Write `spacing(w, dtype)`: for each element of the tensor `w` (whose values are numbers
# of `dtype`, float16 or bfloat16), the gap from $|w|$ to the next larger number of that
# dtype, as a tensor. Use `torch.finfo(dtype)`, not the next number itself. The check
# tries ordinary numbers, powers of two, tiny (subnormal) numbers and 0.

# %% tags=["exercise"]
# EXERCISE spacing
def spacing(w, dtype):
    """The gap from each |w| to the next larger number of dtype (a tensor shaped like w)."""
    # Your code here: replace the line below.
    raise NotImplementedError("compute the gap next to each w")


# %% tags=["check"]
# CHECK spacing
passed = exercises.check_spacing(spacing)

# %% [markdown]
# The gaps of the three formats over 40 powers of ten, from torch itself (`torch.nextafter`
# steps to the next number of a dtype): straight lines of slope 1 where the numbers are
# normal (the gap grows with $|w|$), flat where they are subnormal, and nothing beyond the
# largest number.

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
for name, dtype in FORMATS.items():
    info = torch.finfo(dtype)
    w = torch.logspace(-45, 38, 2000, dtype=torch.float64)
    w = w[(w < info.max) & (w > info.eps * info.smallest_normal)].to(dtype)
    gap = torch.nextafter(w, torch.full_like(w, math.inf)) - w
    ax.loglog(w.double(), gap.double(), label=name)
ax.axvline(torch.finfo(torch.float16).smallest_normal, color="C1", linestyle=":", linewidth=1)
ax.text(1.2 * torch.finfo(torch.float16).smallest_normal, 1e-35, "float16: subnormal\nbelow here",
        fontsize=8, color="C1")
ax.set_xlabel("|w|")
ax.set_ylabel("gap to the next number")
ax.set_title("the spacing of three formats")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## Gradients that flush to zero
#
# Gradients are often small: a loss averaged over a batch divides each sample's share
# by the batch size, and every layer that shrinks the signal shrinks the gradient
# further back. Here is a deep, narrow network on 256 digits: 10 tanh layers of width 64,
# with small initial weights, so its early layers get small gradients (lesson 12's
# vanishing gradients). We compute its gradients three times, with the whole forward and
# backward pass in float32, float16 and bfloat16. The loss itself is computed in float32
# (the logits are converted with `mg.to`), as mixed-precision training does, because a
# sum of many terms in 16 bits loses too much.

# %%
images, labels = mg.data.load_digits()
x, y = images[:256], labels[:256]


def initial_weights(widths, gain, seed=0):
    """(W_1, b_1, ...) for the widths: W_i with standard deviation gain / sqrt(fan_in), b_i = 0."""
    generator = torch.Generator().manual_seed(seed)
    weights = []
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        weights += [gain * torch.randn(d_out, d_in, generator=generator) / d_in**0.5,
                    torch.zeros(d_out)]
    return weights


start = initial_weights((64,) * 11 + (10,), gain=0.4)  # 10 hidden tanh layers, then the scores


def gradients(dtype, scale=1.0):
    """Every weight's gradient of the network in `dtype`, of the loss times `scale`, as float32."""
    ctx = mg.Context()
    params = [ctx.variable(p.to(dtype), requires_grad=True) for p in start]
    h = exercises.tanh_layers(ctx.variable(x.to(dtype)), *params[:-2])
    scores = mg.to(mg.linear(h, params[-2], params[-1]), torch.float32)
    (mg.cross_entropy(scores, y) * scale).backward()
    return torch.cat([w.grad.float().flatten() for w in params[0::2]])


exact = gradients(torch.float32)
nonzero = exact != 0
for name in ("float16", "bfloat16"):
    g = gradients(FORMATS[name])
    flushed = ((g == 0) & nonzero).float().mean()
    off = ((g - exact).abs() > 0.1 * exact.abs())[nonzero].float().mean()
    print(f"{name:8}: {100 * flushed:4.1f}% of the gradients are 0 where float32's are not, "
          f"{100 * off:4.1f}% are off by more than 10%")

# %% [markdown]
# Where do the float32 gradients lie on float16's number line? A histogram of their
# sizes, in powers of two:

# %%
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.hist(torch.log2(exact[nonzero].abs()).numpy(), bins=80, color="0.5")
ax.axvline(math.log2(torch.finfo(torch.float16).smallest_normal), color="C1", linestyle="--",
           label="float16's smallest normal, 2^-14")
ax.axvline(-24, color="C3", linestyle="--", label="float16's smallest number, 2^-24")
ax.set_xlabel("log2 |gradient| (float32)")
ax.set_ylabel("weights")
ax.set_title("the gradients of the deep network, against float16's range")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Every one of these gradients lies below float16's smallest normal number, $2^{-14}$,
# where only a few digits are left (a subnormal near $2^{-22}$ has 2 or 3 bits), and those
# below $2^{-25}$, half the smallest number, round to 0. bfloat16 has float32's range, so
# nothing flushes; but with 7 fraction bits every gradient (and every activation before
# it) is rounded coarsely, and errors of several percent are common.
#
# ## Loss scaling
#
# Backprop is linear in the gradient it starts from: multiply the loss by $S$ and every
# gradient is multiplied by $S$. With $S = 2^k$ that moves the whole histogram $k$ to the
# right, into float16's range; dividing the gradients by $S$ afterwards (in float32: a
# power of two divides exactly) gives the true ones back. Too large an $S$ pushes the
# largest gradients past 65504, and they become `inf`:

# %%
powers = list(range(0, 33, 2))
flushed, overflowed = [], []
for k in powers:
    g = gradients(torch.float16, scale=2.0**k) / 2.0**k
    flushed.append(float(((g == 0) & nonzero).float().mean()))
    overflowed.append(float((~torch.isfinite(g)).float().mean()))
window = [k for k, f, o in zip(powers, flushed, overflowed) if f < 1e-3 and o == 0]
print(f"float16 gradients with S = 2^k: flushed for small k, inf from k = "
      f"{min(k for k, o in zip(powers, overflowed) if o > 0)}; "
      f"neither for k in {window[0]}..{window[-1]}")

fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(powers, [100 * f for f in flushed], "o-", label="flushed to 0")
ax.plot(powers, [100 * o for o in overflowed], "s-", label="inf or nan")
ax.axvspan(window[0], window[-1], color="C2", alpha=0.15, label="neither")
ax.set_xlabel("k, for the loss scale S = 2^k")
ax.set_ylabel("% of the gradients")
ax.set_title("float16 gradients against the loss scale")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# There is a window of good scales, and it moves: as a model trains, its gradients
# change size. A fixed $S$ that is right today may overflow tomorrow. So the scale is
# chosen as training goes.
#
# ## Dynamic loss scaling
#
# The rule torch's `GradScaler` uses, and minigrad's `mg.optim.GradScaler` with it:
#
# * a step whose gradients hold an `inf` or a `nan` **overflowed**: it is skipped (no
#   weight moves) and the scale shrinks;
# * after enough steps in a row without overflow, the scale grows again, to find out
#   whether a larger one works.
#
# So the scale settles just below where the gradients overflow, at the cost of one
# skipped step now and then. The state of the rule is the scale and a count of the good
# steps in a row (torch calls it the growth tracker).
#
# ### Exercise: the rule of dynamic loss scaling
#
# Write `update_scale(scale, tracker, found_inf, growth_factor, backoff_factor,
# growth_interval)`: given the scale, the count of good steps in a row before this one,
# and whether this step overflowed, return the next `(scale, tracker)`. The check runs
# four rules through many steps and names the first step where yours differs.

# %% tags=["exercise"]
# EXERCISE scale_update
def update_scale(scale, tracker, found_inf, growth_factor, backoff_factor, growth_interval):
    """The loss scale and the count of good steps in a row, after one step: (scale, tracker)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write the rule of dynamic loss scaling")


# %% tags=["check"]
# CHECK scale_update
passed = exercises.check_scale_update(update_scale)

# %% [markdown]
# `mg.optim.GradScaler` wraps that rule with the calls of a training step, with torch's
# defaults ($S = 2^{16}$, twice as large after 2000 good steps, half after an
# overflow):
#
# ```
# scaler.scale(loss).backward()   # the gradients of S * loss
# scaler.step(optimizer)          # divide them by S; skip the step on an inf or a nan
# scaler.update()                 # the rule above
# ```
#
# It refuses float16 gradients: divided by $S$ in float16 the small ones would flush
# again. The optimiser must hold float32 weights, which is the second half of the story.
#
# ## Updates lost without float32 master weights
#
# A step changes a weight by $u = \text{lr} \cdot g$, usually a tiny fraction of the
# weight. In float16 the gap next to 1 is $2^{-10} \approx 0.001$: a weight of 1 with
# an update of $10^{-4}$, less than half that gap, rounds back to 1 after every step, for
# ever. Here are 400 such steps in each format:

# %%
lr, grad, steps = 1e-2, 1e-2, 400
reference = 1.0 - lr * grad * torch.arange(steps + 1, dtype=torch.float64)
paths = {}
for name, dtype in FORMATS.items():
    w = torch.tensor(1.0, dtype=dtype)
    path = [float(w)]
    for _ in range(steps):
        w = w - lr * torch.tensor(grad, dtype=dtype)
        path.append(float(w))
    paths[name] = path
for name, path in paths.items():
    print(f"{name:8}: the weight went from 1 to {path[-1]:.6f} (exact: {float(reference[-1]):.6f})")

# %% [markdown]
# float16 and bfloat16 never moved. The fix is to let the optimiser work on a float32
# copy of every weight, the **master weight**, where a change of $10^{-4}$ is 800 gaps
# large, and after each step to round the master into the 16-bit weight that the forward
# and backward passes compute with. The 16-bit weight then moves in steps of its own
# gap, whenever the master has gathered enough small updates.
#
# ### Exercise: one SGD step on float32 master weights
#
# Write `master_step(weight, master, grad, lr)`: `weight` is the 16-bit weight (float16
# or bfloat16), `master` its float32 master copy and `grad` the gradient (16-bit, as the
# backward pass in 16 bits made it). Return the new `(weight, master)` after one SGD step.
# The check runs three trainings of many steps whose updates are far below the gaps of
# the weights, one of them below the smallest float16 number.

# %% tags=["exercise"]
# EXERCISE master_step
def master_step(weight, master, grad, lr):
    """One SGD step with a float32 master copy: (the new 16-bit weight, the new master)."""
    # Your code here: replace the line below.
    raise NotImplementedError("update the master, then the 16-bit weight")


# %% tags=["check"]
# CHECK master_step
passed = exercises.check_master_step(master_step)

# %% [markdown]
# The same 400 steps with a float32 master behind a float16 weight (with your
# `master_step` once it passes):

# %%
if passed:
    weight, master = torch.tensor(1.0, dtype=torch.float16), torch.tensor(1.0)
    behind = [1.0]
    for _ in range(steps):
        weight, master = master_step(weight, master, torch.tensor(grad, dtype=torch.float16), lr)
        behind.append(float(weight))
    paths["float16 with a float32 master"] = behind

fig, (whole, start_) = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, last in ((whole, steps), (start_, 40)):
    ax.plot(reference[: last + 1].numpy(), color="0.6", linewidth=4, label="exact")
    for (name, path), style in zip(paths.items(), ["-", "--", ":", "-"]):
        ax.plot(path[: last + 1], style, label=name)
    ax.set_xlabel("step")
whole.set_ylabel("the weight")
whole.set_title("w <- w - 0.01 * 0.01, in each format")
start_.set_title("the first 40 steps")
whole.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# float32 follows the exact line. float16 and bfloat16 stay at 1. The float16 weight
# with a float32 master (shown once your `master_step` passes) follows the exact line in
# a staircase (right): below 1 its gap is $2^{-11} \approx 0.00049$, so it moves by one
# gap about every five steps, whenever the master has gathered enough.
#
# ## Training in 16 bits
#
# Put together, a training step in 16 bits is:
#
# 1. the forward and backward passes in 16 bits, on 16-bit weights; the loss in float32;
# 2. `scaler.scale(loss).backward()` (float16 only: bfloat16 has the range, and needs no
#    scaling);
# 3. the gradients copied into the float32 master weights; `scaler.step(optimizer)` and
#    `scaler.update()`, with an optimiser that holds the master weights;
# 4. the masters rounded into the 16-bit weights.
#
# Here is that loop, for an MLP 64-64-64-10 on 1024 digits with SGD. We train the same
# start five ways, at a small learning rate, where lost updates matter.

# %%
train_x, train_y = images[:1024], labels[:1024]
mlp_start = initial_weights((64, 64, 64, 10), gain=1.0, seed=2)


def train(dtype, masters=False, scaler=None, lr=0.02, steps=300):
    """SGD on the MLP in `dtype`, with float32 master weights or without.

    Returns the loss of every step, the loss scale it used, and the steps that were skipped.
    """
    ctx = mg.Context()
    weights = [ctx.variable(p.to(dtype, copy=True), requires_grad=True) for p in mlp_start]
    master = [ctx.variable(p.clone(), requires_grad=True) for p in mlp_start]
    optimizer = mg.optim.SGD(master if masters else weights, lr=lr)
    scaler = scaler or mg.optim.GradScaler(enabled=False)  # disabled: it passes through
    generator = torch.Generator().manual_seed(1)  # the same batches for every run
    losses, scales, skipped = [], [], []
    for step in range(steps):
        batch = torch.randint(0, len(train_x), (64,), generator=generator)
        h = exercises.tanh_layers(ctx.variable(train_x[batch].to(dtype)), *weights[:-2])
        scores = mg.to(mg.linear(h, weights[-2], weights[-1]), torch.float32)
        loss = mg.cross_entropy(scores, train_y[batch])
        for w in weights:
            w.grad = None
        scaler.scale(loss).backward()
        if masters:
            for m, w in zip(master, weights):
                m.grad = w.grad.float()
        scales.append(scaler.get_scale())
        scaler.step(optimizer)  # skipped if a gradient overflowed
        scaler.update()
        if scaler.get_scale() < scales[-1]:  # the scale backs off only after a skipped step
            skipped.append(step)
        if masters:
            for m, w in zip(master, weights):
                w.value = m.value.to(dtype)
        losses.append(loss.item())
    return losses, scales, skipped


runs = {
    "float32": train(torch.float32),
    "bfloat16, updated in bfloat16": train(torch.bfloat16),
    "float16, updated in float16": train(torch.float16),
    "bfloat16 with float32 masters": train(torch.bfloat16, masters=True),
    "float16 with float32 masters, GradScaler": train(
        torch.float16, masters=True,
        scaler=mg.optim.GradScaler(init_scale=2.0**24, growth_interval=50)),
}
for name, (losses, _, _) in runs.items():
    print(f"{name:42} loss over the last 50 steps: {sum(losses[-50:]) / 50:.3f}")
_, scales, skipped = runs["float16 with float32 masters, GradScaler"]
print(f"GradScaler: scale 2^{math.log2(scales[0]):g} at the first step, "
      f"2^{math.log2(scales[-1]):g} at the last; {len(skipped)} steps skipped: {skipped}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
for name, (losses, _, _) in runs.items():
    smooth = torch.tensor(losses).unfold(0, 20, 1).mean(1)
    left.plot(range(19, len(losses)), smooth.numpy(), label=name)
left.set_xlabel("step")
left.set_ylabel("loss (mean of 20 steps)")
left.set_title("the same training in 16 bits, five ways")
left.legend(fontsize=7)
right.semilogy(scales, color="C4")
right.plot(skipped, [scales[i] for i in skipped], "x", color="C3", label="skipped step")
right.set_xlabel("step")
right.set_ylabel("loss scale S")
right.set_title("GradScaler: back off, then grow")
right.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# With float32 masters both 16-bit runs follow float32: bfloat16's on top of it, float16's
# a little behind, because GradScaler started too high ($2^{24}$) and its first steps
# overflowed and were skipped, halving the scale each time until the gradients fit. From
# then on it doubles after every 50 good steps in a row and halves whenever a step
# overflows, so it hovers just below the largest scale that works.
#
# Updated in its own 16 bits, bfloat16 learns clearly more slowly: its gaps are 8 times
# wider than float16's, and many updates of this network are smaller than half of them.
# float16 updated in float16 keeps up here, because this network's weights are small and
# most of its updates are larger than half their gap; the lone weight of 1 above shows
# where that ends, and a long training with a decaying learning rate gets there.
#
# **What to remember.**
#
# * float16: 3 digits, and nothing below $6 \cdot 10^{-8}$ or above 65504. bfloat16:
#   float32's range, 2 digits.
# * Small float16 gradients flush to zero. Scaling the loss by $S$ scales every
#   gradient by $S$; divide by $S$ in float32 afterwards. GradScaler finds $S$ as it
#   trains: skip and halve on an overflow, double after a run of good steps.
# * A 16-bit weight cannot take a small update: it rounds away. Keep float32 master
#   weights for the optimiser and round them into the 16-bit weights after each step.

# %% [markdown]
# **Next:** [Lesson 21: forward mode](21_forward_mode.ipynb) · **Previous:** [Lesson 19: memory](19_memory.ipynb) · [Start here](00_start_here.ipynb)
