# %% [markdown]
# # Lesson 8: learning-rate schedules
#
# A single learning rate is a compromise: large enough to make progress early, small enough
# to settle into a minimum late. A **schedule** changes it with the epoch. The common ones:
#
# * **StepLR**: multiply by `gamma` every `step_size` epochs (a staircase);
# * **LinearLR**: move linearly from `start_factor` to `end_factor` times the base rate over
#   `epochs` epochs; with a small start this is a **warm-up**, which keeps the first, large
#   and noisy gradients of a fresh network from throwing it far off;
# * **CosineAnnealingLR**: glide from the base rate to `lr_min` along half a cosine over
#   `t_max` epochs, fast in the middle, slow at both ends.
#
# The value at epoch $e$ is the rate **used during** epoch $e$: what the optimiser holds
# while every batch of that epoch trains. Epochs count from 0.

# %%
import math
import warnings

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import LRScheduleExplorer
from widgets.lesson_plots import integer_ticks

_ = torch.manual_seed(0)

# %% [markdown]
# ## Explore
#
# Pick a schedule and move the sliders. minigrad's curve is drawn with torch's scheduler
# (same settings) on top, and the lower panel shows their difference.

# %%
explorer = LRScheduleExplorer(epochs=60)
explorer

# %% [markdown]
# ## A scheduler is a function of the epoch
#
# Under the bookkeeping, each minigrad scheduler is a pure function `lr_for(base_lr, epoch)`;
# `lr_at(epoch)` and `lr_curve(epochs)` read it without changing anything. Here are the three
# schedules on one optimiser whose base rate is 0.1:

# %%
def fresh_optimizer(lr=0.1):
    return mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=lr)


schedules = {
    "StepLR(step_size=10, gamma=0.5)": mg.optim.StepLR(fresh_optimizer(), step_size=10, gamma=0.5),
    "LinearLR(10 epochs, 0.1 -> 1.0)": mg.optim.LinearLR(fresh_optimizer(), 10, 0.1, 1.0),
    "CosineAnnealingLR(t_max=40)": mg.optim.CosineAnnealingLR(fresh_optimizer(), t_max=40),
}
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for label, schedule in schedules.items():
    ax.step(range(50), schedule.lr_curve(50), where="post", label=label)
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
integer_ticks(ax)
ax.legend(fontsize=8)
plt.show()
print("StepLR at epochs 9, 10, 20:", [schedules["StepLR(step_size=10, gamma=0.5)"].lr_at(e) for e in (9, 10, 20)])

# %% [markdown]
# ## Exercise: warm-up, then cosine
#
# The schedule most large models train with joins two of these: a short linear **warm-up**
# to the base rate, then a **cosine** down to a floor. Write it as a function of the
# epoch, exactly as torch computes it with
# `SequentialLR(optimizer, [LinearLR(optimizer, start_factor, total_iters=warmup),
# CosineAnnealingLR(optimizer, T_max=epochs - warmup, eta_min=lr_min)],
# milestones=[warmup])`: the warm-up starts at `start_factor * base_lr`, and the cosine
# takes over at epoch `warmup`.
#
# The check compares every epoch of four schedules with torch's. Schedules go wrong by
# one epoch more often than by anything else, so it recognises a curve that runs an epoch
# early or late, a warm-up that arrives one epoch too soon, and a cosine that starts
# counting at the wrong epoch.

# %% tags=["exercise"]
# EXERCISE warmup_cosine
def warmup_cosine(epoch, base_lr, warmup, epochs, start_factor, lr_min):
    """The learning rate used during `epoch` (counted from 0): a warm-up, then a cosine."""
    # Your code here.
    raise NotImplementedError("write warmup_cosine")


# %% tags=["check"]
# CHECK warmup_cosine
passed = exercises.check_warmup_cosine(warmup_cosine)

# %% [markdown]
# ## Exercise: where the step goes
#
# In training, the scheduler moves the rate on with `scheduler.step()`. Where that call
# sits in the loop decides which rate each batch trains with. Write the loop:
# `train_batch()` trains one batch with the optimiser's current rate; every batch of
# epoch $e$ should train with the schedule's rate for epoch $e$. The check records the
# rate at every batch and compares it with torch's, for three schedulers.

# %% tags=["exercise"]
# EXERCISE epoch_loop
def train_epochs(epochs, batches, train_batch, scheduler):
    """Train `epochs` epochs of `batches` batches, each epoch at its scheduled rate."""
    # Your code here.
    raise NotImplementedError("write train_epochs")


# %% tags=["check"]
# CHECK epoch_loop
passed = exercises.check_epoch_loop(train_epochs)

# %% [markdown]
# ## Stepping it in a loop, against torch
#
# In training you call `scheduler.step()` once per epoch, after the epoch's batches, and
# the optimiser's `lr` follows. (torch warns when a scheduler is stepped before the
# optimiser's first step: the first epoch would have been skipped.) The loop below does
# this for a cosine schedule in both libraries and compares every epoch.

# %%
ours_opt = fresh_optimizer()
ours = mg.optim.CosineAnnealingLR(ours_opt, t_max=20, lr_min=0.001)
theirs_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
theirs = torch.optim.lr_scheduler.CosineAnnealingLR(theirs_opt, T_max=20, eta_min=0.001)
worst = 0.0
for epoch in range(30):
    worst = max(worst, abs(ours_opt.lr - theirs_opt.param_groups[0]["lr"]))
    theirs_opt.step()
    ours.step()
    theirs.step()
print(f"largest difference over 30 epochs: {worst:.1e}")

# %% [markdown]
# Past `t_max` both keep following the cosine back up (there is no clamp), which is torch's
# behaviour; minigrad matches it on purpose so that every value can be checked.
#
# ## Where minigrad and torch differ: ChainedScheduler
#
# The two libraries use the same name for different things:
#
# * minigrad's `ChainedScheduler(warmup, decay)` (from nimxla) runs its schedulers **one
#   after another**: the warm-up for its length, then the decay from its own epoch 0. In
#   torch that is `SequentialLR(optimizer, [warmup, decay], milestones=[...])`.
# * torch's `ChainedScheduler([a, b])` runs them **at the same time** and *multiplies* their
#   factors every epoch.
#
# Same name, different curve. Let's draw all three:

# %%
EPOCHS = 40
ours_opt = fresh_optimizer()
warm = mg.optim.LinearLR(ours_opt, epochs=5, start_factor=0.1, end_factor=1.0)
decay = mg.optim.CosineAnnealingLR(ours_opt, t_max=35)
chained = mg.optim.ChainedScheduler(warm, decay)
minigrad_curve = chained.lr_curve(EPOCHS)


def torch_curve(kind):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    w = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=5)
    d = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=35)
    if kind == "sequential":
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [w, d], milestones=[5])
    else:
        sched = torch.optim.lr_scheduler.ChainedScheduler([w, d])
    curve = []
    for _ in range(EPOCHS):
        curve.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return curve


with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # torch warns that SequentialLR steps its parts itself
    sequential, multiplied = torch_curve("sequential"), torch_curve("chained")
fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.plot(minigrad_curve, "o", ms=4, label="minigrad ChainedScheduler (in series)")
ax.plot(sequential, "-", label="torch SequentialLR")
ax.plot(multiplied, "--", label="torch ChainedScheduler (multiplied)")
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
integer_ticks(ax)
ax.legend(fontsize=8)
plt.show()
print("max |minigrad - torch SequentialLR| =", max(abs(a - b) for a, b in zip(minigrad_curve, sequential)))
print("max |minigrad - torch ChainedScheduler| =", max(abs(a - b) for a, b in zip(minigrad_curve, multiplied)))

# %% [markdown]
# **What to remember.** A schedule is a function from epoch to learning rate; the value at
# epoch $e$ is the rate used *during* $e$. Warm up, then decay. And when porting code, check
# what "chained" means: minigrad's is torch's `SequentialLR`.

# %% [markdown]
# **Next:** [Lesson 9: training an MLP on the digits](09_training_an_mlp.ipynb) · **Previous:** [Lesson 7: optimisers](07_optimisers.ipynb) · [Start here](00_start_here.ipynb)
