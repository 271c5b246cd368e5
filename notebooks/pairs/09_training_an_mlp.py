# %% [markdown]
# # Lesson 9: training an MLP on the digits
#
# Everything so far comes together: data in mini-batches, a model (lesson 6), a loss, the
# tape and backprop (lesson 2), an optimiser (lesson 7). The loop is short enough to write
# out in full, and you write its heart, one training step, yourself. Two widgets watch it:
#
# * `TrainingMonitor` draws the loss and accuracy as they come in;
# * `GradientFlow` records, after every step, the size of each parameter's gradient and of
#   its update relative to the weight. It is the stethoscope of training: a layer whose
#   gradient is orders of magnitude smaller than the others is not learning.

# %%
import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn, training
from widgets import GradientFlow, TrainingMonitor
from widgets.lesson_plots import heatmap

_ = torch.manual_seed(0)

# %% [markdown]
# ## The data
#
# 1797 handwritten digits of 8x8 pixels ship with minigrad, scaled to [0, 1]. We hold out
# 20% to measure what the model learned, as opposed to what it memorised.

# %%
x, y = mg.data.load_digits()
x_train, x_test, y_train, y_test = mg.data.train_test_split(x, y, test_fraction=0.2, seed=0)
train_loader = mg.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, generator=0)
test_loader = mg.data.DataLoader((x_test, y_test), batch_size=256)
print("train", tuple(x_train.shape), "test", tuple(x_test.shape))

fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, image, label in zip(axes, x_train[:8], y_train[:8]):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set_title(int(label))
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The model and the loss
#
# Two hidden layers of 64 ReLU units (He initialisation, the default), ten outputs: one
# score per digit. **Cross-entropy** turns the scores into probabilities with a softmax and
# charges $-\log p(\text{true class})$; minigrad fuses the two into one gate because the
# fused form is numerically safe (no $\log$ of a probability that rounded to 0).

# %%
model = nn.Sequential(
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 64), nn.ReLU(),
    nn.Linear(64, 10),
)  # fmt: skip
optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
print(model.summary((64, 64)))

# %% [markdown]
# ## Exercise: one training step
#
# Write `train_step(model, optimizer, x, y)`: one step of training on the batch `(x, y)`,
# with the cross-entropy loss and the optimiser you are given; return the batch's loss
# as a number. The check runs it for three batches on two small models (softmax
# regression, whose gradient has a closed form) and compares the weights after every
# step with what a right step gives. Remember from lesson 2 what `backward` does to a
# `.grad` that is already there.

# %% tags=["exercise"]
# EXERCISE train_step
def train_step(model, optimizer, x, y):
    """Train `model` on one batch (x, y) with cross-entropy; return the batch's loss (a float)."""
    # Your code here.
    raise NotImplementedError("write train_step")


# %% tags=["check"]
# CHECK train_step
passed = exercises.check_train_step(train_step)

# %% [markdown]
# ## Overfit one batch
#
# The first test of any new training loop: train on one small batch until the model has
# memorised it. A network with 8,970 parameters can memorise 32 examples, so the loss
# should fall close to 0 and the accuracy on that batch reach 100%. If it does not, the
# bug is in the loop (or the model), not in the data, and you have found it in seconds
# instead of after a long run. (This cell runs your `train_step` once it passes.)

# %%
if passed:
    torch.manual_seed(1)
    tiny = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    tiny_optimizer = mg.optim.SGD(tiny.parameters(), lr=0.1, momentum=0.9)
    one_batch = mg.data.DataLoader((x_train[:32], y_train[:32]), batch_size=32)
    losses = [train_step(tiny, tiny_optimizer, x_train[:32], y_train[:32]) for _ in range(60)]
    print(f"loss on one batch of 32: {losses[0]:.3f} at step 1, {losses[-1]:.4f} at step 60")
    print(f"accuracy on that batch: {training.accuracy(tiny, one_batch):.0%}")
else:
    print("(runs once train_step passes its check)")

# %% [markdown]
# ## Exercise: an honest evaluation
#
# Write `evaluate(model, loader)`: the fraction of the loader's examples that the model
# classifies right (the class with the highest score is the label). Evaluation must not
# change what it measures. The check gives it a model with dropout and loaders whose
# last batch is short, and watches how the model is run.

# %% tags=["exercise"]
# EXERCISE evaluate
def evaluate(model, loader):
    """The fraction of the loader's examples that `model` classifies right (0 to 1)."""
    # Your code here.
    raise NotImplementedError("write evaluate")


# %% tags=["check"]
# CHECK evaluate
passed = exercises.check_evaluate(evaluate)

# %% [markdown]
# ## The loop
#
# One step: forward, loss, clear the old gradients, backward, update. After the step the
# monitor logs the loss and the gradient-flow widget reads every parameter's gradient.
# Each epoch ends with an evaluation on the held-out digits, in `no_grad` and evaluation
# mode (`training.accuracy`, which counts hits over all examples as your `evaluate` does).
#
# The two widgets are shown first, so that you can watch them while the loop runs: they
# redraw a few times a second, and once more when the loop ends.

# %%
EPOCHS = 8
monitor = TrainingMonitor()
flow = GradientFlow(model)
display(monitor, flow)

# %%
def test_accuracy():
    return training.accuracy(model, test_loader)


step = 0
for epoch in range(EPOCHS):
    model.train()
    for xb, yb in train_loader:
        loss = mg.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        flow.record(model)
        step += 1
        monitor.log(step, loss=loss.item())
    accuracy = test_accuracy()
    monitor.log(step, test_accuracy=accuracy)
    print(f"epoch {epoch + 1}: last batch loss {loss.item():.3f}, test accuracy {accuracy:.1%}")

# %% [markdown]
# ## Gradient flow
#
# In the second widget above: bars, each parameter's mean |gradient| at the last step;
# heatmap, the same over the steps (rows are parameters, columns are steps). In a healthy
# network like this one the layers' gradients stay within an order of magnitude of each
# other, and shrink as the loss falls. Lesson 12 shows what unhealthy looks like.

# %%
last = flow.history[-1]
for row in last:
    print(f"{row['name']:<10} mean|g| {row['mean_abs']:.2e}   update/weight {row['update_ratio']:.1e}")

# %% [markdown]
# A rule of thumb from the update/weight column: around $10^{-3}$ per step is a healthy
# pace. Much smaller and the layer barely moves; near $10^{-1}$ the steps are rewriting the
# weights and training is likely unstable. The weights here move by a few $10^{-3}$; the
# biases, small numbers that started at 0, move by more relative to their size.
#
# ## Where it still goes wrong
#
# The confusion matrix counts, for each true digit (row), what the model answered
# (column). The off-diagonal cells are its mistakes.

# %%
matrix = training.confusion_matrix(model, test_loader, num_classes=10)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
heatmap(ax, matrix, cmap="Blues", fmt="{:.0f}", skip_zeros=True)  # white numbers on dark cells
ax.set_xlabel("predicted")
ax.set_ylabel("true")
ax.set_xticks(range(10))
ax.set_yticks(range(10))
plt.show()
print(f"final test accuracy: {test_accuracy():.1%}")

# %% [markdown]
# ## The tape, compiled
#
# Every step above built a tape and walked it back, and for a model whose shapes never
# change that work is the same each time. `nn.compile_train` records one step's kernels
# (forward in tape order, backward in reverse) and writes them out as one Python function,
# which every later step runs: no Variable, no node, no walk, the same numbers. The tape,
# compiled, is just this code. Each line is one kernel; each local is a value a gate saved.

# %%
torch.manual_seed(2)
small = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
step = nn.compile_train(small, mg.cross_entropy, optimizer=mg.optim.SGD(small.parameters(), lr=0.1))
x, y = x_train[:32], y_train[:32]
first = step(x, y)  # recorded while it runs, eagerly
print(step.program)
print(f"loss {first.loss.item():.4f}, then {step(x, y).loss.item():.4f} (the program's step)")

# %% [markdown]
# **What to remember.** The training loop is five lines: forward, loss, zero the gradients,
# backward, step. Watch the loss *and* the gradients: the loss says whether it learns, the
# gradient flow says which layers are doing the learning.

# %% [markdown]
# **Next:** [Lesson 10: a CNN with batch norm and dropout; checkpoints](10_cnn_and_checkpoints.ipynb) · **Previous:** [Lesson 8: learning-rate schedules](08_lr_schedules.ipynb) · [Start here](00_start_here.ipynb)
