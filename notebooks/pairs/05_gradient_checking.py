# %% [markdown]
# # Lesson 5: gradient checking
#
# A wrong backward does not crash. The network still trains, just worse, and you may never
# find out why. So every gradient in minigrad is checked against an estimate that needs no
# calculus at all: nudge an input, run forward again, see how the output moved. This lesson
# makes that estimate precise, shows why it must be done in float64, and uses it to find
# the one wrong op hidden on a tape.

# %%
import math

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises
from widgets import GradcheckView

_ = torch.manual_seed(0)

# %% [markdown]
# ## Finite differences, one-sided and central
#
# The definition of the derivative suggests the **one-sided** difference
# $\frac{f(x+h) - f(x)}{h}$. Taylor's theorem says how wrong it is:
# $f(x+h) = f(x) + h f'(x) + \tfrac{h^2}{2} f''(x) + \dots$, so the error is about
# $\tfrac{h}{2} f''(x)$: it shrinks only as fast as $h$.
#
# The **central** difference $\frac{f(x+h) - f(x-h)}{2h}$ subtracts two such expansions; the
# $h^2$ terms cancel, leaving an error of order $h^2$. With $h = 10^{-3}$ that is about
# $10^{-6}$ instead of $10^{-3}$.
#
# ### Exercise: the central difference
#
# Write `central_difference(f, x, eps)` for a Python function `f` of one float.

# %% tags=["exercise"]
# EXERCISE central_difference
def central_difference(f, x, eps):
    """Estimate f'(x) from f(x + eps) and f(x - eps)."""
    # Your code here.
    raise NotImplementedError("write central_difference")


# %% tags=["check"]
# CHECK central_difference
passed = exercises.check_central_difference(central_difference)

# %% [markdown]
# ## Why float64: the error as a function of the step
#
# Make $h$ smaller and the Taylor error falls, but another error grows: $f(x+h)$ and
# $f(x-h)$ are rounded to the precision of the dtype, and their tiny difference is divided
# by the tiny $2h$. The rounding error is about $\varepsilon_{\text{machine}} |f| / h$, with
# $\varepsilon \approx 10^{-7}$ for float32 and $10^{-16}$ for float64.
#
# The plot computes the central difference of $\sin$ at $x = 0.7$ in both dtypes (with
# plain torch, independently of your exercise). The best float32 estimate is only good to
# a few parts in a million (an error of about $10^{-6}$), and only at one lucky step size:
# that cannot tell a right gradient from a slightly wrong one. float64 gets below
# $10^{-12}$. That is why `mg.gradcheck` always computes in float64.

# %%
steps = torch.logspace(-12, 0, 49, dtype=torch.float64)
exact = math.cos(0.7)
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for dtype in (torch.float32, torch.float64):
    x0 = torch.tensor(0.7, dtype=dtype)
    errors = []
    for h in steps:
        h = h.to(dtype)
        estimate = (torch.sin(x0 + h) - torch.sin(x0 - h)) / (2 * h)
        errors.append(max(abs(float(estimate) - exact), 1e-17))
    ax.loglog(steps, errors, "o-", ms=3, label=str(dtype))
ax.set_xlabel("step h")
ax.set_ylabel("|estimate - cos(0.7)|")
ax.set_title("Central difference error: truncation (right) vs rounding (left)")
ax.legend()
plt.show()

# %% [markdown]
# `mg.gradcheck` says so too: hand it float32 inputs and it warns, then checks in float64
# anyway.

# %%
x32 = mg.tensor(torch.randn(3), requires_grad=True, name="x")
report = mg.gradcheck(lambda v: v.tanh() * v, x32)
print(report)

# %% [markdown]
# ## mg.gradcheck: every element, every input
#
# `mg.gradcheck(fn, *inputs)` runs `fn` once with the tape and once per input element with
# central differences, and compares. For an output with many elements it checks the
# gradient of $\sum_i r_i\, f_i(x)$ for a fixed random $r$: a single backward pass then tests
# every output at once. The report is truthy on success and, on failure, says which input,
# which index, the analytic and the numeric value. `GradcheckView` draws both as heatmaps.

# %%
x = mg.tensor(torch.randn(4, 3, dtype=torch.float64), requires_grad=True, name="x")
w = mg.tensor(torch.randn(3, 2, dtype=torch.float64), requires_grad=True, name="w")
good = mg.gradcheck(lambda x, w: (x @ w).tanh(), x, w)
print(good)
GradcheckView(good)

# %% [markdown]
# ## How close is close enough?
#
# An analytic and a numeric gradient never agree to the last digit, so a check needs a
# tolerance, and an absolute one cannot work: a difference of $10^{-6}$ is nothing next to a
# gradient of $10^3$ and everything next to one of $10^{-9}$. What makes sense is the
# **relative error**, the difference measured against the size of the numbers compared.
#
# ### Exercise: the relative error
#
# Write `relative_error(a, b)` for two tensors of the same shape: compare them element by
# element, relative to the larger of the two magnitudes (so that swapping `a` and `b` changes
# nothing), and report the worst element as a number. Where both are 0 there is nothing to
# compare: count it as 0. The check tries tiny, huge, negative and zero values.

# %% tags=["exercise"]
# EXERCISE relative_error
def relative_error(a, b):
    """The worst element's relative error between tensors a and b, as a number."""
    # Your code here: replace the line below.
    raise NotImplementedError("write relative_error")


# %% tags=["check"]
# CHECK relative_error
passed = exercises.check_relative_error(relative_error)

# %% [markdown]
# With float64 central differences, a right gradient typically has a relative error below
# $10^{-7}$; a wrong one, above $10^{-2}$. Once your function passes, the cell below measures
# the check we just ran.

# %%
if passed:
    for name, analytic, numeric in zip(["x", "w"], good.analytic, good.numeric):
        print(f"{name}: relative error {relative_error(analytic, numeric):.2e}")

# %% [markdown]
# ## What a gradient check reports at a kink
#
# ReLU has no derivative at 0: its slope is 0 on the left and 1 on the right, and minigrad
# (like torch) uses 0 at exactly 0. The central difference at $x$ looks at $x - h$ and
# $x + h$; when those two probes land on *different sides* of the kink, it measures a slope
# somewhere between 0 and 1, and the check fails although the gate is right. Here it is:
# `gradcheck` on `relu` at a few points, some of them closer to 0 than its step
# $h = 10^{-6}$.

# %%
kinked = mg.tensor([-2.0, -4e-7, 0.0, 3e-7, 1.5, 2e-6], requires_grad=True, name="x",
                   dtype=torch.float64)  # fmt: skip
print(mg.gradcheck(mg.relu, kinked))

# %% [markdown]
# ### Exercise: where does the check meet the kink?
#
# Write `kink_mask(x, eps)`: a boolean tensor shaped like `x`, True exactly where the central
# difference of ReLU with step `eps` straddles the kink (and so disagrees with the analytic
# slope). The check tries three step sizes.

# %% tags=["exercise"]
# EXERCISE kink_mask
def kink_mask(x, eps):
    """True where the central difference of relu at x, with step eps, straddles the kink."""
    # Your code here: replace the line below.
    raise NotImplementedError("write kink_mask")


# %% tags=["check"]
# CHECK kink_mask
passed = exercises.check_kink_mask(kink_mask)

# %% [markdown]
# Your mask should pick out exactly the elements the report above calls wrong. In a real
# model, that is why a gradient check of a ReLU network now and then fails on a handful of
# elements: check at points away from the kinks (or with a smaller step), and read a failure
# that sits at a kink as the kink's, not the gate's.

# %%
if passed:
    report = mg.gradcheck(mg.relu, kinked)
    flagged = sorted(m.index[0] for m in report.mismatches)
    print("the check disagrees at elements", flagged)
    print("your mask flags elements       ", kink_mask(kinked.value, 1e-6).nonzero().flatten().tolist())

# %% [markdown]
# ## Finding the one wrong op on a tape
#
# `exercises.mystery_forward` is a small network: linear, softsign, matmul, swish, a squared
# mean. One of its gates has a wrong backward. Checking the whole network tells you
# *something* is wrong, but look where: the disagreements are everywhere, in every input
# (the cell counts them), because a wrong gradient near the output flows into everything
# before it.

# %%
names = ["x", "w1", "b1", "w2"]
values = exercises.mystery_inputs(seed=0)
leaves = [mg.tensor(v, requires_grad=True, name=n) for v, n in zip(values, names)]
whole = mg.gradcheck(exercises.mystery_forward, *leaves)
print(whole)
print(f"{len(whole.mismatches)} of {sum(v.numel() for v in values)} elements disagree")
GradcheckView(whole)

# %% [markdown]
# To find the culprit, check each node **alone**: run its gate again on the very inputs it
# saw, and compare its backward with finite differences of that one gate.
# `mg.gradcheck_node(node)` does this for one recorded node (it needs a tape that
# kept its outputs, which `exercises.mystery_model()` makes). Here is the tape:

# %%
ctx, loss = exercises.mystery_model(seed=0)
print(ctx)
print(mg.gradcheck_node(ctx[0]))

# %% [markdown]
# ### Exercise: find the wrong node
#
# Write `find_wrong_node(ctx)`: walk the tape, check every node alone, and return the index
# of the first node whose check fails. The check runs it on three mystery tapes, where the
# wrong node sits at different places.

# %% tags=["exercise"]
# EXERCISE wrong_node
def find_wrong_node(ctx):
    """The index of the first node on ctx whose gate fails its own gradient check."""
    # Your code here.
    return None


# %% tags=["check"]
# CHECK wrong_node
passed = exercises.check_wrong_node(find_wrong_node)

# %% [markdown]
# ## Look at the culprit
#
# Once your check passes, the cell below shows every node's own check, the heatmaps of the
# one that fails, and what is wrong with it. (Until then it waits: it would give the answer
# away.)

# %%
view = None
if passed:
    reports = [mg.gradcheck_node(node) for node in ctx]
    for node, report in zip(ctx, reports):
        print(f"node {node.index} {node.op:<9} {'ok' if report else 'WRONG'}")
    culprit = next(i for i, r in enumerate(reports) if not r)
    wrong = reports[culprit]
    z = ctx[culprit].inputs[0].value  # what the wrong gate was called with
    bigger = (wrong.analytic[0].abs() > wrong.numeric[0].abs())
    print(
        f"analytic larger than numeric at {int(bigger[z > 0].sum())} of {int((z > 0).sum())} "
        f"positive inputs, at {int(bigger[z < 0].sum())} of {int((z < 0).sum())} negative ones"
    )
    print(
        "Swish is y = x s(x) with y' = s + x s (1 - s); its backward forgot the factor (1 - s),\n"
        "so it is off by x s(x)^2: too large where x > 0, too small where x < 0. A missing\n"
        "factor, not a missing term: the kind of bug only a numerical check finds."
    )
    view = GradcheckView(wrong)
view

# %% [markdown]
# **What to remember.** Central differences in float64 are the referee. Check a whole model
# to know *whether* something is wrong; check each node alone to know *where*. Lesson 2's
# tape is what makes the second possible: every node is data you can run again.

# %% [markdown]
# **Next:** [Lesson 6: modules, parameters and initialisation](06_modules_and_init.ipynb) · **Previous:** [Lesson 4: writing your own Gate](04_your_own_gate.ipynb) · [Start here](00_start_here.ipynb)
