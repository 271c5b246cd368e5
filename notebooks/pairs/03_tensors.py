# %% [markdown]
# # Lesson 3: tensors, broadcasting and matmul
#
# Lessons 1 and 2 used single numbers. Networks use tensors: a layer multiplies a batch of
# inputs by a weight matrix and adds a bias vector to every row. Two facts make tensor
# gradients work, and both come from the chain rule you already know:
#
# 1. **A value used several times receives the sum of the gradients of its uses.**
#    Broadcasting uses a value several times, so its gradient is a sum.
# 2. **A gradient has the shape of the value it belongs to.** For matmul that is
#    enough to *derive* the formulas: there is only one way to make the shapes fit.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets.lesson_plots import heatmap

_ = torch.manual_seed(0)

# %% [markdown]
# ## Broadcasting
#
# Adding a bias `b` of shape `(4,)` to activations `x` of shape `(3, 4)` adds `b` to each
# of the 3 rows. torch (and so minigrad) does this by *broadcasting*: dimensions of size 1,
# or missing on the left, are stretched to match. Nothing is copied in memory; each
# element of `b` is simply read 3 times.

# %%
x = mg.tensor(torch.randn(3, 4), requires_grad=True, name="x")
b = mg.tensor(torch.zeros(4), requires_grad=True, name="b")
y = x + b
print("x", tuple(x.shape), "+ b", tuple(b.shape), "->", tuple(y.shape))

# %% [markdown]
# ## Why the gradient of a broadcast is a sum
#
# Write out one element of the bias: $y_{i,j} = x_{i,j} + b_j$, for $i = 0, 1, 2$. So
# $b_j$ reaches the loss through three paths, one per row. The chain rule adds the paths:
#
# $$\frac{\partial L}{\partial b_j} = \sum_i \frac{\partial L}{\partial y_{i,j}}
#   \cdot \frac{\partial y_{i,j}}{\partial b_j} = \sum_i \frac{\partial L}{\partial y_{i,j}}.$$
#
# The gradient arriving at `y` has shape `(3, 4)`; summing it over the stretched dimension
# gives shape `(4,)`, the shape of `b`.

# %%
weights = torch.arange(12.0).reshape(3, 4)  # a loss that weighs each y differently
loss = (y * weights).sum()
loss.backward()
print("dL/dy (the weights):\n", weights)
print("b.grad:", b.grad.tolist())
print("column sums of dL/dy:", weights.sum(0).tolist())
assert torch.equal(b.grad, weights.sum(0))

# %% [markdown]
# The same holds when *both* inputs are stretched: a column `(3, 1)` plus a row `(4,)`
# gives a `(3, 4)` table; the column's gradient sums over the columns, the row's over the
# rows. The picture shows the gradient flowing back as a table, and the two sums that
# collapse it onto each input.

# %%
col = mg.tensor(torch.randn(3, 1), requires_grad=True, name="col")
row = mg.tensor(torch.randn(4), requires_grad=True, name="row")
table = col + row
(table * weights).sum().backward()
print("col.grad", col.grad.flatten().tolist(), "= row sums", weights.sum(1).tolist())
print("row.grad", row.grad.tolist(), "= column sums", weights.sum(0).tolist())

# Each cell says its value (the colours only help the eye).
tables = {"dL/d(col + row)  (3, 4)": weights, "col.grad (3, 1)": col.grad,
          "row.grad (4,)": row.grad.reshape(1, 4)}  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), width_ratios=[4, 1.3, 4], layout="constrained")
for ax, (title, values) in zip(axes, tables.items()):
    heatmap(ax, values, fmt="{:g}")
    ax.set_title(title)
plt.show()

# %% [markdown]
# If an op forgot the sum, its gradient would have the wrong shape. minigrad refuses such a
# gradient with a `GradientError` whose help line says to sum over the broadcast
# dimensions, so this bug cannot slip through silently.
#
# ### Exercise: sum a gradient back to its input's shape
#
# Every op that broadcasts needs the same helper: given the gradient of the broadcast
# *result* and the *shape of the input*, return that input's gradient. Broadcasting can add
# dimensions on the left (`(4,)` against `(3, 4)`) and stretch dimensions of size 1 (`(3, 1)`
# against `(3, 4)`), or both at once. Write `sum_to_shape(grad, shape)` with torch ops; the
# check tries ten patterns, including a scalar and an input that was not broadcast at all.

# %% tags=["exercise"]
# EXERCISE sum_to_shape
def sum_to_shape(grad, shape):
    """Sum grad (the gradient of a broadcast result) back to the input's shape."""
    # Your code here: replace the line below.
    raise NotImplementedError("write sum_to_shape")


# %% tags=["check"]
# CHECK sum_to_shape
passed = exercises.check_sum_to_shape(sum_to_shape)

# %% [markdown]
# minigrad's own `sum_to_shape`, in `minigrad/ops/broadcast.py`, is used by every op that
# broadcasts (add, mul, where, ...). Read it and compare it with yours.
#
# ## Matmul's gradient, by shapes
#
# For $Y = AB$ with $A$ of shape $(n, k)$ and $B$ of shape $(k, m)$, each element is
# $Y_{ij} = \sum_p A_{ip} B_{pj}$. Let $G = \partial L / \partial Y$, shape $(n, m)$.
#
# You could differentiate the sum element by element. The quicker way is to trust two
# facts: the answer is linear in $G$ (the chain rule multiplies by $G$), and it has the shape
# of the input. $\partial L/\partial A$ must be $(n, k)$, built from $G$ $(n, m)$ and $B$
# $(k, m)$. Which product of those two has shape $(n, k)$? Only one.

# %% [markdown]
# ### Exercise: write matmul's backward
#
# Fill in `matmul_backward` so that it returns `(dL/dA, dL/dB)` as plain torch tensors. Use
# only `@` and `.T`, guided by the shapes. The check cell below tells you which element is
# wrong and what it expected.

# %% tags=["exercise"]
# EXERCISE matmul_grad
def matmul_backward(a, b, g):
    """Gradients of L with respect to a (n, k) and b (k, m), given g = dL/d(a @ b) (n, m)."""
    # Your code here: replace the line below.
    raise NotImplementedError("fill in matmul_backward")


# %% tags=["check"]
# CHECK matmul_grad
passed = exercises.check_matmul_grad(matmul_backward)

# %% [markdown]
# ### Exercise: a linear layer's backward
#
# A linear layer computes $y = x W^\top + b$ for a batch: `x` is `(n, i)` (n examples of i
# features), `W` is `(o, i)`, the bias `b` is `(o,)` and is added to every row. Given
# $G = \partial L/\partial y$, shape `(n, o)`, write `linear_backward(x, w, b, g)` returning
# $(\partial L/\partial x,\ \partial L/\partial W,\ \partial L/\partial b)$. It combines
# the two exercises above: a matmul, then a broadcast.

# %% tags=["exercise"]
# EXERCISE linear_backward
def linear_backward(x, w, b, g):
    """(dL/dx, dL/dw, dL/db) for y = x @ w.T + b, given g = dL/dy of shape (n, o)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write linear_backward")


# %% tags=["check"]
# CHECK linear_backward
passed = exercises.check_linear_backward(linear_backward)

# %% [markdown]
# ## Check it against minigrad
#
# minigrad's `MatMul` gate (in `minigrad/ops/linalg.py`) does the same, and also handles
# vectors and batches of matrices, where broadcasting brings the sum back. Here is a batch:
# `a` is `(5, 2, 3)` (five matrices) and `w` is `(3, 4)`, shared by all five. Since `w` is
# used five times, its gradient sums five matrix products.

# %%
a = mg.tensor(torch.randn(5, 2, 3), requires_grad=True, name="a")
w = mg.tensor(torch.randn(3, 4), requires_grad=True, name="w")
out = a @ w
g = torch.randn(out.shape)
out.backward(g)
by_hand = sum(a.value[i].T @ g[i] for i in range(5))
print("w.grad shape", tuple(w.grad.shape), "matches the sum of five A_i^T G_i:",
      torch.allclose(w.grad, by_hand, atol=1e-5))

# %% [markdown]
# **What to remember.** Broadcasting reuses values, so their gradients are sums over the
# stretched dimensions. For matmul, let the shapes write the formula:
# $\partial L/\partial A = G B^\top$, $\partial L/\partial B = A^\top G$. A linear layer is
# both: $\partial L/\partial W = G^\top x$, and the bias's gradient sums $G$ over the batch.

# %% [markdown]
# **Next:** [Lesson 4: writing your own Gate](04_your_own_gate.ipynb) · **Previous:** [Lesson 2: the tape](02_the_tape.ipynb) · [Start here](00_start_here.ipynb)
