# %% [markdown]
# # Lesson 16: convolution backward
#
# Lesson 10 trained a CNN. minigrad's `Conv2d` gate did the work, and its backward calls two
# torch kernels you had to take on trust (`conv_transpose2d` and `conv2d_weight`). This
# lesson opens them. The key is a rewriting that libraries really use (it is called
# *im2col*): cut every window of the image out into a column, and a convolution becomes
# one matrix product. Its backward is then matmul's backward from lesson 3, plus one new
# operation, `fold`, which puts the columns back. Then max-pooling, whose backward is pure
# routing, with one detail that matters on real images: windows where several inputs tie
# for the largest.

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import minigrad as mg
from minigrad import exercises
from widgets import TapeViewer

_ = torch.manual_seed(0)

# %% [markdown]
# ## Windows as columns: unfold
#
# Take a 4x4 image holding 0 to 15 and a 2x2 kernel. There are 3 x 3 = 9 places to put the
# kernel. `F.unfold` copies the 4 pixels under each place into one column: the result has one
# column per window (9) and one row per kernel position (4). With C channels a column holds
# the window of every channel, $C \cdot k_h \cdot k_w$ numbers.

# %%
image = torch.arange(16.0).reshape(1, 1, 4, 4)
cols = F.unfold(image, kernel_size=2)
print("image:\n", image[0, 0])
print("unfold:", tuple(cols.shape), "\n", cols[0])

fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6), gridspec_kw={"width_ratios": [1, 2.2]})
axes[0].imshow(image[0, 0], cmap="viridis")
axes[0].add_patch(plt.Rectangle((0.5, -0.5), 2, 2, fill=False, edgecolor="red", lw=2))
axes[0].set_title("the image; window 1 in red")
axes[1].imshow(cols[0], cmap="viridis")
axes[1].add_patch(plt.Rectangle((0.5, -0.5), 1, 4, fill=False, edgecolor="red", lw=2))
axes[1].set_title("unfold: one column per window")
axes[1].set_xlabel("window")
axes[1].set_ylabel("kernel position")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()

# %% [markdown]
# Now each output value of the convolution is one filter, flattened, dotted with one column.
# All filters against all columns at once is a single matrix product, and the window index
# is just the flattened output position. (Deep learning's "convolution" slides the filter
# as it is, without mirroring it: mathematically a *correlation*. torch and minigrad both do
# that.)
#
# ### Exercise: convolution as unfold plus matmul
#
# Write `conv2d_by_unfold(x, w, b, stride, padding)` for images `x` of shape
# `(N, C, H, W)`, filters `w` of shape `(O, C, kh, kw)` and biases `b` of shape `(O,)`,
# using `torch.nn.functional.unfold` (it takes `padding` and `stride` too) and one matrix
# product. The check compares with torch's `conv2d` on strided, padded and oblong layers.

# %% tags=["exercise"]
# EXERCISE conv_unfold
def conv2d_by_unfold(x, w, b, stride, padding):
    """conv2d of x (N, C, H, W) with filters w (O, C, kh, kw) and bias b (O,), by unfold and @."""
    # Your code here: replace the line below.
    raise NotImplementedError("write conv2d_by_unfold")


# %% tags=["check"]
# CHECK conv_unfold
passed = exercises.check_conv_unfold(conv2d_by_unfold)

# %% [markdown]
# Once yours passes, here it is on a real digit with two hand-made filters: one responds to
# vertical edges, the other to horizontal ones.

# %%
digits, labels = mg.data.load_digits(as_images=True, dtype=torch.float64)
if passed:
    edges = torch.tensor([[[[1.0, 0.0, -1.0]] * 3], [[[1.0] * 3, [0.0] * 3, [-1.0] * 3]]],
                         dtype=torch.float64)  # fmt: skip
    maps = conv2d_by_unfold(digits[:1], edges, torch.zeros(2, dtype=torch.float64), 1, 1)
    fig, axes = plt.subplots(1, 3, figsize=(6.5, 2.3))
    for ax, picture, title in zip(axes, [digits[0, 0], maps[0, 0], maps[0, 1]],
                                  ["a digit", "vertical edges", "horizontal edges"]):  # fmt: skip
        ax.imshow(picture, cmap="RdBu" if "edges" in title else "gray_r")
        ax.set_title(title)
        ax.axis("off")
    plt.show()

# %% [markdown]
# ## The backward: matmul, then fold
#
# The forward was $Y = W_{\text{flat}}\,\text{cols} + b$ for every example: a matrix product
# and a broadcast add, whose gradients lesson 3 derived from the shapes. Only the last step
# is new. The columns hold *copies* of pixels, and a pixel is copied into every window that
# covers it, so its gradient is the sum over those windows. `F.fold` is exactly that: it
# takes columns shaped like unfold's output and adds each one back onto the window it came
# from. How many windows cover each pixel? Fold a column of ones for every window and see:

# %%
ones = torch.ones(1, 1, 6, 6)
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.5))
for ax, (kernel, stride, padding) in zip(axes, [(3, 1, 0), (3, 1, 1), (3, 2, 1)]):
    covering = F.fold(F.unfold(ones, kernel, padding=padding, stride=stride), (6, 6), kernel,
                      padding=padding, stride=stride)  # fmt: skip
    ax.imshow(covering[0, 0], cmap="viridis", vmin=0, vmax=9)
    for (i, j), count in zip(torch.cartesian_prod(torch.arange(6), torch.arange(6)).tolist(),
                             covering[0, 0].flatten().tolist()):  # fmt: skip
        ax.text(j, i, int(count), ha="center", va="center", color="white", fontsize=8)
    ax.set_title(f"{kernel}x{kernel}, stride {stride}, padding {padding}", fontsize=9)
    ax.axis("off")
fig.suptitle("how many windows read each pixel (fold of unfold's ones)")
plt.show()

# %% [markdown]
# A pixel in the middle of a 3x3 convolution is read 9 times, one at a corner once; with
# stride 2 some pixels are read by 4 windows and others by 1. A backward that forgets to add
# those copies up gets every pixel wrong but the ones read once.
#
# ### Exercise: the three gradients
#
# Write `conv2d_backward(x, w, g, stride, padding)`: given `g` $= \partial L/\partial y$ of
# shape `(N, O, OH, OW)`, return `(dx, dw, db)`, each shaped like its value. Use
# `torch.nn.functional.unfold`, matrix products and `torch.nn.functional.fold`.

# %% tags=["exercise"]
# EXERCISE conv_backward
def conv2d_backward(x, w, g, stride, padding):
    """(dx, dw, db) for y = conv2d(x, w, b, stride, padding), given g = dL/dy (N, O, OH, OW)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write conv2d_backward")


# %% tags=["check"]
# CHECK conv_backward
passed = exercises.check_conv_backward(conv2d_backward)

# %% [markdown]
# Seen as convolutions again: $dx$ slides $g$ over the (padded) image positions with the
# kernel rotated by 180 degrees, which is what torch calls a *transposed* convolution; $dw$
# correlates the input with $g$. minigrad's `Conv2d` gate (`minigrad/ops/conv.py`) calls
# torch's fused kernels for both, for speed; the cell below checks that yours agree with it.

# %%
if passed:
    x = mg.tensor(digits[:4], requires_grad=True, name="x")
    w = mg.tensor(torch.randn(3, 1, 3, 3, dtype=torch.float64), requires_grad=True, name="w")
    b = mg.tensor(torch.zeros(3, dtype=torch.float64), requires_grad=True, name="b")
    y = mg.conv2d(x, w, b, stride=2, padding=1)
    g = torch.randn(y.shape, dtype=torch.float64)
    y.backward(g)
    mine = conv2d_backward(x.value, w.value, g, 2, 1)
    for name, a, t in zip(["dx", "dw", "db"], mine, [x, w, b]):
        print(f"{name}: the same as minigrad's Conv2d gate: {torch.allclose(a, t.grad)}")

# %% [markdown]
# ## Max-pooling, and ties
#
# Max-pooling outputs the largest value of each window. Only that one input affected the
# output (nudge any other a little and the output does not move), so the window's whole
# gradient goes to it and every other input of the window gets nothing. When windows
# overlap (a stride smaller than the kernel), one input can be the largest of two windows
# and collects both gradients.
#
# What if two inputs of a window are *equal* and both the largest? On made-up random floats
# that never happens. On real data it happens all the time: the digits have integer pixel
# counts, mostly 0, and after a ReLU whole regions are exactly 0. Count the 2x2 windows of
# the 1797 digits in which the maximum is tied:

# %%
windows = F.unfold(digits, 2, stride=2)  # (1797, 4, 16): every 2x2 window as a column
ties = (windows == windows.max(1, keepdim=True).values).sum(1) > 1
print(f"{ties.float().mean().item():.0%} of the digits' 2x2 windows have a tied maximum")

# %% [markdown]
# The gradient must still go somewhere, exactly once: the output is the largest value, and
# moving the tied inputs together moves it one for one. torch's rule, which minigrad follows,
# is to give it all to the **first** of the tied inputs, reading the window row by row. Here
# is a 4x4 input with a tie in every one of its four windows, and the gradient minigrad's
# `MaxPool2d` sends back for an output gradient of ones:

# %%
tied = mg.tensor([[[[1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 2.0, 2.0], [3, 3, 1, 1], [3, 3, 1, 1]]]],
                 requires_grad=True)  # fmt: skip
mg.max_pool2d(tied, 2).sum().backward()
print("input:\n", tied.value[0, 0])
print("its gradient:\n", tied.grad[0, 0])

# %% [markdown]
# ### Exercise: max-pool's backward
#
# Write `max_pool_backward(x, g, kernel_size, stride)` for `y = max_pool2d(x, kernel_size,
# stride)` without padding: given `g` $= \partial L/\partial y$, return $\partial L/\partial
# x$, ties broken as torch does. The check uses small integers, so ties are everywhere, and
# overlapping windows.

# %% tags=["exercise"]
# EXERCISE maxpool_backward
def max_pool_backward(x, g, kernel_size, stride):
    """dL/dx for y = max_pool2d(x, kernel_size, stride), given g = dL/dy; ties as torch."""
    # Your code here: replace the line below.
    raise NotImplementedError("write max_pool_backward")


# %% tags=["check"]
# CHECK maxpool_backward
passed = exercises.check_maxpool_backward(max_pool_backward)

# %% [markdown]
# Once yours passes, the cell below runs it on every digit, ties and all, against minigrad's
# `MaxPool2d` (which uses torch's kernel, in its faster channels-last layout on the CPU).

# %%
if passed:
    images = mg.tensor(digits, requires_grad=True)
    pooled = mg.max_pool2d(images, 2)
    g = torch.randn(pooled.shape, dtype=torch.float64)
    pooled.backward(g)
    print("the same on all 1797 digits:",
          torch.equal(max_pool_backward(digits, g, 2, 2), images.grad))  # fmt: skip

# %% [markdown]
# ## A small CNN, stepped through
#
# The pieces together: a convolution, a ReLU, a max-pool and a linear layer on one digit.
# Step through the backward in the viewer: the pool node sends the gradient to one input
# per window, the ReLU passes it only where its input was positive, and the convolution's
# node hands out its three gradients, `dx`, `dw` and `db`, the ones you just wrote.

# %%
tape = mg.Context(keep_outputs=True, name="cnn")
one = tape.variable(digits[:1], name="digit")
kernels = tape.variable(torch.randn(2, 1, 3, 3, dtype=torch.float64) * 0.5,
                        requires_grad=True, name="w")  # fmt: skip
bias = tape.variable(torch.zeros(2, dtype=torch.float64), requires_grad=True, name="b")
head = tape.variable(torch.randn(10, 32, dtype=torch.float64) * 0.2, requires_grad=True,
                     name="head")  # fmt: skip
features = mg.max_pool2d(mg.relu(mg.conv2d(one, kernels, bias, padding=1)), 2)
loss = mg.cross_entropy(mg.linear(mg.flatten(features, 1), head), labels[:1])
TapeViewer(loss)

# %% [markdown]
# **What to remember.** Unfold turns a convolution into a matrix product, so its backward
# is matmul's: $dW = G\,\text{cols}^\top$ summed over the batch, $d\text{cols} = W^\top G$,
# and fold adds the columns back onto the image, summing where windows overlap; the bias
# sums $G$ over the batch and both spatial axes. Max-pooling routes each window's gradient
# to its largest input, the first one when several tie.

# %% [markdown]
# **Next:** [Lesson 17: recurrent networks and backprop through time](17_rnn_bptt.ipynb) · **Previous:** [Lesson 15: normalisation backward](15_normalisation_backward.ipynb) · [Start here](00_start_here.ipynb)
