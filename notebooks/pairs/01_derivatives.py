# %% [markdown]
# # Lesson 1: derivatives and the chain rule
#
# Training a neural network is one idea repeated: change each number a little in the
# direction that makes the loss smaller. "The direction" is the **derivative** of the loss
# with respect to that number. This lesson builds the derivative from its definition, then
# shows how the **chain rule** turns a long computation into a product of small, local
# derivatives, which is all that automatic differentiation does.
#
# We compute a small example three ways: by hand, with finite differences, and with
# minigrad. When all three agree, you know what minigrad is doing for you.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises

_ = torch.manual_seed(0)

# %% [markdown]
# ## What a derivative is
#
# The derivative of $f$ at $x$ is the slope you see when you zoom in far enough that the
# curve looks straight:
#
# $$f'(x) = \lim_{h \to 0} \frac{f(x+h) - f(x)}{h}.$$
#
# We can't take a limit on a computer, but we can take a small $h$ and look. Take
# $f(x) = 3x^2 - 4x + 5$; by the rules of calculus $f'(x) = 6x - 4$, so $f'(3) = 14$.

# %%
def f(x):
    return 3 * x**2 - 4 * x + 5


for h in [1.0, 0.1, 0.01, 0.001]:
    print(f"h = {h:<6} slope = {(f(3 + h) - f(3)) / h:.4f}")

# %% [markdown]
# The slope approaches 14 as $h$ shrinks. The picture: the tangent line at $x = 3$ touches
# the curve and has slope $f'(3)$. The derivative tells you how much $f$ changes *per unit*
# of change in $x$, near $x$.

# %%
xs = torch.linspace(-2, 5, 100)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(xs, f(xs), label="f(x) = 3x² - 4x + 5")
ax.plot(xs, f(3) + 14 * (xs - 3), "--", label="tangent at x = 3, slope 14")
ax.scatter([3], [f(3)], color="black", zorder=3)
ax.set_ylim(-5, 60)
ax.legend()
ax.set_title("The derivative is the slope of the tangent")
plt.show()

# %% [markdown]
# ## The chain rule
#
# Real computations are compositions: $L = g(h(x))$. If $x$ nudges $h$ by a factor
# $h'(x)$, and $h$ nudges $L$ by a factor $g'(h)$, then $x$ nudges $L$ by the product:
#
# $$\frac{dL}{dx} = \frac{dL}{dh}\cdot\frac{dh}{dx}.$$
#
# The point is that each factor is **local**: it only needs to know its own operation and
# its own inputs. A multiplication $e = a \cdot b$ knows $\partial e/\partial a = b$ and
# $\partial e/\partial b = a$, whatever comes before or after it. Multiply the local factors
# along the path from $L$ back to an input and you have that input's gradient.
#
# Here is a small expression (the same size as the one in Karpathy's micrograd):
#
# $$e = a \cdot b,\quad d = e + c,\quad L = d \cdot f,\qquad a=2,\ b=-3,\ c=10,\ f=-2.$$

# %%
a, b, c, f_ = 2.0, -3.0, 10.0, -2.0
e = a * b  # -6
d = e + c  # 4
L = d * f_  # -8
print(f"e = {e}, d = {d}, L = {L}")

# %% [markdown]
# ### By hand, from the output backwards
#
# Start at $L$: $dL/dL = 1$. Then walk back one operation at a time, multiplying by the
# local derivative:
#
# | quantity | local rule | value |
# |---|---|---|
# | $dL/dd$ | $L = d f \Rightarrow \partial L/\partial d = f$ | $-2$ |
# | $dL/df$ | $\partial L/\partial f = d$ | $4$ |
# | $dL/dc$ | $d = e + c \Rightarrow \partial d/\partial c = 1$, times $dL/dd$ | $-2$ |
# | $dL/de$ | $\partial d/\partial e = 1$, times $dL/dd$ | $-2$ |
# | $dL/da$ | $e = a b \Rightarrow \partial e/\partial a = b$, times $dL/de$ | $(-3)(-2) = 6$ |
# | $dL/db$ | $\partial e/\partial b = a$, times $dL/de$ | $(2)(-2) = -4$ |
#
# Notice the order: we needed $dL/dd$ before $dL/de$, and $dL/de$ before $dL/da$. Gradients
# flow from the output towards the inputs. That is why backpropagation runs in reverse.

# %%
by_hand = {"a": 6.0, "b": -4.0, "c": -2.0, "f": 4.0}

# %% [markdown]
# ### By finite differences
#
# Nudge one input at a time and watch $L$ move. This needs no calculus at all, only the
# forward computation, which is why it is the referee for every gradient in this course
# (lesson 5 makes it precise).

# %%
def forward(a, b, c, f):
    return (a * b + c) * f


inputs = {"a": a, "b": b, "c": c, "f": f_}
h = 1e-6
numeric = {}
for name in inputs:
    plus = dict(inputs, **{name: inputs[name] + h})
    minus = dict(inputs, **{name: inputs[name] - h})
    numeric[name] = (forward(**plus) - forward(**minus)) / (2 * h)
print({k: round(v, 6) for k, v in numeric.items()})

# %% [markdown]
# ### With minigrad
#
# minigrad records each operation as it runs, then `backward()` applies exactly the table
# above, in reverse. The inputs are `Variable`s that ask for a gradient; after `backward()`
# each one holds $dL/d(\text{input})$ in `.grad`. We use float64 so that the comparison is
# exact to many digits.

# %%
A = mg.tensor(a, requires_grad=True, name="a", dtype=torch.float64)
B = mg.tensor(b, requires_grad=True, name="b", dtype=torch.float64)
C = mg.tensor(c, requires_grad=True, name="c", dtype=torch.float64)
F = mg.tensor(f_, requires_grad=True, name="f", dtype=torch.float64)
loss = (A * B + C) * F
loss.backward()
by_minigrad = {v.name: v.grad.item() for v in (A, B, C, F)}
print("L =", loss.item())
for name in by_hand:
    print(
        f"dL/d{name}: by hand {by_hand[name]:+.1f}   finite diff {numeric[name]:+.6f}   "
        f"minigrad {by_minigrad[name]:+.1f}"
    )
    assert abs(by_minigrad[name] - by_hand[name]) < 1e-12

# %% [markdown]
# ### Exercise: your turn
#
# Now a new expression, with nobody's table to copy:
#
# $$p = a + b,\quad q = c - d,\quad L = p \cdot q.$$
#
# Write `expression_grads(a, b, c, d)`, returning $(dL/da,\ dL/db,\ dL/dc,\ dL/dd)$ as four
# numbers, for any values of the inputs. Walk back from $L$ as the table above does. The check
# tries several points and tells you which gradient is wrong and what kind of mistake it looks
# like; `exercises.hint("expression_grads")` gives a hint.

# %% tags=["exercise"]
# EXERCISE expression_grads
def expression_grads(a, b, c, d):
    """(dL/da, dL/db, dL/dc, dL/dd) for L = (a + b) * (c - d)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write expression_grads")


# %% tags=["check"]
# CHECK expression_grads
passed = exercises.check_expression_grads(expression_grads)

# %% [markdown]
# ## A neuron, the same way
#
# A neuron computes $o = \tanh(w_1 x_1 + w_2 x_2 + b)$. The only new local rule is the
# derivative of tanh,
#
# $$\frac{d}{dz}\tanh z = 1 - \tanh^2 z:$$
#
# a unit that saturates (output near ±1) passes almost no gradient back. Keep that in mind
# for lesson 12.
#
# ### Exercise: the neuron's gradients
#
# Write `neuron_grads(x, w, b)` for $o = \tanh(\sum_i w_i x_i + b)$: it returns $dO/dw$ (a
# tensor shaped like `w`) and $dO/db$ (a number). `x` and `w` are float64 tensors of any
# length; use torch ops, which work on all elements at once.

# %% tags=["exercise"]
# EXERCISE tanh_neuron
def neuron_grads(x, w, b):
    """(dO/dw, dO/db) for o = tanh(sum(w * x) + b)."""
    # Your code here: replace the line below.
    raise NotImplementedError("write neuron_grads")


# %% tags=["check"]
# CHECK tanh_neuron
passed = exercises.check_tanh_neuron(neuron_grads)

# %% [markdown]
# minigrad computes the same two gradients with one `backward()`. Once your function passes,
# the cell below prints yours beside minigrad's for one neuron (the one lesson 2 records on
# a tape).

# %%
x = mg.tensor([2.0, 0.0], name="x", dtype=torch.float64)
w = mg.tensor([-3.0, 1.0], requires_grad=True, name="w", dtype=torch.float64)
bias = mg.tensor(6.8813735870195432, requires_grad=True, name="b", dtype=torch.float64)
o = ((x * w).sum() + bias).tanh()
o.backward()
print(f"o = {o.item():.4f}")
print(f"minigrad: dO/dw = {[round(v, 4) for v in w.grad.tolist()]}, dO/db = {bias.grad.item():.4f}")
if passed:
    mine_w, mine_b = neuron_grads(x.value, w.value, bias.item())
    mine_w = [round(v, 4) for v in torch.as_tensor(mine_w).tolist()]
    print(f"yours:    dO/dw = {mine_w}, dO/db = {float(mine_b):.4f}")

# %% [markdown]
# ## Look: the gradient as a function of the input
#
# A derivative is itself a function. Below, minigrad computes $\tanh'(z)$ at 200 points in
# one backward pass (each output depends on its own input only, so the gradient of the
# sum gives every slope at once). Where $|z|$ is large the curve is flat and the gradient
# vanishes.

# %%
zs = mg.tensor(torch.linspace(-4, 4, 200), requires_grad=True)
ys = zs.tanh()
ys.sum().backward()
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(zs.value, ys.value, label="tanh(z)")
ax.plot(zs.value, zs.grad, label="d tanh / dz (from minigrad)")
ax.axhline(0, color="gray", lw=0.5)
ax.legend()
ax.set_title("Saturated units pass little gradient")
plt.show()

# %% [markdown]
# **What to remember.** A derivative is a local rate of change. The chain rule multiplies
# local rates along a path, starting from the output. Next lesson: how minigrad records the
# path (the *tape*) and walks it backwards.

# %% [markdown]
# **Next:** [Lesson 2: the tape](02_the_tape.ipynb) · **Previous:** [Start here](00_start_here.ipynb)
