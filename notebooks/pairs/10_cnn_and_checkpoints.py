# %% [markdown]
# # Lesson 10: a CNN with batch norm and dropout; checkpoints
#
# An MLP treats the 64 pixels as an unordered list. A **convolution** slides one small
# filter over the image, so the same weights look for the same pattern everywhere: far
# fewer parameters, and a built-in sense of "nearby". Two more layers make deeper networks
# train well:
#
# * **batch norm** normalises each channel over the batch to mean 0 and variance 1 and
#   then rescales it with learned $\gamma, \beta$; the next layer always sees inputs of a
#   sensible size, whatever the earlier layers do. At evaluation time it uses running
#   averages instead of the batch's statistics;
# * **dropout** zeroes a random fraction $p$ of activations while training, so no unit can
#   rely on one particular other unit, and makes up for the missing ones so that the next
#   layer sees values of the usual size. At evaluation time it does nothing. You write it.
#
# Both behave differently in training and in evaluation, which is why `model.train()` and
# `model.eval()` exist. Then: saving training to a file and resuming it exactly.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn, training

_ = torch.manual_seed(0)

# %% [markdown]
# ## Images, NCHW
#
# With `as_images=True` the digits come as `(N, C, H, W)` = `(1797, 1, 8, 8)`, torch's
# layout.

# %%
x, y = mg.data.load_digits(as_images=True)
x_train, x_test, y_train, y_test = mg.data.train_test_split(x, y, test_fraction=0.2, seed=0)
test_loader = mg.data.DataLoader((x_test, y_test), batch_size=256)
print(tuple(x_train.shape))

# %% [markdown]
# ## The model
#
# `Conv2dBatchNorm` is a convolution followed by batch norm (the convolution needs no bias,
# since batch norm subtracts the mean anyway). Two such blocks with max-pooling, then
# dropout and a linear classifier.

# %%
def make_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2dBatchNorm(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2dBatchNorm(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 2 * 2, 10),
    )  # fmt: skip


model = make_cnn()
print(model.summary((64, 1, 8, 8)))

# %% [markdown]
# ## Training and evaluation behave differently
#
# Run the same batch through the model twice in training mode and the outputs differ
# (dropout draws new masks); in evaluation mode they are identical.

# %%
batch = x_test[:4]
with mg.no_grad():
    model.train()
    a, b = model(batch).value, model(batch).value
    model.eval()
    c, d = model(batch).value, model(batch).value
print("train mode, two runs equal:", torch.equal(a, b))
print("eval mode,  two runs equal:", torch.equal(c, d))

# %% [markdown]
# ## Exercise: inverted dropout
#
# Write dropout as a gate. `InvertedDropout(p)` is built with the probability `p` of
# dropping each value. While training, `forward` zeroes each value with probability `p`
# and scales the values it keeps so that the *expected* output equals the input:
# evaluation then needs no change at all (that is what "inverted" means). `backward`
# sends the gradient back through the same choice of values.
#
# Dropout is random, so the check cannot compare with one answer. It runs your gate on
# 20,000 values for three values of `p` and checks what must hold for every mask: each
# output is 0 or the input times one common factor, and that factor is right; the
# fraction dropped is `p` (to within the spread of a random count); a second call drops
# other values; the gradient is zero exactly where the output is, and scaled the same way.

# %% tags=["exercise"]
# EXERCISE inverted_dropout
class InvertedDropout(mg.Gate):
    """Training-time dropout: zero each value with probability p, keep the expected value."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        # Your code here: draw a mask, keep it on self, return the output.
        raise NotImplementedError("write InvertedDropout.forward")

    def backward(self, grad_output):
        # Your code here: return a tuple with one gradient, shaped like x.
        raise NotImplementedError("write InvertedDropout.backward")


# %% tags=["check"]
# CHECK inverted_dropout
passed = exercises.check_inverted_dropout(InvertedDropout)

# %% [markdown]
# The rule, written out: with a mask $m$ whose elements are 1 with probability $1 - p$ and
# 0 otherwise, $y = x \odot m / (1 - p)$, so $\mathbb{E}[y] = x$, and
# $\partial L / \partial x = G \odot m / (1 - p)$. minigrad's own `Dropout` gate (in
# `minigrad/ops/normalization.py`) is exactly this.
#
# ## Training with the Trainer
#
# The loop of lesson 9, plus the bookkeeping (progress, history, evaluation after each
# epoch, skipping a batch whose loss is NaN), lives in `training.Trainer`. We train with
# AdamW and a cosine schedule.

# %%
def make_run(seed=0):
    """A model, optimiser, scheduler and loader, all from the same seed."""
    model = make_cnn(seed)
    optimizer = mg.optim.AdamW(model.parameters(), lr=0.01, weight_decay=1e-4)
    scheduler = mg.optim.CosineAnnealingLR(optimizer, t_max=6)
    loader = mg.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, generator=1)
    trainer = training.Trainer(model, optimizer, scheduler=scheduler, progress=False)
    return trainer, loader


trainer, loader = make_run()
history = trainer.fit(loader, test_loader, epochs=3)

# %%
fig, ax = plt.subplots(figsize=(6, 3.4), layout="constrained")
ax.plot([r["epoch"] + 1 for r in history], [r["loss"] for r in history], "o-", label="train loss")
ax2 = ax.twinx()
ax2.plot([r["epoch"] + 1 for r in history], [r["test_accuracy"] for r in history], "s-", color="C1", label="test accuracy")
ax.set_xlabel("epoch")
ax.set_xticks([r["epoch"] + 1 for r in history])
ax.set_ylabel("loss")
ax2.set_ylabel("test accuracy")
# One legend for both axes, below the plot: clear of the lines and of both axis labels.
fig.legend(loc="outside lower center", ncol=2)
plt.show()

# %% [markdown]
# ## Checkpoints: stop, and carry on exactly
#
# Long training runs get interrupted. A checkpoint saves training to a file so that a
# new process can carry on; carrying on *exactly* means that the resumed run is, bit for
# bit, the run that was never interrupted.
#
# ### Exercise: what must a checkpoint hold?
#
# Write `capture(model, optimizer, scheduler, loader)`, which returns everything that
# decides what training does next as plain data (a dict of tensors, numbers, lists and
# dicts: what a file can hold), and `restore(saved, model, optimizer, scheduler, loader)`,
# which puts it back into objects built afresh. The check trains a small run with batch
# norm, dropout, AdamW, a cosine schedule and a shuffling loader for one epoch, captures
# it, sends your dict through `torch.save` and `torch.load(weights_only=True)` as a file
# would, restores it into a run built from other seeds, and compares every part of the
# training state; then both runs train one more epoch and must agree bit for bit.

# %% tags=["exercise"]
# EXERCISE exact_resume
def capture(model, optimizer, scheduler, loader):
    """Everything that decides what training does next, as plain data (a dict)."""
    # Your code here.
    raise NotImplementedError("write capture")


def restore(saved, model, optimizer, scheduler, loader):
    """Put what `capture` returned back into freshly built objects."""
    # Your code here.
    raise NotImplementedError("write restore")


resume = (capture, restore)

# %% tags=["check"]
# CHECK exact_resume
passed = exercises.check_exact_resume(resume)

# %% [markdown]
# What it takes: the weights *and* batch norm's running statistics, the optimiser's
# memory (Adam's moment estimates), the scheduler's epoch, the loader's shuffling state
# and torch's random state (dropout's masks). Miss one and the resumed run drifts away
# from the uninterrupted one. `trainer.save` writes all of them (with
# `mg.save_checkpoint`).
#
# The experiment: train 1 epoch, save, build everything fresh, load, train 2 more. Compare
# with 3 epochs in one go (the run above). On the CPU the weights agree bit for bit.

# %%
folder = Path(tempfile.mkdtemp())
first, first_loader = make_run()
first.fit(first_loader, test_loader, epochs=1)
path = first.save(folder / "cnn.ckpt", loader=first_loader)
print("saved", path.name, f"({path.stat().st_size / 1024:.0f} KiB)")

resumed, resumed_loader = make_run(seed=123)  # deliberately different starting weights
info = resumed.load(path, loader=resumed_loader)
print("resuming after epoch", info["epoch"])
resumed.fit(resumed_loader, test_loader, epochs=2)

straight = trainer.model.state_dict()
for name, value in resumed.model.state_dict().items():
    assert torch.equal(value, straight[name]), name
print("every tensor of the resumed model equals the uninterrupted run's:", len(straight), "tensors")

# %% [markdown]
# The file is written atomically (to a temporary file, then renamed), so a crash while
# saving leaves the previous checkpoint intact; and it is read with
# `torch.load(weights_only=True)`, so loading a file never runs code from it.
#
# **What to remember.** Batch norm and dropout behave differently in training and
# evaluation: switch with `train()` / `eval()`. A checkpoint is more than the weights: the
# optimiser, scheduler, loader and random state all decide the next step.

# %% [markdown]
# **Next:** [Lesson 11: the same code on a GPU](11_on_a_gpu.ipynb) · **Previous:** [Lesson 9: training an MLP on the digits](09_training_an_mlp.ipynb) · [Start here](00_start_here.ipynb)
