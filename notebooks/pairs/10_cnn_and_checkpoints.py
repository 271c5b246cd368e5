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
# * **dropout** zeroes a random fraction $p$ of activations while training (and scales the
#   rest by $1/(1-p)$), so no unit can rely on one particular other unit. At evaluation
#   time it does nothing.
#
# Both behave differently in training and in evaluation, which is why `model.train()` and
# `model.eval()` exist. Then: saving training to a file and resuming it exactly.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import nn, training

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
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot([r["epoch"] + 1 for r in history], [r["loss"] for r in history], "o-", label="train loss")
ax2 = ax.twinx()
ax2.plot([r["epoch"] + 1 for r in history], [r["test_accuracy"] for r in history], "s-", color="C1", label="test accuracy")
ax.set_xlabel("epoch")
ax.set_ylabel("loss")
ax2.set_ylabel("test accuracy")
fig.legend(loc="center right")
plt.show()

# %% [markdown]
# ## Checkpoints: stop, and carry on exactly
#
# A checkpoint must hold everything that decides what training does next: the weights
# *and* batch norm's running statistics, the optimiser's memory (Adam's moment estimates),
# the scheduler's epoch, the loader's shuffling state and torch's random state (dropout's
# masks). Miss one and the resumed run drifts away from the uninterrupted one.
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
