# %% [markdown]
# # Lesson 4: writing your own Gate
#
# Every op in minigrad is a small class, a **Gate**, with two methods side by side:
#
# * `forward(*tensors)` computes the output from plain torch tensors and keeps on `self`
#   whatever the backward will need;
# * `backward(grad_output)` receives $\partial L/\partial y$ and returns one gradient per
#   input: $\partial L/\partial x = \partial L/\partial y \cdot \partial y/\partial x$.
#
# That is the whole contract. The engine (lesson 2) records the call on the tape and calls
# `backward` at the right moment. Because you only ever write the *local* derivative, a new
# op costs a few lines, and a gradient check (lesson 5) tells you if you got it right.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises

_ = torch.manual_seed(0)

# %% [markdown]
# ## A worked example: the cube
#
# $y = x^3$, so $\partial y/\partial x = 3x^2$. Forward keeps `x`; backward multiplies the
# incoming gradient by the local derivative. Note the tuple: one entry per input, even when
# there is only one input.

# %%
class Cube(mg.Gate):
    """y = x**3.   dy/dx = 3 x**2."""

    def forward(self, x):
        self.x = x  # backward needs x
        return x**3

    def backward(self, grad_output):
        return (grad_output * 3 * self.x**2,)


x = mg.tensor([1.0, -2.0, 0.5], requires_grad=True, name="x")
y = Cube()(x)
y.sum().backward()
print("y =", y.value.tolist())
print("x.grad =", x.grad.tolist(), " (3 x² =", (3 * x.value**2).tolist(), ")")

# %% [markdown]
# A gate instance is used **once**: it is the tape's memory of that one call, which is why
# we write `Cube()(x)` and not reuse an instance. `mg.gradcheck_gate` checks a gate class on
# random float64 inputs against finite differences:

# %%
print(mg.gradcheck_gate(Cube, (4, 3)))

# %% [markdown]
# ## When the contract is broken, the engine says so
#
# Forgetting the tuple is the most common slip. The engine checks the count and the shape
# of every gradient a backward returns, and names the gate and its place on the tape:

# %%
class ForgetfulCube(Cube):
    def backward(self, grad_output):
        return grad_output * 3 * self.x**2  # not a tuple


x = mg.tensor([1.0, 2.0], requires_grad=True)
try:
    ForgetfulCube()(x).sum().backward()
except mg.GradientError as error:
    print(error)

# %% [markdown]
# ## Two inputs, and inputs that need no gradient
#
# For a gate with several inputs, `backward` returns several gradients, and
# `self.needs_input_grad` says which ones anybody asked for, so the gate can skip work. Here
# is $y = a \cdot e^{b}$ with $\partial y/\partial a = e^b$ and $\partial y/\partial b =
# a e^b = y$:

# %%
class ScaledExp(mg.Gate):
    """y = a * exp(b).   dy/da = exp(b),  dy/db = a * exp(b) = y."""

    def forward(self, a, b):
        self.exp_b = torch.exp(b)
        self.out = a * self.exp_b
        return self.out

    def backward(self, grad_output):
        need_a, need_b = self.needs_input_grad
        return (
            grad_output * self.exp_b if need_a else None,
            grad_output * self.out if need_b else None,
        )


print(mg.gradcheck_gate(ScaledExp, (3,), (3,)))

# %% [markdown]
# ### Exercise: a division gate
#
# Write the backward of `Divide`, $y = a / b$. It must return a pair, one gradient per
# input, and `None` in place of a gradient that `self.needs_input_grad` says nobody asked
# for (the check calls it with only `a`, only `b`, and both requiring a gradient). Work the
# two local derivatives out yourself: $a / b = a \cdot b^{-1}$ helps with the second.

# %% tags=["exercise"]
# EXERCISE divide_gate
class Divide(mg.Gate):
    """y = a / b."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad_output):
        # Your code here: return (grad_a, grad_b), with None where no gradient is needed.
        raise NotImplementedError("write Divide.backward")


# %% tags=["check"]
# CHECK divide_gate
passed = exercises.check_divide_gate(Divide)

# %% [markdown]
# ## Exercise: Softplus
#
# Softplus is a smooth ReLU: $y = \log(1 + e^x)$. `forward` is written for you (torch's
# `softplus` is the numerically stable form: for large $x$, $e^x$ overflows while
# $y \approx x$). Write `backward`: work out $dy/dx$ by the chain rule (the derivative of
# $\log u$ is $1/u$), then see whether it simplifies into a function torch already has.
# The check also tries $x = \pm 800$, where $e^{800}$ overflows even in float64, so your
# backward must stay finite there. Remember the tuple.

# %% tags=["exercise"]
# EXERCISE softplus_gate
class Softplus(mg.Gate):
    """y = log(1 + exp(x))."""

    def forward(self, x):
        self.x = x
        return torch.nn.functional.softplus(x)

    def backward(self, grad_output):
        # Your code here: return a tuple with one gradient, shaped like x.
        raise NotImplementedError("write Softplus.backward")


# %% tags=["check"]
# CHECK softplus_gate
passed = exercises.check_softplus_gate(Softplus)

# %% [markdown]
# ## Look at it
#
# The derivative of softplus is $\frac{e^x}{1 + e^x} = \frac{1}{1 + e^{-x}} = \sigma(x)$, the
# sigmoid: written the second way it never overflows. The plot shows softplus next to ReLU,
# and below them the two gradients: ReLU's jumps from 0 to 1 at $x = 0$, while softplus's
# glides, so no unit is ever completely switched off (lesson 12 comes back to "dead"
# ReLUs). The softplus gradient is the one *your* backward computes, so it appears once
# your gate passes.

# %%
zs = mg.tensor(torch.linspace(-5, 5, 201), requires_grad=True)
ys = Softplus()(zs)
fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 4.8), sharex=True)
top.plot(zs.value, ys.value, label="softplus(x)")
top.plot(zs.value, torch.relu(zs.value), ":", label="relu(x)")
top.legend()
top.set_title("Softplus, a smooth ReLU")
bottom.plot(zs.value, (zs.value > 0).double(), ":", label="relu'(x): a jump from 0 to 1")
if passed:
    ys.sum().backward()
    bottom.plot(zs.value, zs.grad, label="your backward: d softplus / dx")
bottom.legend()
bottom.set_xlabel("x")
plt.show()

# %% [markdown]
# ## Exercise: logsumexp, stable at ±800
#
# $\operatorname{logsumexp}(x) = \log \sum_j e^{x_j}$, over the last dimension, appears in
# every classifier's loss (lesson 9). Written as it reads it breaks on ordinary numbers:
# $e^{800}$ overflows to `inf`, and for $x = (-800, -801)$ every $e^{x_j}$ underflows to 0,
# whose log is $-\infty$. Yet the true values are about 800.3 and -799.7. Write both
# methods of `LogSumExp`: a `forward` that stays finite at ±800 (find a constant you can
# take out of the sum), and its `backward` (one output per row, so `grad_output` has one
# dimension fewer than `x`).

# %% tags=["exercise"]
# EXERCISE logsumexp_gate
class LogSumExp(mg.Gate):
    """y = log(sum_j exp(x_j)) over the last dimension of x."""

    def forward(self, x):
        # Your code here: return the result, and keep on self what backward needs.
        raise NotImplementedError("write LogSumExp.forward")

    def backward(self, grad_output):
        # Your code here: return a tuple with one gradient, shaped like x.
        raise NotImplementedError("write LogSumExp.backward")


# %% tags=["check"]
# CHECK logsumexp_gate
passed = exercises.check_logsumexp_gate(LogSumExp)

# %% [markdown]
# minigrad's `mg.logsumexp` (in `minigrad/ops/reductions.py`) calls torch's `logsumexp`,
# which uses the same trick; the cross-entropy loss of lesson 9 is $\operatorname{logsumexp}(z)
# - z_y$, computed by torch's `log_softmax`, stable the same way.
# `mg.gradcheck_gate(LogSumExp, (3, 4))` checks yours against finite differences.

# %% [markdown]
# **What to remember.** A gate is forward and backward side by side; backward returns one
# gradient per input, each shaped like its input. Check every new gate with a gradient check
# before you trust it: that is the next lesson.

# %% [markdown]
# **Next:** [Lesson 5: gradient checking](05_gradient_checking.ipynb) · **Previous:** [Lesson 3: tensors, broadcasting and matmul](03_tensors.ipynb) · [Start here](00_start_here.ipynb)
