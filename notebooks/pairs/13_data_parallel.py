# %% [markdown]
# # Lesson 13: data-parallel training, on several processes
#
# One process trains on one batch at a time. With W processes (W CPUs, W GPUs, or W
# machines) you can train on W batches at a time, and the simplest way to do it is
# **data parallelism**:
#
# * every process holds a whole copy of the model;
# * every global batch is cut into W equal **shards**, one per process;
# * each process runs forward and backward on its shard, then the processes **average
#   their gradients** (an *all-reduce*), and each takes the same optimiser step.
#
# Every copy takes the same step, so the copies stay equal. The claim of this lesson is
# that this step is *exactly* the step one process would take on the whole global batch.
# We check it in one process first (shards simulated by slicing), see the one layer that
# breaks it (BatchNorm), and then run it for real: two processes, started by `torchrun`,
# talking through torch.distributed.

# %%
import tempfile
from pathlib import Path

import torch

import minigrad as mg
from minigrad import nn
from minigrad import data_parallel_demo as demo
from minigrad import exercises

_ = torch.manual_seed(0)
images, labels = mg.data.load_digits()
x, y = images[:64].double(), labels[:64]  # one global batch of 64 digits, in float64
model = demo.build_model(seed=1)  # an MLP 64-32-10, the model of the real run below
print(model)

# %% [markdown]
# ## Simulated: one batch, four shards
#
# `batch_gradients` runs forward and backward on some samples and returns a copy of every
# parameter's gradient. We take it once on the whole batch, and once on each of K = 4
# shards of 16 samples, as 4 processes would. What if each process simply added up the
# gradients of all of them (that is what an all-reduce computes)?

# %%
def batch_gradients(model, x, y):
    model.zero_grad()
    mg.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


K = 4
whole = batch_gradients(model, x, y)
shards = [batch_gradients(model, xs, ys) for xs, ys in zip(x.chunk(K), y.chunk(K))]
for i, (name, _) in enumerate(model.named_parameters()):
    total = sum(shard[i] for shard in shards)
    print(f"{name:9}  |sum of the shards' gradients| / |whole batch's| = "
          f"{total.norm() / whole[i].norm():.4f}")

# %% [markdown]
# The sum points the right way but is K = 4 times too long: used as it is, it would act
# like a learning rate 4 times too high.
#
# ## Exercise: average the replicas' gradients
#
# Write the step that every process runs after its backward. `replicas` is a list of
# models, one per simulated process, each holding the gradients of its own shard in
# `p.grad`. Afterwards *every* replica must hold, for each parameter, the gradient of the
# whole batch, as an all-reduce leaves its result in every process.
# (`zip(*(r.parameters() for r in replicas))` walks the same parameter of every replica
# together.) `exercises.hint("average_shards")` gives the idea, then the formula.

# %% tags=["exercise"]
# EXERCISE average_shards
def average_gradients_by_hand(replicas):
    """Each replica (one per simulated process) holds its own shard's gradients in p.grad.

    Replace every p.grad, in every replica, by the gradient of the global batch: what an
    all-reduce over the processes, followed by the right scaling, gives every process.
    """
    # Your code here: replace the line below.
    raise NotImplementedError("give every replica the global batch's gradient")

# %% tags=["check"]
# CHECK average_shards
passed = exercises.check_average_shards(average_gradients_by_hand)

# %% [markdown]
# Why dividing by the number of shards is exact, not an approximation: with B = W b
# samples in W shards of b,
#
# $$L = \frac{1}{B}\sum_{i=1}^{B} \ell_i = \frac{1}{W}\sum_{r=1}^{W}
#   \underbrace{\frac{1}{b}\sum_{i \in \text{shard } r} \ell_i}_{L_r}
#   \quad\Longrightarrow\quad
#   \frac{\partial L}{\partial w} = \frac{1}{W}\sum_{r=1}^{W} \frac{\partial L_r}{\partial w}$$
#
# The loss of the batch is the mean of the shards' losses, and a derivative goes through a
# mean. On our four shards:

# %%
for i, (name, _) in enumerate(model.named_parameters()):
    mean = sum(shard[i] for shard in shards) / K
    print(f"{name:9}  max |mean of the shards' gradients - whole batch's| = "
          f"{(mean - whole[i]).abs().max():.1e}")

# %% [markdown]
# Equal to the last bits of a float64 (the sums are added in another order). The middle
# step of the maths needs **shards of equal size**; with unequal shards the plain mean
# gives the samples of a small shard too much weight:

# %%
small, large = batch_gradients(model, x[:16], y[:16]), batch_gradients(model, x[16:], y[16:])
plain = (small[0] + large[0]) / 2
weighted = (16 * small[0] + 48 * large[0]) / 64
print(f"shards of 16 and 48: the plain mean is off by {(plain - whole[0]).abs().max():.1e}, "
      f"the mean weighted by size by {(weighted - whole[0]).abs().max():.1e}")

# %% [markdown]
# That is why `mg.data.DistributedSampler` (below) gives every process the same number of
# samples, even when W does not divide the data set: it pads with a few repeated samples
# (or, with `drop_last=True`, leaves a few out).
#
# `mg.distributed.GradientAverager` does the same across real processes. It does not send
# one tensor per parameter: every message has a fixed cost (a round trip), so it packs the
# gradients into a few **buckets** (flat tensors of up to 25 MB, as torch's
# DistributedDataParallel does), all-reduces each bucket once and divides by W:

# %%
print(mg.distributed.GradientAverager(model))

# %% [markdown]
# ## Where the equality breaks: BatchNorm
#
# Everything above relied on one fact: each sample's loss depends on that sample alone.
# BatchNorm breaks it: it normalises every value with the **mean and variance of its
# batch**. In data parallelism each process sees only its shard, so it normalises with
# the shard's statistics, not the global batch's:

# %%
generator = nn.init_random(1)
bn_model = nn.Sequential(
    nn.Linear(64, 32, generator=generator, dtype=torch.float64),
    nn.BatchNorm(32, dtype=torch.float64),
    nn.ReLU(),
    nn.Linear(32, 10, generator=generator, dtype=torch.float64),
)
whole = batch_gradients(bn_model, x, y)
shards = [batch_gradients(bn_model, xs, ys) for xs, ys in zip(x.chunk(K), y.chunk(K))]
mean = sum(shard[0] for shard in shards) / K
print(f"with BatchNorm: max |mean of shards - whole| = {(mean - whole[0]).abs().max():.1e} "
      f"(the gradients themselves are about {whole[0].abs().max():.1e})")
with mg.no_grad():
    hidden = bn_model[0](x).value[:, 0]  # the first hidden unit, before BatchNorm
print(f"its batch mean: {hidden.mean():+.3f} over all 64; per shard of 16:",
      " ".join(f"{part.mean():+.3f}" for part in hidden.chunk(K)))

# %% [markdown]
# Two ways out, both in `mg.distributed`:
#
# * accept it, as torch's DistributedDataParallel does by default: each process
#   normalises its own shard (and keeps its own running statistics; a checkpoint holds
#   rank 0's). With shards of 32 or more the statistics are close, and the noise acts as a
#   mild regulariser;
# * or synchronise: `mg.distributed.convert_sync_batchnorm(model)` replaces every BatchNorm
#   by a `SyncBatchNorm` that all-reduces the per-channel sums in forward (and the two sums
#   of its backward), so every process normalises with the statistics of the **global**
#   batch. Then the equality holds again; the tests check it on two processes, against
#   one process on the whole batch, within 1e-12.
#
# ## Exercise: gradient accumulation
#
# The same maths, spread over *time* instead of processes: when a batch does not fit in
# memory, run it as M **micro-batches** one after another, let `backward` add their
# gradients into `p.grad`, and take one optimiser step at the end. Write
# `accumulated_step` so that its step equals the whole batch's step (the check compares
# the weights afterwards with the formula for one SGD step on the whole batch; it also
# leaves an old gradient in `p.grad` beforehand, as a training loop would).

# %% tags=["exercise"]
# EXERCISE accumulate
def accumulated_step(model, optimizer, x, y, micro_batches):
    """One optimiser step for the batch (x, y), computed in `micro_batches` equal pieces.

    The step must be the one the whole batch gives: the same weights afterwards as
    `loss = mg.cross_entropy(model(x), y); optimizer.zero_grad(); loss.backward();
    optimizer.step()`, while only one micro-batch is on the tape at a time.
    """
    # Your code here: replace the line below.
    raise NotImplementedError("accumulate the micro-batches' gradients, then step once")

# %% tags=["check"]
# CHECK accumulate
passed = exercises.check_accumulate(accumulated_step)

# %% [markdown]
# ## For real: two processes
#
# Now the processes are real. `torchrun` starts W copies of a script and tells each its
# **rank** (0 .. W-1), the **world size** W and where to meet; the script calls
# `mg.distributed.init_process_group()`, which picks the backend (gloo on CPUs, NCCL on
# GPUs). From then on three things change, and nothing else:
#
# 1. the loader reads this process's shard, through a `DistributedSampler`;
# 2. the Trainer finds the process group and averages the gradients after every backward;
# 3. rank 0 alone prints and writes checkpoints.
#
# The sampler builds the same shuffled order in every process (seeded by seed + epoch,
# so they agree without talking) and process r takes every W-th index from position r:

# %%
for rank in range(2):
    sampler = mg.data.DistributedSampler(10, num_replicas=2, rank=rank, seed=0)
    print(f"rank {rank} of 2 reads", list(sampler))
sampler.set_epoch(1)  # the Trainer calls this before every epoch: a new order
print("epoch 1, rank 1 reads", list(sampler))

# %% [markdown]
# Batch j of rank 0 and batch j of rank 1, put together, are batch j of one process
# reading the same order with a batch twice as large. The script
# `minigrad/data_parallel_demo.py` trains the digits MLP with a global batch of 32 (16 per
# process when there are two) and saves the final checkpoint from rank 0. We launch it on
# two processes (this takes a few seconds: two fresh Python processes import torch):

# %%
folder = Path(tempfile.mkdtemp())
output = mg.distributed.torchrun(
    "minigrad.data_parallel_demo", processes=2, args=["--epochs", 2, "--out", folder]
)

# %% [markdown]
# And the same script's training function here, in this notebook's one process, on the
# same global batches (32 at a time):

# %%
single = demo.train(epochs=2)
two = demo.build_model()
saved = mg.load_checkpoint(folder / demo.CHECKPOINT, two, restore_rng=False)
difference = max(
    float((a - b).abs().max())
    for a, b in zip(single.model.state_dict().values(), two.state_dict().values())
)
print(f"largest weight difference, 1 process vs 2: {difference:.1e}")
print("losses per epoch, 1 process:", [f"{r['loss']:.12f}" for r in single.history])
print("losses per epoch, 2 processes:", [f"{r['loss']:.12f}" for r in saved["history"]])

# %% [markdown]
# Two processes and one end with the same weights, up to the order in which float64 sums
# were added (~1e-15), after 90 steps. That checkpoint, written by a two-process run,
# resumes on one process (or on four), because the sampler's order depends on the seed
# and the epoch only, never on W.
#
# **What to remember.**
#
# * Average, don't sum: the mean of equal shards' gradients is the global batch's gradient.
# * Every process must run the same number of steps (the sampler pads uneven data sets),
#   or one waits in an all-reduce that nobody else joins. minigrad gives every collective
#   a timeout, so a crashed or silent process becomes a `DistributedError`, not a hang.
# * BatchNorm is the exception: per-shard statistics, unless you use `SyncBatchNorm`.
# * Gradient accumulation is the same idea in time: micro-batches, one step.
#
# In the terminal: `./run demo --processes 2` trains the digits MLP on two processes, and
# `torchrun --nproc-per-node 2 your_script.py` runs your own; with `--nnodes` and a
# rendezvous address the same script spans several machines. On GPUs the backend becomes
# NCCL and each process takes its own GPU (`mg.distributed.device()`); nothing else
# changes.

# %% [markdown]
# **Next:** [Lesson 14: softmax and cross-entropy by hand](14_softmax_by_hand.ipynb) (part 2 of the course) · **Previous:** [Lesson 12: debugging training](12_debugging.ipynb) · See which exercises you passed on [Start here](00_start_here.ipynb)
