# %% [markdown]
# # Lesson 22: higher order: the backward pass is a program too
#
# Backprop turns a program (the forward pass on the tape) into another program: for each
# node, in reverse, a few operations that compute gradients from gradients. Until now that
# second program ran on plain tensors and left no trace. But it is made of the same kind of
# operations as the first (multiplications, sums, matrix products), so nothing stops us from
# *recording it on the tape too*. Then its results are Variables like any other, with a
# history, and we can differentiate them: the gradient of a gradient.
#
# That is `create_graph=True`, and it opens second derivatives: Hessian-vector products,
# Newton's method, gradient penalties. This lesson records a backward pass, steps through it
# in the TapeViewer, computes H v by differentiating twice, and races Newton's method
# against gradient descent on the Rosenbrock valley.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import TapeViewer

_ = torch.manual_seed(0)

# %% [markdown]
# ## The backward, recorded
#
# `mg.grad(outputs, inputs)` is the reverse walk of lesson 2, returning the gradients
# instead of adding them into `.grad` (as `torch.autograd.grad`). With
# `create_graph=True`, each gate's backward formula runs on Variables, so every operation
# in it is recorded, after the forward pass, on the same tape:

# %%
ctx = mg.Context(keep_outputs=True)
x = ctx.variable(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64), requires_grad=True, name="x")
w = ctx.variable(torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64), requires_grad=True, name="w")
f = (x.tanh() * w).sum()
(g,) = mg.grad(f, x, create_graph=True)  # df/dx = w (1 - tanh(x)^2), as a Variable
print(ctx)

# %% [markdown]
# Nodes 0 to 2 are the function. Nodes 3 to 7 are its backward: the column "backward of"
# says whose backward each one is. Read them bottom-up against the formula: Mul's backward
# (node 1) multiplied the gradient by w (node 3) and by tanh(x) (node 4: the gradient of w,
# which nobody asked for here, but the gate made it, as w requires grad); Tanh's backward
# (node 0) built 1 - y^2 and multiplied (nodes 5 to 7). Sum's backward only passed the seed
# gradient on: a constant, nothing to record.
#
# `g` is a Variable whose history is nodes 3 to 7, so a function of it can be walked back
# too. Here z = sum(g^2); its gradient flows back through the backward program, then
# through the function itself, and matches torch's double backward:

# %%
z = (g * g).sum()
tx = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
tw = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64, requires_grad=True)
(tg,) = torch.autograd.grad((tx.tanh() * tw).sum(), tx, create_graph=True)
(tg * tg).sum().backward()
viewer = TapeViewer(z)  # (before backward: the viewer needs the tape)
z.backward()
print("dz/dx:", x.grad, "\ntorch:", tx.grad)
print("dz/dw:", w.grad, "\ntorch:", tw.grad)

# %% [markdown]
# ## Stepping through a recorded backward
#
# The TapeViewer steps through the whole tape: first forward through *both* programs (the
# function, then the recorded backward, each of its steps saying whose backward it belongs
# to), then backward from z through all of it. Move the slider to step 4: that node is part
# of the recorded backward of node 1. Further on, the backward phase walks the backward
# program in reverse: the derivative of a derivative.

# %%
viewer.position = 4
viewer

# %% [markdown]
# ## Exercise: a Hessian-vector product by double backward
#
# The Hessian H of a function f with one number out is the matrix of its second
# derivatives. For a million weights H has 10^12 entries: nobody forms it. But H times a
# vector v is cheap: it is the gradient of one number, <g(x), v>, where g is the gradient of
# f. Write `hessian_vector_product(f, x, v)` with two calls of `mg.grad`.
# `exercises.hint("hvp_by_hand")` helps.

# %% tags=["exercise"]
# EXERCISE hvp_by_hand
def hessian_vector_product(f, x, v):
    """H(x) v for a function f of a Variable with one number out, by double backward."""
    # Your code here: replace the line below.
    raise NotImplementedError("differentiate twice")

# %% tags=["check"]
# CHECK hvp_by_hand
passed = exercises.check_hvp_by_hand(hessian_vector_product)

# %% [markdown]
# `mg.hvp(f, primals, tangents)` does exactly this, with the tape left as it was found;
# `torch.func` gets the same numbers by forward-over-reverse (a jvp of the gradient, which
# `mg.jvp` can do too: the recorded backward is a program like any other):

# %%
p = torch.tensor([-1.2, 1.0], dtype=torch.float64)
v = torch.tensor([1.0, -2.0], dtype=torch.float64)
_, by_minigrad = mg.hvp(exercises.rosenbrock, (p,), (v,))
_, forward_over_reverse = mg.jvp(lambda q: mg.grad(exercises.rosenbrock(q), q, create_graph=True)[0], (p,), (v,))
by_torch = torch.func.jvp(torch.func.grad(exercises.rosenbrock), (p,), (v,))[1]
print("mg.hvp:                 ", by_minigrad)
print("mg.jvp of the gradient: ", forward_over_reverse)
print("torch.func:             ", by_torch)
if passed:
    print("yours:                  ", hessian_vector_product(exercises.rosenbrock, p, v))

# %% [markdown]
# ## Newton's method
#
# Gradient descent steps along -g, with a step size you must choose; in a long, narrow
# valley it zigzags between the walls or crawls along the floor. Newton's method uses the
# curvature: near x, f is close to the parabola f(x) + g^T d + d^T H d / 2 in the step d,
# and Newton jumps to that parabola's lowest point. On a quadratic that is the minimum
# itself, in one step. The Rosenbrock function (1 - x)^2 + 100 (y - x^2)^2 is the classic
# curved valley; its minimum is at (1, 1).
#
# ## Exercise: one step of Newton's method
#
# Write `newton_step(f, x)` with `mg.grad` and `mg.hessian` (which returns H as a tensor).
# `exercises.hint("newton_step")` helps.

# %% tags=["exercise"]
# EXERCISE newton_step
def newton_step(f, x):
    """One step of Newton's method on f (a function of a Variable, one number out) from x."""
    # Your code here: replace the line below.
    raise NotImplementedError("return the new x")

# %% tags=["check"]
# CHECK newton_step
passed = exercises.check_newton_step(newton_step)

# %% [markdown]
# The race: from (-1.2, 1), gradient descent with the largest step size that does not blow
# up on this valley (lr = 0.002, 3000 steps), against your Newton steps.

# %%
def gradient_descent(f, start, lr, steps):
    path = [start]
    point = start
    for _ in range(steps):
        q = mg.tensor(point, requires_grad=True)
        (gradient,) = mg.grad(f(q), q)
        point = point - lr * gradient
        path.append(point)
    return torch.stack(path)


start = torch.tensor([-1.2, 1.0], dtype=torch.float64)
descent = gradient_descent(exercises.rosenbrock, start, lr=0.002, steps=3000)
newton = [start]
if passed:
    while len(newton) < 10 and float(exercises.rosenbrock(newton[-1])) > 1e-20:
        newton.append(newton_step(exercises.rosenbrock, newton[-1]))
newton = torch.stack(newton)

grid_x, grid_y = torch.meshgrid(torch.linspace(-2, 2, 200), torch.linspace(-3.5, 3, 260), indexing="xy")
fig, ax = plt.subplots(figsize=(6.5, 5))
ax.contour(grid_x, grid_y, exercises.rosenbrock(torch.stack([grid_x, grid_y])).log10(), levels=20, cmap="Greys")
ax.plot(descent[:, 0], descent[:, 1], ".-", color="tab:blue", markersize=2, linewidth=0.8,
        label=f"gradient descent, {len(descent) - 1} steps")
if passed:
    ax.plot(newton[:, 0], newton[:, 1], "o-", color="tab:red", label=f"Newton, {len(newton) - 1} steps")
ax.plot([1], [1], "*", color="gold", markersize=15, markeredgecolor="black", label="minimum (1, 1)")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.set_title("Rosenbrock: (1 - x)^2 + 100 (y - x^2)^2")
ax.legend(loc="lower right")
plt.show()
print(f"gradient descent after {len(descent) - 1} steps: {descent[-1].tolist()}, "
      f"f = {float(exercises.rosenbrock(descent[-1])):.2e}")
if passed:
    print(f"Newton after {len(newton) - 1} steps: {newton[-1].tolist()}, "
          f"f = {float(exercises.rosenbrock(newton[-1])):.2e}")
else:
    print("(pass the exercise above to draw Newton's path)")

# %% [markdown]
# Gradient descent reaches the valley floor fast and then crawls along it, 3000 steps and
# still short of (1, 1). Newton lands on it in a handful of steps, although not every step
# goes downhill: one overshoots far below the valley, where the parabola is a poor model of
# f, and the next one comes straight back (safeguarded versions limit the step). The price
# of all this: H has n^2 entries and a solve costs n^3, which is why networks with millions
# of weights use H v products (for conjugate gradients, or curvature estimates) instead of H
# itself.
#
# **What to remember.**
#
# * `create_graph=True` records the backward pass as ordinary nodes after the forward ones;
#   the gradients it returns are Variables that can be differentiated again. Without it, a
#   gradient is a plain tensor with no history.
# * H v is the gradient of <g, v>: two backward passes, never the whole H.
# * Newton's step x - H^{-1} g uses the curvature; it is exact on a quadratic.
# * A gradient penalty (WGAN-GP trains its critic with the norm of dD/dx) and
#   meta-learning (a gradient step inside the loss) are the same idea: a loss that contains
#   a gradient.

# %% [markdown]
# **That is the course.** See which exercises you passed on [Start here](00_start_here.ipynb) · **Previous:** [Lesson 21: forward mode](21_forward_mode.ipynb)
