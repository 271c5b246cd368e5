# %% [markdown]
# # Lesson 2: the tape
#
# In lesson 1 you computed gradients by walking an expression backwards by hand. To do
# that, you needed two things: the list of operations that ran, in order, and for each one
# its local derivative rule. minigrad keeps exactly those two things:
#
# * a **Context** is the *tape* (also called a Wengert list): a plain Python list of
#   **nodes**, one per operation, appended as the operations run;
# * each node holds the **gate** that ran (its forward and backward, lesson 4), where each
#   input came from (its *parents*), and its output (the *payload*).
#
# **Backprop** is then a `for` loop over that list in reverse. This lesson looks at the tape
# as data, steps through it with the `TapeViewer` widget, and explains why the walk goes
# backwards, what `no_grad` turns off, and why the tape is emptied afterwards.

# %%
import torch

import minigrad as mg
from minigrad import exercises
from widgets import TapeViewer, draw_tape

_ = torch.manual_seed(0)

# %% [markdown]
# ## Recording: the tape is a list
#
# We make our own Context so that the tape holds only this lesson's ops.
# `keep_outputs=True` asks the tape to keep every intermediate value alive so we can look
# at it (normally it holds them weakly, to save memory). Each line below appends nodes.

# %%
ctx = mg.Context(keep_outputs=True, name="neuron")
x = ctx.variable([2.0, 0.0], name="x")
w = ctx.variable([-3.0, 1.0], requires_grad=True, name="w")
b = ctx.variable(6.88, requires_grad=True, name="b")
z = (x * w).sum() + b
o = z.tanh()
print(ctx)

# %% [markdown]
# Read the table top to bottom: that is the order the ops ran. Node 1 (`Sum`) takes `#0`,
# the output of node 0; node 3 takes `#2`. "saved" is what each gate kept for its
# backward, and no more: `Mul` kept only `a`, its first factor `x` (since
# $\partial(xw)/\partial w = x$; the other factor would serve only `x`'s gradient, which
# nobody asked for), `Tanh` kept its output (since $\tanh' = 1 - \tanh^2$).
#
# Each entry is an ordinary object you can index:

# %%
node = ctx[3]
print(node)
print("gate:", node.gate.name, "| parents:", node.parents, "| payload:", node.payload)
print("the gate's docstring is its maths:", type(node.gate).__doc__)

# %% [markdown]
# The same tape, drawn, top to bottom: values are boxes (the leaves you made at the top,
# each op's result below its op), ops are ovals, and each arrow is one input of an op. A box
# shows the value's `data` and `grad` (`–` until a backward pass gives it one), every element
# of a small tensor. `draw_tape` shows values because the tape kept them.

# %%
draw_tape(o)

# %% [markdown]
# ## Why backprop walks in reverse
#
# The gradient of an intermediate value is complete only when *every* use of it has sent
# its contribution back. The tape is in execution order, so every use of a value comes
# *after* the node that made it. Walking from the last node to the first therefore reaches
# each node only after all of its uses: its output gradient is finished, and its gate can
# turn it into input gradients.
#
# ### Exercise: the reverse walk
#
# Here is the neuron's tape again, as plain data: each step names its output, its inputs, and
# the *local* derivative of the output with respect to each input (lesson 1's table, one row
# per step), already worked out at the values that ran.

# %%
tape = exercises.neuron_tape()
for step in tape:
    print(step)

# %% [markdown]
# Write `backward_pass(tape, root)`: it returns a dict that maps every name on the tape to
# $\partial\,\text{root} / \partial\,\text{name}$. That is backprop, with the gates' work
# done in advance: you only decide the order, what to multiply, and what to do when a value
# receives gradients from several steps. The check tries tapes where a value is used several
# times, and tells you if your walk overwrote, walked the wrong way, or forgot the chain rule.

# %% tags=["exercise"]
# EXERCISE reverse_walk
def backward_pass(tape, root):
    """{name: d root / d name} for every name on the tape, from its steps' local derivatives."""
    # Your code here: replace the line below.
    raise NotImplementedError("write backward_pass")


# %% tags=["check"]
# CHECK reverse_walk
passed = exercises.check_reverse_walk(backward_pass)

# %% [markdown]
# minigrad's own walk (in `minigrad/backprop.py`) is the same loop, with each gate's
# `backward` computing the local products:
#
# ```
# for node in reversed(tape):
#     grads = node.gate.backward(gradient of node's output)
#     for parent, g in zip(node.parents, grads):
#         add g to the parent's gradient
# ```
#
# It is a loop, not a recursion, so a chain of a hundred thousand ops is as fine as three.
#
# ## Step through it: TapeViewer
#
# Press *next* and *previous* (or drag the slider; *forward* and *backward* jump to the start
# of each pass). The forward steps show each value as it is computed; the backward steps
# walk the same ops in reverse, and the graph shows the gradients: the box of the op's output
# shows the gradient that arrives there (red), the arrows to its inputs light up, and each
# input's box shows the gradient it holds so far (green). The details beside the graph say
# what the gate sends to each input. Watch `w` receive its gradient only at the very last
# backward step.

# %%
viewer = TapeViewer(o)
viewer

# %% [markdown]
# The viewer is also an object you can drive from code, which is how the course's tests
# check it. Here are the backward steps as plain data. `x` receives nothing: it was made
# without `requires_grad`, so no gradient is computed for it.

# %%
for step in viewer.steps:
    if step["phase"] == "backward":
        sent = ", ".join(
            f"{g['label']} <- {g['grad']['text'] if g['grad'] else 'nothing'}"
            for g in step["grad_inputs"]
        )
        print(f"node {step['index']} {step['op']:<5} received {step['grad_output'][0]['text']:<8} sent {sent}")

# %% [markdown]
# ## A value used twice gets the sum
#
# In `y = a * a`, the value `a` is used twice (both inputs of `Mul`), so it receives two
# gradients, $a$ and $a$, which add up to $2a$: the rule $\frac{d}{da}a^2 = 2a$ falls out
# of accumulation. In the viewer, `a` has two arrows into `Mul`, one per use; at the `Mul`
# step both light up and `a`'s box turns purple: each share is *added* to what `a` already
# held.

# %%
ctx2 = mg.Context(keep_outputs=True, name="square")
a = ctx2.variable(3.0, requires_grad=True, name="a")
y = a * a + a
TapeViewer(y)

# %%
y.backward()
print("dy/da = 2a + 1 =", a.grad.item())

# %% [markdown]
# ## Where the order comes from
#
# minigrad gets the tape's order for free: a node is appended when its op runs, so it always
# comes after the nodes it reads. A library that keeps only the *graph* (each value knows
# its inputs, as micrograd does) has to sort it first: list every value the root depends
# on, each one after all of its inputs. That is a **topological order**.
#
# ### Exercise: a topological order
#
# A graph here is a dict from each value's name to the names of its inputs (leaves have
# none). Write `topological_order(graph, root)`, returning a list of names. The check tries
# small graphs in which a value is read by several others, and a chain of 20,000 ops, so
# write it as a loop: Python gives up after about a thousand nested calls.

# %%
graph = {"a": (), "b": (), "u": ("a", "b"), "v": ("u", "a"), "w": ("u", "v")}
print(graph)

# %% tags=["exercise"]
# EXERCISE topological_order
def topological_order(graph, root):
    """The names root depends on (and root), each one after all of its inputs."""
    # Your code here: replace the line below.
    raise NotImplementedError("write topological_order")


# %% tags=["check"]
# CHECK topological_order
passed = exercises.check_topological_order(topological_order)

# %% [markdown]
# ## The tape is emptied by backprop
#
# Each node holds saved tensors (for a big network: every activation). Once backprop has
# used a node, those are no longer needed, so backprop *releases* each node and empties the
# tape at the end. A second `backward` on the same output therefore has nothing to walk,
# and says so:

# %%
print("nodes left on ctx2:", len(ctx2))
try:
    y.backward()
except mg.TapeError as error:
    print(type(error).__name__ + ":", error)

# %% [markdown]
# `retain_graph=True` keeps the tape, for the rare case where you really need to backprop
# twice (or look at the tape afterwards). Gradients then *accumulate* into `.grad`, which is
# why a training loop sets `.grad = None` before each step.

# %%
ctx3 = mg.Context(name="retained")
a = ctx3.variable(3.0, requires_grad=True, name="a")
y = a * a
y.backward(retain_graph=True)
print("after the first backward: a.grad =", a.grad.item(), "| nodes:", len(ctx3))
y.backward()
print("after the second backward: a.grad =", a.grad.item(), "(6 + 6) | nodes:", len(ctx3))

# %% [markdown]
# ## no_grad: compute without recording
#
# Evaluating a model, or updating its weights, must not be recorded: nobody will backprop
# through it, and recording would keep memory alive for nothing. Inside `mg.no_grad()`
# (every tape) or `ctx.no_grad()` (one tape) ops run but append nothing, and their outputs
# do not require a gradient. The previous state comes back when the block ends, even after
# an exception.

# %%
ctx4 = mg.Context(name="no_grad")
w = ctx4.variable([1.0, 2.0], requires_grad=True, name="w")
with mg.no_grad():
    y = (w * 3).sum()
print("inside no_grad: nodes =", len(ctx4), "| y.requires_grad =", y.requires_grad)
y = (w * 3).sum()
print("outside:        nodes =", len(ctx4), "| y.requires_grad =", y.requires_grad)
print(ctx4)

# %% [markdown]
# **What to remember.** The tape is a list of nodes in execution order; backprop walks it in
# reverse so that every gradient is complete before it is used; values used several times
# get the sum of their gradients; the tape is emptied after use unless `retain_graph=True`;
# `no_grad` records nothing.

# %% [markdown]
# **Next:** [Lesson 3: tensors, broadcasting and matmul](03_tensors.ipynb) · **Previous:** [Lesson 1: derivatives and the chain rule](01_derivatives.ipynb) · [Start here](00_start_here.ipynb)
