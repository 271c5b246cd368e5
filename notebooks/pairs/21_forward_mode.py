# %% [markdown]
# # Lesson 21: forward mode
#
# Backprop answers one question about a function y = f(x): *how does one number at the end
# (the loss) change when each input changes?* It walks the tape backwards, from the output
# to the inputs, and one walk gives a gradient for every input at once. In the language of
# the Jacobian J (the matrix of every dy_i/dx_j), one reverse walk computes u^T J: one
# **row** of J's action, a vector-Jacobian product (VJP).
#
# There is a second question: *if the inputs move a little along a direction v, how does
# every output move?* That is J v, a **column** of J's action, a Jacobian-vector product
# (JVP). It is answered by walking the same tape *forwards*, carrying along with each value
# its **tangent**: how that value moves. That is **forward mode**.
#
# This lesson builds forward mode on minigrad's tape, writes the rule that each gate needs
# for it, and measures when it beats backprop.

# %%
import time

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises

_ = torch.manual_seed(0)


def f(x):
    """A small function of a vector: tensor methods only, so it runs on tensors and Variables."""
    return (x * x).tanh() * x


x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
v = torch.tensor([1.0, 0.5, 0.0], dtype=torch.float64)
y, moved = mg.jvp(f, (x,), (v,))
print("f(x)  =", y)
print("J v   =", moved)

# %% [markdown]
# `mg.jvp(f, primals, tangents)` takes torch.func's arguments and returns `(f(x), J v)`.
# Three independent checks say that `J v` is right: the central difference
# (f(x + eps v) - f(x - eps v)) / 2 eps, torch's own forward mode, and backprop, which gives
# J^T u: the tangent's dot product with any u must equal v's dot product with J^T u.

# %%
eps = 1e-6
numeric = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
_, by_torch = torch.func.jvp(f, (x,), (v,))
u = torch.randn(3, dtype=torch.float64)
_, vjp_fn = mg.vjp(f, x)
(pulled,) = vjp_fn(u)
print("central difference:", numeric)
print("torch.func.jvp:    ", by_torch)
print(f"<J v, u> = {float(moved @ u):.12f}   <v, J^T u> = {float(v @ pulled):.12f}")

# %% [markdown]
# ## Forward mode walks the tape forwards
#
# `mg.jvp` records f on the tape as any forward pass does, then reads the tape a second
# time, in the order it ran. At each node it hands the gate the tangent of each of its
# inputs and gets back the tangent of its output, with the gate's `jvp` rule. Here is that
# walk written out, node by node, on the tape of f:

# %%
ctx = mg.Context()
xv = ctx.variable(x, requires_grad=True, name="x")
out = f(xv)
print(ctx)

tangent = {xv.leaf_edge: v}  # an edge (where a value came from) -> its tangent
for node in ctx.nodes:
    coming_in = [None if p is None else tangent.get(p) for p in node.parents]
    going_out = node.gate.jvp(*coming_in)
    tangent[(node, 0)] = going_out
    print(f"node {node.index} {node.op:5}: tangent {going_out}")
ctx.clear()

# %% [markdown]
# The last tangent is J v, as `mg.jvp` gave. Nothing was stored for later: forward mode
# needs no tape at all when the tangents ride along with the values as they are computed
# (JAX and torch.func do it that way); minigrad reads its tape because it has one, and so
# forward and reverse mode are two interpreters of one program, as in JAX's Autodidax.
#
# ## Exercise: jvp rules for five gates
#
# A gate's `jvp(self, *tangents)` gets one tangent per input, shaped like that input, and
# returns the tangent of the output: how the output moves when each input moves by its
# tangent, to first order. The local derivatives are the ones backward uses; what changes
# is the direction: backward sends a gradient *back* to each input, jvp adds up what each
# input's movement does *forward* to the output. Forward has already run and saved what the
# rule needs on `self`, exactly as for backward.
#
# Each class below is minigrad's own gate with its `jvp` left for you to write (both
# tangents are given to the two-input gates here). `exercises.hint("jvp_rules")` helps.

# %% tags=["exercise"]
# EXERCISE jvp_rules
class Exp(mg.Exp):
    """y = exp(x). forward kept y as self.out."""

    def jvp(self, t):
        # Your code here: replace the line below.
        raise NotImplementedError("return how y moves when x moves by t")


class Sigmoid(mg.Sigmoid):
    """y = 1 / (1 + exp(-x)). forward kept y as self.out."""

    def jvp(self, t):
        # Your code here: replace the line below.
        raise NotImplementedError("return how y moves when x moves by t")


class Mul(mg.Mul):
    """y = a * b. forward kept a and b as self.a and self.b; both tangents are given."""

    def jvp(self, ta, tb):
        # Your code here: replace the line below.
        raise NotImplementedError("return how y moves when a moves by ta and b by tb")


class MatMul(mg.MatMul):
    """Y = A @ B. forward kept A and B as self.a and self.b; both tangents are given."""

    def jvp(self, ta, tb):
        # Your code here: replace the line below.
        raise NotImplementedError("return how Y moves when A moves by ta and B by tb")


class Softmax(mg.Softmax):
    """y = softmax(x) along self.dim. forward kept y as self.out."""

    def jvp(self, t):
        # Your code here: replace the line below.
        raise NotImplementedError("return how y moves when x moves by t")


JVP_RULES = (Exp, Sigmoid, Mul, MatMul, Softmax)

# %% tags=["check"]
# CHECK jvp_rules
passed = exercises.check_jvp_rules(JVP_RULES)

# %% [markdown]
# Once your rules pass, here they are against torch's own forward mode, each on random
# inputs and tangents:

# %%
if passed:
    a, b = torch.randn(3, 4, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    ta, tb = torch.randn_like(a), torch.randn_like(b)
    runs = {
        "exp": (lambda p: Exp()(p), torch.exp, (a,), (ta,)),
        "sigmoid": (lambda p: Sigmoid()(p), torch.sigmoid, (a,), (ta,)),
        "mul": (lambda p, q: Mul()(p, q), torch.mul, (a, a.flip(0)), (ta, ta.flip(1))),
        "matmul": (lambda p, q: MatMul()(p, q), torch.matmul, (a, b), (ta, tb)),
        "softmax": (lambda p: Softmax(1)(p), lambda p: torch.softmax(p, 1), (a,), (ta,)),
    }
    for name, (ours, theirs, primals, tangents) in runs.items():
        mine = mg.jvp(ours, primals, tangents)[1]
        reference = torch.func.jvp(theirs, primals, tangents)[1]
        print(f"{name:8} largest difference from torch.func.jvp: {float((mine - reference).abs().max()):.1e}")

# %% [markdown]
# ## A gate without a rule: the double-VJP trick
#
# Every gate of minigrad has a `jvp` rule beside its backward. A gate you write yourself
# (lesson 4) may not, and forward mode still works through it. Its backward is a linear
# function of the gradient u that arrives: g(u) = J^T u. So <g(u), t> = <u, J t>, and the
# gradient of that number *with respect to u* is J t, the tangent we want. minigrad runs
# the gate's backward on a Variable u, records it (`create_graph`, lesson 22), and walks
# back through it once. It costs about two backward passes instead of one rule, and needs
# the backward to be written with operations Variables have (operators, tensor methods).

# %%
class Cube(mg.Gate):
    """y = x**3,   dy/dx = 3 x**2: forward and backward only, no jvp."""

    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, grad_output):
        return (grad_output * 3 * self.x**2,)


_, moved = mg.jvp(lambda p: Cube()(p), (x,), (v,))
print("J v by double VJP:", moved)
print("3 x^2 v          :", 3 * x**2 * v)

# %% [markdown]
# ## Exercise: a Jacobian from n jvps
#
# For f from n inputs to m outputs, J is an m x n matrix: row i says how output i moves
# with each input, column j how every output moves with input j. One jvp along a direction
# gives J times that direction. Write `jacobian_forward(f, x)`, the whole Jacobian of f at
# x, with `mg.jvp` only. `exercises.hint("jacobian_by_jvps")` helps.

# %% tags=["exercise"]
# EXERCISE jacobian_by_jvps
def jacobian_forward(f, x):
    """The Jacobian of f at x, shape (m, n) for n inputs and m outputs, from n jvps."""
    # Your code here: replace the line below.
    raise NotImplementedError("build J from jvps")

# %% tags=["check"]
# CHECK jacobian_by_jvps
passed = exercises.check_jacobian_by_jvps(jacobian_forward)

# %% [markdown]
# ## When forward mode beats reverse mode
#
# A whole Jacobian costs n forward walks (one column each) or m reverse walks (one row
# each). So forward mode wins when the function has **few inputs and many outputs**, and
# reverse mode when it has many inputs and few outputs. A loss has one output and millions
# of inputs (the weights): that is why training uses backprop. But a curve through space,
# a physical simulation driven by a few parameters, or the sensitivity of a whole image to
# one knob have few inputs: there forward mode is the cheaper one.
#
# Below, f(x) = tanh(W x) goes from n inputs to m = 32 outputs. Its Jacobian is computed
# both ways, as n jvps (each runs f forward with its tangent) and as m vjps (one recorded
# forward pass, walked back m times), for n from 2 to 128.

# %%
torch.set_num_threads(1)
m = 32
sizes = [2, 4, 8, 16, 32, 64, 128]
forward_times, reverse_times = [], []
for n in sizes:
    w = torch.randn(m, n, dtype=torch.float64) / n**0.5
    g = lambda p, w=w: (w @ p).tanh()  # noqa: E731
    point = torch.randn(n, dtype=torch.float64)

    def by_jvps():
        return torch.stack([mg.jvp(g, (point,), (e,))[1] for e in torch.eye(n, dtype=point.dtype)], 1)

    def by_vjps():
        with mg.Context():
            _, pull = mg.vjp(g, point)
            return torch.stack([pull(e)[0] for e in torch.eye(m, dtype=point.dtype)])

    assert torch.allclose(by_jvps(), by_vjps())  # the same Jacobian, both ways
    for measure, times in ((by_jvps, forward_times), (by_vjps, reverse_times)):
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            measure()
            runs.append(time.perf_counter() - start)
        times.append(sorted(runs)[1] * 1e3)

fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(sizes, forward_times, "o-", label="n jvps (forward mode)")
ax.plot(sizes, reverse_times, "s-", label=f"m = {m} vjps (reverse mode)")
ax.axvline(m, color="grey", linestyle=":", label="n = m")
ax.set_xscale("log", base=2)
ax.set_yscale("log")
ax.set_xlabel("n, the number of inputs")
ax.set_ylabel("time for the whole Jacobian (ms)")
ax.set_title("f: R^n -> R^32, its Jacobian both ways")
ax.legend()
plt.show()
for n, a, b in zip(sizes, forward_times, reverse_times):
    print(f"n = {n:3}: {a:6.1f} ms by jvps, {b:6.1f} ms by vjps  ({'forward' if a < b else 'reverse'} wins)")

# %% [markdown]
# The forward-mode cost grows with n, the reverse-mode cost stays put (it grows with m).
# They cross below n = m, not at it: each jvp runs f itself again (forward mode computes
# the values and the tangents together), while the m vjps share one recorded forward pass
# and only walk back. So one jvp costs about two vjps here, and forward mode wins for n up
# to a fraction of m. (Carrying several tangents at once, as torch.func's vmap does, would
# run f once for all of them.)
#
# **What to remember.**
#
# * A jvp pushes a tangent forwards through the tape: J v. A vjp pulls a gradient back:
#   u^T J. They describe the same J: <J v, u> = <v, J^T u>.
# * Each gate needs one rule per mode; the local derivatives are the same. A gate without
#   a jvp rule gets one from its backward by the double-VJP trick.
# * The whole Jacobian costs n jvps or m vjps: forward mode for few inputs, reverse mode
#   (backprop) for few outputs.
#
# The double-VJP trick differentiated a backward. The next lesson makes that a habit: the
# backward pass is itself a program on the tape, and it can be differentiated again.

# %% [markdown]
# **Next:** [Lesson 22: higher order](22_higher_order.ipynb) · **Previous:** [Lesson 20: precision](20_precision.ipynb) · [Start here](00_start_here.ipynb)
