# %% [markdown]
# # Lesson 11: the same code on a GPU
#
# minigrad never computes anything itself: every forward and backward is a torch call on
# torch tensors. So the same program runs on a GPU as soon as its tensors live there. That
# is the whole story; this lesson shows the three things you do, and what you gain.
#
# 1. choose a **device**: `"cuda"` when an NVIDIA GPU is present, otherwise `"cpu"`;
# 2. move the **model** there once (`model.to(device)`), and the **data** batch by batch
#    (`DataLoader(..., device=device)`);
# 3. leave everything else alone: the tape, the gates, the optimiser do not care.
#
# Two things do care, and they are in *your* code: tensors your code creates (they are
# born on the CPU unless you say otherwise), and state your own modules keep (it moves
# only if the module knows about it). The two exercises are about those.
#
# This notebook runs on either. Without a GPU it says so and runs on the CPU: everything
# below still works, only the speed comparison has nothing to compare.

# %%
import time

import matplotlib.pyplot as plt
import torch

import minigrad as mg
from minigrad import exercises, nn, training

_ = torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if device.type == "cuda":
    print("CUDA found:", torch.cuda.get_device_name(0))
else:
    print("No CUDA device here: running on the CPU. The code is the same; on a machine with")
    print("an NVIDIA GPU and a CUDA build of torch, `device` becomes 'cuda' and nothing else changes.")

# %% [markdown]
# ## Tensors on a device
#
# A Variable's `.device` is its tensor's device. Ops run where their inputs are, and so do
# their backward passes, because backward is torch ops on the tensors the gates saved.

# %%
w = mg.tensor(torch.randn(3, 3), requires_grad=True, device=device, name="w")
x = mg.tensor(torch.randn(4, 3), device=device, name="x")
loss = (x @ w).relu().sum()
loss.backward()
print("w on", w.device, "| w.grad on", w.grad.device)

# %% [markdown]
# ## Mixing devices is an error, with help
#
# An op whose inputs sit on two devices cannot run: torch would have to copy data behind
# your back. minigrad stops with a `DeviceError` that names both devices and says how to
# fix it.
#
# Without a GPU there is still a second device to try it on: torch's **meta** device. A
# meta tensor has a shape, a dtype and a device, but no values; every op runs on it (and
# checks its inputs' shapes and devices) without computing anything. It stands in for a
# GPU wherever only *placement* matters, on any machine, and the checks below use it.

# %%
other = device if device.type == "cuda" else torch.device("meta")
try:
    mg.tensor(torch.ones(2), device="cpu") + mg.tensor(torch.ones(2), device=other)
except mg.DeviceError as error:
    print(error)

x_meta = mg.tensor(torch.randn(4, 3), device="meta")
w_meta = mg.tensor(torch.randn(3, 2), device="meta", requires_grad=True)
(x_meta @ w_meta).relu().sum().backward()
print("on meta: w.grad has shape", tuple(w_meta.grad.shape), "and lives on", w_meta.grad.device)

# %% [markdown]
# ## Exercise: make new tensors where their inputs live
#
# Cross-entropy compares scores with labels; some losses (label smoothing, mixup) need the
# labels as one-hot rows instead. Write `one_hot(labels, num_classes, dtype)`: row `i` is
# all zeros except a 1 in column `labels[i]`. The result must live on the labels' device
# and have the `dtype` asked for, so that it can meet the scores on a GPU. The check
# compares values on the CPU, and runs your code on meta labels (and on CUDA when there is
# a GPU) to see where the result is made.

# %% tags=["exercise"]
# EXERCISE one_hot
def one_hot(labels, num_classes, dtype):
    """(N,) integer labels -> (N, num_classes) of 0s and 1s, on the labels' device, in dtype."""
    # Your code here.
    raise NotImplementedError("write one_hot")


# %% tags=["check"]
# CHECK one_hot
passed = exercises.check_one_hot(one_hot)

# %% [markdown]
# ## Exercise: state that moves with the model
#
# A common first layer standardises each input feature with the mean and standard deviation
# of the training data: $y = (x - \mu) / (\sigma + \epsilon)$. The statistics are computed
# once and never learned, but they are part of the model: `model.to(device)` must move them
# and `model.state_dict()` must save them. Write the layer `Standardize(data, eps=1e-5)`
# (`data` is `(N, features)`; use torch's `std`, the unbiased one). The check compares its
# outputs with the formula, loads its `state_dict()` into a layer built from other data,
# and moves it to the meta device (and CUDA) and runs it there.

# %% tags=["exercise"]
# EXERCISE standardize
class Standardize(nn.Module):
    """y = (x - mean) / (std + eps) per feature, with the training data's mean and std."""

    def __init__(self, data, eps=1e-5):
        super().__init__()
        # Your code here.
        raise NotImplementedError("write Standardize.__init__")

    def forward(self, x):
        # Your code here.
        raise NotImplementedError("write Standardize.forward")


# %% tags=["check"]
# CHECK standardize
passed = exercises.check_standardize(Standardize)

# %% [markdown]
# What moves: `model.to(device)` moves every Variable the module has *registered*, its
# parameters and its buffers (batch norm's running statistics are buffers too), and
# `state_dict()` saves the same ones. A tensor kept as a plain attribute is invisible to
# both, and a statistic registered as a parameter is handed to the optimiser. Buffers are
# for state that is not learned.

# %% [markdown]
# ## Where a GPU pays off
#
# A GPU runs thousands of multiply-adds at once, but every call has a fixed cost (launching
# a kernel, a few microseconds), and copying data to it has one too. So it wins on big
# operations and loses on tiny ones. We time a forward and backward through one linear
# layer for growing widths, on the CPU and, if present, on the GPU.

# %%
def time_step(width, on, repeats=5):
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(width, width, generator=generator).to(on)
    batch = mg.tensor(torch.randn(256, width, generator=generator), device=on)
    seconds = []
    for _ in range(repeats + 1):  # the first run warms up
        if on.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        layer(batch).relu().sum().backward()
        if on.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
        layer.zero_grad()
    return min(seconds[1:])


widths = [32, 128, 512, 1024]
devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
timings = {d.type: [time_step(n, d) for n in widths] for d in devices}
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, seconds in timings.items():
    ax.loglog(widths, [1000 * s for s in seconds], "o-", label=name)
ax.set_xlabel("layer width (batch 256)")
ax.set_ylabel("forward + backward, ms")
ax.legend()
plt.show()
for name, seconds in timings.items():
    print(name, " ".join(f"{n}: {1000 * s:.2f} ms" for n, s in zip(widths, seconds)))

# %% [markdown]
# ## Training on the device
#
# A smaller cousin of the lesson 9 model (one hidden layer of 64 units), trained for two
# epochs with lesson 10's Trainer wherever `device` points. The loader moves each batch;
# the model was moved once. The training loop is unchanged.

# %%
x_all, y_all = mg.data.load_digits()
x_train, x_test, y_train, y_test = mg.data.train_test_split(x_all, y_all, seed=0)
train_loader = mg.data.DataLoader((x_train, y_train), batch_size=64, shuffle=True, generator=0, device=device)
test_loader = mg.data.DataLoader((x_test, y_test), batch_size=256, device=device)
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
optimizer = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
trainer = training.Trainer(model, optimizer, progress=False)
history = trainer.fit(train_loader, test_loader, epochs=2)
print("parameters live on", next(iter(model.parameters())).device)

# %% [markdown]
# On the tiny digits a GPU gains nothing (each step is a few small kernels, dominated by
# launch cost); on MNIST-sized models and batches it is many times faster. Either way,
# the code is the same, which is the point: minigrad is about *how* backprop works, and
# torch takes care of *where*.
#
# **What to remember.** Pick a device once, move the model once, move each batch; the
# tape, the gates and the optimiser are device-agnostic because they only call torch.

# %% [markdown]
# **Next:** [Lesson 12: debugging training](12_debugging.ipynb) · **Previous:** [Lesson 10: a CNN with batch norm and dropout; checkpoints](10_cnn_and_checkpoints.ipynb) · [Start here](00_start_here.ipynb)
