# %% [markdown]
# # Lesson 6: modules, parameters and initialisation
#
# A network is a function with many parameters. A **Module** is the bookkeeping that keeps
# them together: it names every parameter, finds them in sub-modules, switches training and
# evaluation behaviour, and saves and loads them. Nothing in it is magic: the forward pass
# is ordinary minigrad ops, recorded on the tape like any other.
#
# The second half of the lesson is about the *starting values*. Before any training, a deep
# network either passes a signal through its layers or does not, and that is decided by
# the scale of the initial weights.

# %%
import math

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn
from widgets.lesson_plots import integer_ticks

_ = torch.manual_seed(0)

# %% [markdown]
# ## A module is a class with parameters and a forward
#
# Assigning a layer (or a Variable made with `requires_grad=True`) to an attribute registers
# it. `named_parameters()` then finds every parameter, with a dotted name that says where
# it lives.

# %%
class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        return self.out(mg.relu(self.hidden(x)))


model = TinyMLP()
for name, p in model.named_parameters():
    print(f"{name:<14} {tuple(p.shape)}")
print("parameters:", model.parameter_count())

# %% [markdown]
# Calling the model runs its forward; the result is an ordinary Variable on the tape.
# `Sequential` chains modules without writing a class, and `summary` runs a dummy batch to
# print each layer's output shape:

# %%
x = torch.randn(5, 4)
print(model(x).shape)
seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
print(seq.summary((5, 4)))

# %% [markdown]
# ## Fans: how many numbers meet in one sum
#
# A linear layer computes $y_j = \sum_{i=1}^{n} w_{ji} x_i$: each output sums over $n$
# inputs, its **fan-in**, and each input reaches the layer's outputs, their number being its
# **fan-out**. Initialisers are written in terms of these two numbers, so they must be right
# for every kind of weight. A linear weight has shape `(out, in)`; a convolution's weight has
# shape `(out, in, *kernel)`, one kernel size per spatial dimension, and each of its outputs
# sums over a whole patch of the input.
#
# ### Exercise: fan-in and fan-out
#
# Write `fans(shape)`, returning `(fan_in, fan_out)` for a linear weight and for 1-D, 2-D and
# 3-D convolution weights, as torch computes them (without calling `nn.fans`: that is the
# answer).

# %% tags=["exercise"]
# EXERCISE conv_fans
def fans(shape):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write fans")


# %% tags=["check"]
# CHECK conv_fans
passed = exercises.check_conv_fans(fans)

# %% [markdown]
# For a conv weight `(out, in, kh, kw)` the fan-in is `in * kh * kw` and the fan-out
# `out * kh * kw`. minigrad's `nn.fans` matches torch (its tests compare with
# `torch.nn.init`):

# %%
print("Linear(128 -> 64) weight (64, 128): fans =", nn.fans((64, 128)))
print("Conv2d(3 -> 16, 5x5) weight (16, 3, 5, 5): fans =", nn.fans((16, 3, 5, 5)))

# %% [markdown]
# ## Why the initial scale matters
#
# If the $w$ and $x$ of a layer are independent with mean 0, the variances of the $n$ terms
# of each sum add up:
#
# $$\operatorname{Var}(y) = n \operatorname{Var}(w) \operatorname{Var}(x).$$
#
# So $n\operatorname{Var}(w) = 1$ keeps the signal's size constant through a *linear* layer.
# A ReLU after it changes the picture: it sets every negative value to zero.
#
# ### Exercise: an initialisation for 20 ReLU layers
#
# Write `relu_init_std(fan_in)`: the standard deviation of normally distributed weights such
# that the activations of a deep ReLU network keep their size from layer to layer. The check
# stacks 20 ReLU layers of widths 128, 512 and 64 and wants layer 20's activations within a
# factor of 2 of layer 1's. Work out what ReLU does to the second moment $E[y^2]$ first.

# %% tags=["exercise"]
# EXERCISE deep_init
def relu_init_std(fan_in):
    """The std of N(0, std**2) weights that keeps ReLU activations the same size, layer to layer."""
    # Your code here: replace the line below.
    raise NotImplementedError("write relu_init_std")


# %% tags=["check"]
# CHECK deep_init
passed = exercises.check_deep_init(relu_init_std)

# %% [markdown]
# The two classic schemes:
#
# * **He (Kaiming)**: ReLU zeroes half its inputs and so halves the variance; compensate
#   with $\operatorname{Var}(w) = 2/\text{fan-in}$. In minigrad `he_init(gain=2)` is
#   exactly that: `gain` multiplies the *variance*.
# * **Glorot (Xavier)** balances the forward signal ($1/\text{fan-in}$) and the backward
#   gradient ($1/\text{fan-out}$): $\operatorname{Var}(w) = 2/(\text{fan-in} + \text{fan-out})$.
#   Right for tanh, which is linear near 0.
#
# Let's measure instead of trusting the algebra: 20 layers of width 128, a batch of 256
# random inputs, and the standard deviation of the activations after each layer.

# %%
def activation_stds(init, activation, depth=20, width=128, seed=0):
    generator = torch.Generator().manual_seed(seed)
    layers = [nn.Linear(width, width, weights=init, generator=generator) for _ in range(depth)]
    h = mg.tensor(torch.randn(256, width, generator=generator))
    stds = []
    with mg.no_grad():
        for layer in layers:
            h = activation(layer(h))
            stds.append(float(h.value.std()))
    return stds


settings = {
    "ReLU, He (var 2/fan_in)": (nn.he_init(), mg.relu),
    "ReLU, Glorot": (nn.glorot_init(), mg.relu),
    "ReLU, N(0, 0.01²)": (nn.normal_init(0.0, 0.01), mg.relu),
    "tanh, Glorot": (nn.glorot_init(), mg.tanh),
    "tanh, He": (nn.he_init(), mg.tanh),
}
curves = {label: activation_stds(init, act) for label, (init, act) in settings.items()}
# Two panels: the tiny N(0, 0.01²) start falls 20 decades, which would flatten the others.
fig, (every, close) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for k, (label, stds) in enumerate(curves.items()):
    every.semilogy(range(1, 21), stds, "o-", ms=3, color=f"C{k}", label=label)
    if not label.startswith("ReLU, N"):  # the same colour for the same curve in both panels
        close.semilogy(range(1, 21), stds, "o-", ms=3, color=f"C{k}", label=label)
every.set_title("all five: a too-small start vanishes")
close.set_title("the other four, closer")
for ax in (every, close):
    ax.set_xlabel("layer")
    ax.set_ylabel("std of activations")
    integer_ticks(ax)
every.legend(fontsize=8)
close.legend(fontsize=8)
fig.suptitle("Signal size through 20 layers, before any training")
plt.show()
for label, stds in curves.items():
    print(f"{label:<26} layer 1: {stds[0]:.3g}   layer 20: {stds[-1]:.3g}")

# %% [markdown]
# Read the plot:
#
# * **ReLU + He** keeps the signal at a steady size through all 20 layers.
# * **ReLU + Glorot** loses about a factor $\sqrt 2$ every layer (ReLU halves the variance
#   and nothing compensates): after 20 layers the signal is about a thousand times smaller,
#   and so will be the gradients.
# * **Small constant std** (0.01) kills the signal almost immediately: every layer
#   multiplies it by about $0.01\sqrt{128/2} \approx 0.08$.
# * **tanh + Glorot** shrinks slowly (tanh squashes a little at every layer) but stays
#   alive; **tanh + He** holds a larger signal by feeding tanh larger inputs, so more units
#   sit near saturation, where (lesson 1) they pass little gradient.

# %% [markdown]
# **What to remember.** A Module registers parameters by attribute and finds them
# recursively. Initialise so that $\text{fan} \cdot \operatorname{Var}(w)$ suits the
# activation: He for ReLU, Glorot for tanh. Measure the activation statistics of a deep
# network before you train it: it costs one forward pass.

# %% [markdown]
# **Next:** [Lesson 7: optimisers](07_optimisers.ipynb) · **Previous:** [Lesson 5: gradient checking](05_gradient_checking.ipynb) · [Start here](00_start_here.ipynb)
