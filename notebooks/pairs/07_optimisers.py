# %% [markdown]
# # Lesson 7: optimisers
#
# Backprop gives the gradient; an **optimiser** decides what to do with it. The simplest
# rule, gradient descent, steps against the gradient: $p \leftarrow p - \eta\, g$. Its
# weakness shows on a long, narrow valley: the gradient points mostly *across* the valley,
# so plain steps zig-zag between the walls and crawl along the floor. Every optimiser in
# this lesson is a way of fixing that:
#
# * **momentum** keeps a running *velocity*, a sum of the gradients seen so far in which
#   older ones count less and less, and steps along it: the zig-zag cancels out, the
#   steady downhill direction adds up;
# * **Nesterov** momentum steps as if the velocity had already carried the parameter one
#   step further, which brakes earlier before overshooting;
# * **Adam** divides each coordinate's step by a running estimate of that coordinate's
#   gradient size, so steep and flat directions move at similar speeds;
# * **AdamW** is Adam with *decoupled* weight decay: it shrinks the weights directly
#   instead of adding a decay term to the gradient, where Adam's rescaling would weaken the
#   decay for parameters with large gradients.
#
# minigrad's optimisers follow `torch.optim` exactly, so we can lay the two side by side.
# You write two of them yourself first, and the checks hold them to `torch.optim` step for
# step.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import minigrad as mg
from minigrad import exercises

_ = torch.manual_seed(0)

# %% [markdown]
# ## A valley to descend
#
# Rosenbrock's function $f(x, y) = (1 - x)^2 + 10\,(y - x^2)^2$ has a curved, narrow valley
# with its minimum at $(1, 1)$. It is written with plain operators, so the same Python
# function works on minigrad Variables and on torch tensors.

# %%
def valley(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 10 * (y - x**2) ** 2


START = [-1.5, 2.0]
STEPS = 150


def minigrad_path(make_optimizer):
    p = mg.tensor(START, requires_grad=True, dtype=torch.float64, name="p")
    opt = make_optimizer([p])
    path = [p.value.clone()]
    for _ in range(STEPS):
        opt.zero_grad()
        valley(p).backward()
        opt.step()
        path.append(p.value.clone())
    return torch.stack(path)


def torch_path(make_optimizer):
    p = torch.tensor(START, requires_grad=True, dtype=torch.float64)
    opt = make_optimizer([p])
    path = [p.detach().clone()]
    for _ in range(STEPS):
        opt.zero_grad()
        valley(p).backward()
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)

# %% [markdown]
# ## Exercise: momentum, step for step
#
# An optimiser's update rule is a small function of plain tensors: the parameter, its
# gradient and whatever the optimiser remembers between steps. For SGD with momentum
# that memory is the velocity. Write one step of `torch.optim.SGD(lr, momentum,
# nesterov)` (with its default dampening 0), for both the plain and the Nesterov
# variant. The velocity is all zeros before the first step.
#
# The check runs `torch.optim.SGD` itself on a narrow bowl and records what torch had
# before and after each of 6 steps; then it hands your function torch's state before
# each step and compares what comes back. A FAIL names the first step that differs, and
# recognises the usual slips (an average instead of a sum, the velocity used before it
# was updated, Nesterov's look-ahead in the wrong place).

# %% tags=["exercise"]
# EXERCISE momentum_step
def momentum_step(param, grad, velocity, lr, momentum, nesterov):
    """One step of SGD with momentum (torch.optim.SGD, dampening 0): (new_param, new_velocity).

    Return new tensors; leave the ones you are given as they are.
    """
    # Your code here.
    raise NotImplementedError("write momentum_step")


# %% tags=["check"]
# CHECK momentum_step
passed = exercises.check_momentum_step(momentum_step)

# %% [markdown]
# ## Exercise: Adam and AdamW
#
# Adam remembers two running averages per coordinate, `exp_avg` (m, of the gradient) and
# `exp_avg_sq` (v, of its square), both zeros before the first step; `step` counts steps
# from 1. Both averages start at zero, so in the first steps they are too small: Adam
# *corrects* each for that before using it. Write one step of `torch.optim.Adam`
# (`decoupled=False`) and of `torch.optim.AdamW` (`decoupled=True`); the two differ only
# in where the weight decay goes. The check works as the one above, with gradients from
# $10^{-5}$ (where `eps` matters) to 10.

# %% tags=["exercise"]
# EXERCISE adam_step
def adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, betas, eps, weight_decay, decoupled):
    """One step of Adam or AdamW (torch.optim): (new_param, new_exp_avg, new_exp_avg_sq).

    Return new tensors; leave the ones you are given as they are.
    """
    # Your code here.
    raise NotImplementedError("write adam_step")


# %% tags=["check"]
# CHECK adam_step
passed = exercises.check_adam_step(adam_step)

# %% [markdown]
# ## The rules, written out
#
# With learning rate $\eta$, gradient $g$ and step $t$ (from 1), as `torch.optim` computes
# them:
#
# * **momentum** $\mu$: $v \leftarrow \mu v + g$, then $p \leftarrow p - \eta v$;
# * **Nesterov**: the same $v$, then $p \leftarrow p - \eta (g + \mu v)$;
# * **Adam**: $g \leftarrow g + \lambda p$ (L2 decay), $m \leftarrow \beta_1 m + (1-\beta_1) g$,
#   $v \leftarrow \beta_2 v + (1-\beta_2) g^2$, $\hat m = m / (1 - \beta_1^t)$,
#   $\hat v = v / (1 - \beta_2^t)$, $p \leftarrow p - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)$;
# * **AdamW**: $p \leftarrow p - \eta\lambda p$ first, then Adam's step without the decay in
#   the gradient.
#
# `sgd_update` and `adam_update` in `minigrad/optim/` are these rules; the classes around
# them only keep the memory between steps.

# %% [markdown]
# ## Five optimisers, minigrad and torch
#
# Each entry builds the same optimiser in both libraries. The learning rates are chosen so
# that each one converges; try changing them.

# %%
optimisers = {
    "SGD": (lambda ps: mg.optim.SGD(ps, lr=0.01), lambda ps: torch.optim.SGD(ps, lr=0.01)),
    "momentum": (
        lambda ps: mg.optim.SGD(ps, lr=0.005, momentum=0.9),
        lambda ps: torch.optim.SGD(ps, lr=0.005, momentum=0.9),
    ),
    "Nesterov": (
        lambda ps: mg.optim.SGD(ps, lr=0.005, momentum=0.9, nesterov=True),
        lambda ps: torch.optim.SGD(ps, lr=0.005, momentum=0.9, nesterov=True),
    ),
    "Adam": (lambda ps: mg.optim.Adam(ps, lr=0.1), lambda ps: torch.optim.Adam(ps, lr=0.1)),
    "AdamW": (
        lambda ps: mg.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.1),
    ),
}
paths = {}
for name, (ours, theirs) in optimisers.items():
    paths[name] = minigrad_path(ours)
    difference = float((paths[name] - torch_path(theirs)).abs().max())
    end = paths[name][-1].tolist()
    print(f"{name:<9} ends at ({end[0]:+.3f}, {end[1]:+.3f})   max |minigrad - torch| = {difference:.1e}")

# %% [markdown]
# The differences are zero (or at the level of float64 rounding): the same algorithm, step
# for step.
#
# ## Look at the paths

# %%
xs, ys = np.meshgrid(np.linspace(-2, 2, 200), np.linspace(-1, 3, 200))
zs = (1 - xs) ** 2 + 10 * (ys - xs**2) ** 2
# One panel per optimiser (its path in colour, the others in grey), so that paths that
# run close together can still be told apart; the last panel has them all.
fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), sharex=True, sharey=True,
                         layout="constrained")  # fmt: skip
panels = [*paths, "all five"]
for ax, shown in zip(axes.flat, panels):
    ax.contour(xs, ys, np.log1p(zs), levels=25, cmap="Greys", linewidths=0.5)
    for k, (name, path) in enumerate(paths.items()):
        if shown == "all five":
            ax.plot(path[:, 0], path[:, 1], "-", lw=1.2, color=f"C{k}", label=name)
        elif name == shown:
            ax.plot(path[:, 0], path[:, 1], ".-", ms=3, lw=1.4, color=f"C{k}", label=name)
            ax.plot(*path[-1], "o", color=f"C{k}", ms=6)  # where it ended
        else:
            ax.plot(path[:, 0], path[:, 1], "-", lw=0.8, color="#bbbbbb")
    ax.plot(1, 1, "k*", ms=12)
    ax.plot(*START, "ks", ms=5)
    ax.set_title(shown, color="black" if shown == "all five" else f"C{panels.index(shown)}")
    ax.set_xlim(-2, 2)
    ax.set_ylim(-1, 3)
axes.flat[-1].legend(loc="lower right", fontsize=8)
fig.suptitle(f"{STEPS} steps from {tuple(START)} (square) on Rosenbrock's valley; the star "
             "is the minimum (1, 1)")  # fmt: skip
plt.show()

# %% [markdown]
# What to see: plain SGD creeps along the valley floor; momentum overshoots and swings but
# travels much further; Nesterov swings less; Adam moves at a steady pace in both directions
# regardless of how steep each is. AdamW's weight decay pulls towards the origin, so it
# settles where that pull balances the slope of the valley, short of $(1, 1)$ (at about
# $(0.81, 0.66)$ in the table above; its loss flattens out in the next plot): decay is a
# preference for small weights, traded against the loss.
#
# ## The loss along the way

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for name, path in paths.items():
    ax.semilogy([float(valley(p)) + 1e-12 for p in path], label=name)
ax.set_xlabel("step")
ax.set_ylabel("f(p)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **What to remember.** An optimiser turns gradients into steps. Momentum averages
# directions, Adam normalises sizes per coordinate, AdamW decays weights directly. In
# minigrad each update rule is a short function (`sgd_update`, `adam_update` in
# `minigrad/optim/`), matched step for step against `torch.optim`.

# %% [markdown]
# **Next:** [Lesson 8: learning-rate schedules](08_lr_schedules.ipynb) · **Previous:** [Lesson 6: modules, parameters and initialisation](06_modules_and_init.ipynb) · [Start here](00_start_here.ipynb)
