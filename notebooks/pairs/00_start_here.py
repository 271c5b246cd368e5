# %% [markdown]
# # Start here: learning backprop by doing it
#
# This course builds up, in thirteen lessons, everything that happens when a neural network
# learns: the derivative, the chain rule, the tape that records a computation, the reverse
# walk over it (backpropagation), tensors, your own ops, gradient checking, modules,
# optimisers, learning-rate schedules, a real training loop, a CNN, a GPU, debugging, and
# training on several processes at once.
# Part 2 then has you write by hand the backward passes the library did for you: softmax
# and cross-entropy, normalisation, convolution, recurrent networks and attention, up to a
# small transformer that learns to write like Shakespeare; then what a training step costs
# in memory (lesson 19) and in precision (lesson 20).
# Lessons 21 and 22 go past the gradient: forward mode (how every output moves when the
# inputs move along one direction) and derivatives of derivatives (a backward pass recorded
# on the tape, Hessian-vector products, Newton's method).
#
# You learn it with **minigrad**, a small autograd and neural-network library written to be
# read: every op is a short class with its forward and its backward side by side, and the
# heavy work runs on torch tensors, so the code you read trains real models at real speed.
# Each lesson is prose that explains *why*, code you run, a plot or a widget to look at, and
# exercises you fill in yourself.
#
# ## The order
#
# Read the lessons in order; each one uses the ones before it.
#
# | | lesson | what you do in it |
# |---|---|---|
# | 1 | [derivatives and the chain rule](01_derivatives.ipynb) | gradients of an expression and of a neuron, by hand |
# | 2 | [the tape](02_the_tape.ipynb) | write the reverse walk over a tape, and the order a tape is recorded in |
# | 3 | [tensors, broadcasting and matmul](03_tensors.ipynb) | the gradient of a broadcast, of matmul and of a linear layer |
# | 4 | [writing your own Gate](04_your_own_gate.ipynb) | Softplus, a two-input gate, a logsumexp that is stable at ±800 |
# | 5 | [gradient checking](05_gradient_checking.ipynb) | central differences, relative error, kinks, the one wrong node on a tape |
# | 6 | [modules and initialisation](06_modules_and_init.ipynb) | fan-in and fan-out, an init that keeps 20 layers alive |
# | 7 | [optimisers](07_optimisers.ipynb) | one step of momentum and Nesterov, of Adam and AdamW, against torch.optim |
# | 8 | [learning-rate schedules](08_lr_schedules.ipynb) | warm-up then cosine, epoch by epoch; where the scheduler steps |
# | 9 | [training an MLP](09_training_an_mlp.ipynb) | a training step, an honest evaluation, overfitting one batch |
# | 10 | [a CNN and checkpoints](10_cnn_and_checkpoints.ipynb) | an inverted-dropout gate, what a checkpoint must hold |
# | 11 | [on a GPU](11_on_a_gpu.ipynb) | tensors and module state on the right device |
# | 12 | [debugging](12_debugging.ipynb) | the first NaN, dead ReLUs, clipping exploding gradients |
# | 13 | [data-parallel training](13_data_parallel.ipynb) | averaging the shards' gradients, gradient accumulation, two real processes |
# | | **part 2: the backward passes by hand** | |
# | 14 | [softmax and cross-entropy by hand](14_softmax_by_hand.ipynb) | a stable log-softmax, and a whole MLP's backward, stage by stage |
# | 15 | [normalisation backward](15_normalisation_backward.ipynb) | batch norm and layer norm backward, running statistics |
# | 16 | [convolution backward](16_convolution_backward.ipynb) | conv as unfold plus matmul, its backward, max-pool with ties |
# | 17 | [recurrent networks and backprop through time](17_rnn_bptt.ipynb) | an RNN step, full and truncated BPTT |
# | 18 | [attention and a small transformer](18_attention_transformer.ipynb) | softmax's backward, attention's dQ, dK, dV; train a character-level transformer on Shakespeare |
# | 19 | [memory](19_memory.ipynb) | the bytes a tape saves, checkpointing a chain in segments, about √n of them |
# | 20 | [precision](20_precision.ipynb) | the gaps of float16 and bfloat16, dynamic loss scaling, float32 master weights |
# | | **beyond the gradient: forward mode and higher order** | |
# | 21 | [forward mode](21_forward_mode.ipynb) | jvp rules for five gates, a Jacobian from jvps, when forward mode beats backprop |
# | 22 | [higher order](22_higher_order.ipynb) | a recorded backward in the TapeViewer, H v by double backward, Newton's method on Rosenbrock |
#
# ## How the exercises work
#
# An exercise is a code cell with a gap, marked `# EXERCISE <name>`: a function or a class
# whose body you write, in place of the line `raise NotImplementedError(...)`. The cell
# after it, marked `# CHECK <name>`, checks your answer. Run both (Shift+Enter).
#
# * **PASS** says what was verified. Checks try your code on several inputs, shapes and
#   magnitudes, so an answer that only works for one case does not pass.
# * **FAIL** says where and what kind of mistake: which value, the first wrong element, the
#   expected and the received number, and a *diagnosis*, for example "every element is
#   exactly 2x the expected", "a sign flip", "the transpose of the expected one", "the local
#   derivative alone: the chain rule also multiplies by grad_output". An untouched gap
#   simply FAILs; the lesson still runs to its end.
# * **Hints come in tiers.** `exercises.hint("matmul_grad")` prints the first one (the
#   idea); call it again for the next (the formula, in maths). The last tier tells you how to
#   load the solution into a cell: `%load solutions/matmul_grad.py`. Try without it first:
#   the point is the doing.
#
# A FAIL reads like this (from an exercise of lesson 5):
#
# ```
# FAIL central_difference: with f = sin, x = 0.7, eps = 0.001: the estimate is wrong: expected 0.764842, received 1.52968
# diagnosis: your value is exactly 2x the expected: did you divide by eps instead of 2*eps?
# hint: exercises.hint("central_difference") gives the idea behind it (call it again for more)
# ```
#
# ### Try it: a warm-up
#
# Write the derivative of $f(x) = x^3 - 2x$, as a function of `x` (a float or a tensor: the
# same expression works for both). Run the cell, then the check. Leave the gap as it is
# first, to see a FAIL; then ask for a hint, then fill it in.

# %%
from minigrad import exercises

# %% tags=["exercise"]
# EXERCISE warm_up
def slope(x):
    """f'(x) for f(x) = x**3 - 2 * x."""
    # Your code here: replace the line below.
    raise NotImplementedError("write the derivative of x**3 - 2x")


# %% tags=["check"]
# CHECK warm_up
passed = exercises.check_warm_up(slope)

# %%
exercises.hint("warm_up")

# %% [markdown]
# ## Your progress
#
# Every check remembers its latest outcome (in a small file, `.minigrad_progress.json`, in
# this folder). Run the cell below at any time to see which exercises pass, lesson by lesson.

# %%
exercises.progress()

# %% [markdown]
# ## Elsewhere
#
# * Installed minigrad with pip, without this repository? `python -m minigrad.lessons DEST`
#   copies the lessons and their solutions into the folder `DEST`; open it in JupyterLab.
# * Teaching a class? The lessons can be graded with nbgrader: see `docs/grading.md` in the
#   repository.
#
# **Next:** [Lesson 1: derivatives and the chain rule](01_derivatives.ipynb)
