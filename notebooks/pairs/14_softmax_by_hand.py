# %% [markdown]
# # Lesson 14: softmax and cross-entropy by hand
#
# Since lesson 9, `loss.backward()` has done the backward pass for you. This lesson you do it
# yourself, for every stage of a small network, the way Andrej Karpathy's "becoming a
# backprop ninja" asks you to: the loss, the log-softmax in its pieces, a tanh layer, two
# linear layers. Nothing here is new mathematics; it is the chain rule of lesson 1, the
# sums of lesson 3 and the reverse walk of lesson 2, done on tensors, by you. Why bother,
# when the tape does it? Because every later lesson (normalisation, convolutions,
# recurrent networks, attention) is built from exactly these moves, and because a
# backward you have written once is a backward you can debug.
#
# The check of the last exercise compares your gradients in the order backward computes
# them and stops at the **first** wrong one. One slip early in a hand-written backward
# makes every stage after it wrong too; you are told about the one that matters, not about
# a wall of failures that all follow from it.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import TapeViewer

_ = torch.manual_seed(0)

# %% [markdown]
# ## Softmax, and why it is shifted
#
# A classifier's last layer outputs one score per class, the **logits** $z$. Softmax turns
# them into probabilities, $p_c = e^{z_c} / \sum_k e^{z_k}$, and the loss wants their log.
# As written, that formula breaks for logits of a few hundred: $e^{800}$ is larger than
# the largest float64 (about $e^{709}$), so it becomes `inf`, and `inf / inf` is `nan`.
# Very negative logits fail the other way: $e^{-800}$ rounds to 0, and $\log 0 = -\infty$.

# %%
z = torch.tensor([[800.0, 799.0, 790.0], [-800.0, -801.0, -805.0]], dtype=torch.float64)
naive = (z.exp() / z.exp().sum(1, keepdim=True)).log()
print("exp(z):\n", z.exp())
print("log(exp(z) / sum exp(z)):\n", naive)

# %% [markdown]
# Yet nothing is wrong with these logits: the first row simply says "class 0, most
# likely". Softmax has a symmetry that rescues it: adding the same number to every logit
# of a row multiplies the top and the bottom of the fraction by the same factor, so no
# probability changes. Choose that number well and no exponential can overflow.
#
# ### Exercise: a stable log-softmax
#
# Write `log_softmax(z)` for logits `z` of shape `(N, C)`: the log-probabilities, row by row
# (along dim 1), finite even where the logits reach ±800. The check tries several shapes,
# scales and offsets.

# %% tags=["exercise"]
# EXERCISE stable_log_softmax
def log_softmax(z):
    """log softmax(z) along dim 1, for logits z of shape (N, C); finite even at +-800."""
    # Your code here: replace the line below.
    raise NotImplementedError("write a stable log_softmax")


# %% tags=["check"]
# CHECK stable_log_softmax
passed = exercises.check_stable_log_softmax(log_softmax)

# %% [markdown]
# minigrad's `LogSoftmax` gate (in `minigrad/ops/activations.py`) is one fused gate for the
# same reason: composing `log(softmax(x))` from two gates would round small probabilities
# to 0 before the log sees them.
#
# ## Cross-entropy's gradient
#
# The loss of a batch is the mean, over its $N$ examples, of $-\log p_{y_n}$: minus the
# log-probability of the true class. Each logit reaches the loss along two paths: through
# its own log-probability when it is the true class, and through the log-sum-exp of its
# row, which every logit of the row feeds. Add the two paths (lesson 2), then remember that
# the loss is a mean.
#
# ### Exercise: the gradient with respect to the logits
#
# Write `cross_entropy_backward(z, y)`: $\partial L / \partial z$, shape `(N, C)`, for
# the mean cross-entropy of logits `z` and true classes `y` (N integers). Keep it stable.

# %% tags=["exercise"]
# EXERCISE cross_entropy_grad
def cross_entropy_backward(z, y):
    """dL/dz for L = mean over n of -log softmax(z[n])[y[n]]; z is (N, C), y holds N class indices."""
    # Your code here: replace the line below.
    raise NotImplementedError("write cross_entropy_backward")


# %% tags=["check"]
# CHECK cross_entropy_grad
passed = exercises.check_cross_entropy_grad(cross_entropy_backward)

# %% [markdown]
# Once your gradient passes, the cell below draws it for one example next to the softmax
# and the true class: the gradient pushes the true class's logit up (a negative gradient,
# since gradient descent steps against it) by how far its probability is from 1, and every
# other logit down by its probability. A confident right answer gets almost no gradient.
# minigrad's fused `CrossEntropy` gate computes exactly this in its backward.

# %%
if passed:
    z = torch.randn(4, 6, dtype=torch.float64) * 2
    y = torch.tensor([2, 0, 5, 1])
    grad = cross_entropy_backward(z, y)
    logits = mg.tensor(z, requires_grad=True, name="z")
    mg.cross_entropy(logits, y).backward()
    print("the same as minigrad's CrossEntropy gate:", torch.allclose(grad, logits.grad))
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    classes = torch.arange(6)
    ax.bar(classes - 0.2, torch.softmax(z[0], 0), width=0.4, label="softmax(z)")
    ax.bar(classes + 0.2, 4 * grad[0], width=0.4, label="N * dL/dz")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"class (the true one is {int(y[0])})")
    ax.set_title("One example's gradient: its softmax, less 1 at the true class")
    ax.legend()
    plt.show()

# %% [markdown]
# ## The whole network by hand
#
# Now a real one: an MLP on a batch of the 8x8 digits (lesson 9), 64 inputs, 32 tanh
# units, 10 classes. Its forward is written in small stages, each one simple enough that
# its local derivative is one line: the log-softmax is taken apart into the pieces of your
# stable version. `exercises.mlp_stages` runs it and returns every stage in a dict `f`:

# %%
x_all, y_all = mg.data.load_digits(dtype=torch.float64)
x, y = x_all[:32], y_all[:32]
p = exercises.init_mlp((64, 32, 10), seed=0)
f = exercises.mlp_stages(x, y, p)
for name, value in f.items():
    print(f"{name:<9} {str(tuple(value.shape)):<9}")

# %% [markdown]
# ```
# hpre     = x @ W1.T + b1               h        = tanh(hpre)
# logits   = h @ W2.T + b2               shifted  = logits - logits.max(1, keepdim=True)
# counts   = shifted.exp()               total    = counts.sum(1, keepdim=True)
# logprobs = shifted - total.log()       loss     = -logprobs[range(N), y].mean()
# ```
#
# Four rules carry you through every stage:
#
# 1. **A gradient has the shape of its value.** `dtotal` is `(N, 1)` because `total` is.
# 2. **A value used twice gets the sum of both gradients.** `shifted` feeds `counts` *and*
#    `logprobs`.
# 3. **What forward broadcast, backward sums** (lesson 3): `total` was subtracted from every
#    column of its row, and the biases were added to every row of the batch.
# 4. **The max is a constant.** Subtracting a row's max from its logits changes no
#    probability, so the loss does not depend on it: the max reaches the loss twice, once
#    through `shifted` and once through `total`, and the two gradients cancel exactly. So
#    `dlogits` is simply `dshifted`.
#
# ### Exercise: every stage's gradient
#
# Write `backward_by_hand(f, p, y)`: a dict from each stage's name to the gradient of the
# loss with respect to it, including the four parameters. Fill it in backward order, one
# line per stage, each from the ones before it. Run the check as often as you like: it
# tells you which stages are right so far, and stops at the first one that is not.

# %% tags=["exercise"]
# EXERCISE staged_backward
def backward_by_hand(f, p, y):
    """{stage: dloss/dstage} for the MLP's stages, filled in backward order.

    The order: logprobs, total, counts, shifted, logits, h, W2, b2, hpre, W1, b1.
    """
    n = f["x"].shape[0]
    g = {}
    # Your code here: one line per stage, from the loss back (replace the line below).
    raise NotImplementedError("fill in g, stage by stage")
    return g


# %% tags=["check"]
# CHECK staged_backward
passed = exercises.check_staged_backward(backward_by_hand)

# %% [markdown]
# ## The same chain on minigrad's tape
#
# `exercises.mlp_on_tape` records the very same stages on a minigrad tape, each node named
# after its stage. Step through its backward in the viewer: the gradient that arrives at
# each stage is the one you wrote for it. Watch `shifted` receive two gradients (its two
# uses) that the walk adds up, and the parameters receive theirs at the end.

# %%
loss, stages = exercises.mlp_on_tape(x, y, p)
print("loss on the tape:", round(loss.item(), 6), "| loss of f:", round(f["loss"].item(), 6))
TapeViewer(loss)

# %% [markdown]
# Once your backward passes, the cell below runs it on the digits batch and compares every
# stage with what minigrad's tape computed for that stage (a hook on each node catches it).

# %%
tape = exercises.tape_gradients(loss, stages)
if passed:
    mine = backward_by_hand(f, p, y)
    for name, verdict, gap in exercises.compare_stages(mine, tape):
        print(f"{name:<9} {verdict:<6} largest difference {gap:.1e}")

# %% [markdown]
# ## Train with your own backward
#
# A backward that is right is a backward that trains. The cell below runs plain gradient
# descent on 512 of the digits, once with your gradients and once with the tape's, from the
# same start: the two loss curves lie on top of each other.

# %%
x_train, y_train = x_all[:512], y_all[:512]


def descend(gradients, steps=150, lr=0.5):
    """Full-batch gradient descent from init_mlp's start; the loss after every step."""
    params = exercises.init_mlp((64, 32, 10), seed=0)
    losses = []
    for _ in range(steps):
        stages_now = exercises.mlp_stages(x_train, y_train, params)
        losses.append(stages_now["loss"].item())
        grads = gradients(stages_now, params)
        params = {k: params[k] - lr * grads[k] for k in params}
    return losses


def by_tape(stages_now, params):
    loss_now, on_tape = exercises.mlp_on_tape(x_train, y_train, params)
    return exercises.tape_gradients(loss_now, on_tape)


if passed:
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.plot(descend(lambda s, q: backward_by_hand(s, q, y_train)), label="your backward", lw=3)
    ax.plot(descend(by_tape), "--", label="minigrad's tape")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    ax.set_title("Gradient descent on the digits with hand-written gradients")
    ax.legend()
    plt.show()

# %% [markdown]
# **What to remember.** Cross-entropy's gradient with respect to the logits is
# $(\mathrm{softmax}(z) - \mathrm{onehot}(y)) / N$: probability minus truth, averaged. The
# stable log-softmax subtracts each row's max, a constant that changes nothing and whose
# gradient is zero. And a hand-written backward is four rules applied stage after stage:
# shapes match, uses add, broadcasts sum, and every stage multiplies in the local
# derivative of the stage before it.

# %% [markdown]
# **Next:** [Lesson 15: normalisation backward](15_normalisation_backward.ipynb) · **Previous:** [Lesson 13: data-parallel training](13_data_parallel.ipynb) · [Start here](00_start_here.ipynb)
