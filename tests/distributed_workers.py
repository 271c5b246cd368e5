"""What runs inside the processes that tests/test_distributed.py starts.

``mg.distributed.spawn`` calls these functions by name in fresh processes
(each already in a gloo group), so they live in a module, not in the test
file. The test process calls the same builders for its one-process
references, so both sides train the very same models on the very same data.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from pathlib import Path

import torch

import minigrad as mg
from minigrad import nn

DTYPE = torch.float64
STEPS = 20
GLOBAL_BATCH = 16


# -- models and data, the same in every process and in the test process --------------
def mlp(seed: int = 3) -> nn.Module:
    g = nn.init_random(seed)
    return nn.Sequential(
        nn.Linear(6, 12, generator=g, dtype=DTYPE),
        nn.Tanh(),
        nn.Linear(12, 4, generator=g, dtype=DTYPE),
    )


def batchnorm_mlp(seed: int = 5, sync: bool = False) -> nn.Module:
    g = nn.init_random(seed)
    model = nn.Sequential(
        nn.Linear(6, 8, generator=g, dtype=DTYPE),
        nn.BatchNorm(8, dtype=DTYPE),
        nn.ReLU(),
        nn.Linear(8, 4, generator=g, dtype=DTYPE),
    )
    return mg.distributed.convert_sync_batchnorm(model) if sync else model


OPTIMIZERS = {
    "sgd_momentum": lambda params: mg.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
    "adamw": lambda params: mg.optim.AdamW(params, lr=0.02, weight_decay=0.1),
}


def global_batches(steps: int = STEPS, batch: int = GLOBAL_BATCH):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(steps, batch, 6, generator=g, dtype=DTYPE) * 2 + 0.5
    y = torch.randint(0, 4, (steps, batch), generator=g)
    return list(zip(x, y))


def shard(t: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    size = len(t) // world_size
    return t[rank * size : (rank + 1) * size]


def snapshot(model) -> dict:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def train_on_shards(model, optimizer, rank: int, world_size: int) -> dict:
    """20 steps: this rank's shard of each global batch, gradients averaged over the group."""
    averager = mg.distributed.GradientAverager(model)
    for x, y in global_batches():
        x, y = shard(x, rank, world_size), shard(y, rank, world_size)
        loss = mg.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        averager()
        optimizer.step()
    return snapshot(model)


def equivalence_runs(rank: int, world_size: int) -> dict:
    """Final weights after 20 steps, per optimiser, and for plain and synchronised BatchNorm."""
    runs = {}
    for name, make in OPTIMIZERS.items():
        model = mlp()
        runs[name] = train_on_shards(model, make(model.parameters()), rank, world_size)
    for name, sync in (("batchnorm", False), ("sync_batchnorm", True)):
        model = batchnorm_mlp(sync=sync)
        runs[name] = train_on_shards(
            model, OPTIMIZERS["sgd_momentum"](model.parameters()), rank, world_size
        )
    return runs


# -- the Trainer on a sharded loader -------------------------------------------------
SAMPLES = 100  # 50 per process with 2; the last global batch of 4 splits into 2 + 2


def trainer_and_loader(progress: bool = False, verbose: bool = False, nan_at=None):
    g = torch.Generator().manual_seed(23)
    x = torch.randn(SAMPLES, 6, generator=g, dtype=DTYPE)
    y = (x[:, 0] + x[:, 1] > 0).long() + 2 * (x[:, 2] > 0).long()
    if nan_at is not None:
        x[nan_at, 0] = float("nan")
    world_size = mg.distributed.get_world_size()
    sampler = mg.data.DistributedSampler(SAMPLES, seed=7, shuffle=nan_at is None)
    loader = mg.data.DataLoader((x, y), GLOBAL_BATCH // world_size, sampler=sampler)
    model = mlp(seed=9)
    optimizer = mg.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-3)
    scheduler = mg.optim.StepLR(optimizer, step_size=1, gamma=0.7)
    trainer = mg.Trainer(model, optimizer, scheduler=scheduler, progress=progress, verbose=verbose)
    return trainer, loader


def trainer_runs(folder: str) -> dict:
    """Train 2 epochs (printing), save, train 2 more; resume the 1-process checkpoint here."""
    folder = Path(folder)
    rank = mg.distributed.get_rank()
    trainer, loader = trainer_and_loader(progress=True, verbose=True)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        trainer.fit(loader, loader, epochs=2)
    trainer.save(folder / "two_processes_epoch2.ckpt", loader=loader)
    trainer.save(folder / f"probe_rank{rank}.ckpt", loader=loader)
    exists_after_save = (folder / "two_processes_epoch2.ckpt").exists()
    trainer.verbose = False
    trainer.fit(loader, epochs=2)
    uninterrupted = snapshot(trainer.model)

    resumed, resumed_loader = trainer_and_loader()
    resumed.load(folder / "one_process_epoch2.ckpt", loader=resumed_loader)
    resumed.fit(resumed_loader, epochs=2)
    return {
        "stdout": out.getvalue(),
        "stderr": err.getvalue(),
        "exists_after_save": exists_after_save,
        "epoch4": uninterrupted,
        "history": trainer.history,
        "one_then_two": snapshot(resumed.model),
        "one_then_two_epoch": resumed.epoch,
    }


def everything(folder: str) -> dict:
    rank, world_size = mg.distributed.get_rank(), mg.distributed.get_world_size()
    return {"equivalence": equivalence_runs(rank, world_size), "trainer": trainer_runs(folder)}


def with_a_nan_sample() -> dict:
    """Sample 33 is NaN: in global batch 2, read by rank 1 alone (no shuffling)."""
    trainer, loader = trainer_and_loader(nan_at=33)
    losses = []
    trainer.callbacks = [
        mg.training.LambdaCallback(on_batch_end=lambda t, batch, loss: losses.append(loss))
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "skipping this batch"
        trainer.fit(loader, epochs=1)
    return {"skipped": trainer.skipped_batches, "losses": losses, "state": snapshot(trainer.model)}


def partial_gradients() -> dict:
    """Rank 0 alone gives ``a`` a gradient, nobody gives ``b`` one; weights from other seeds."""
    rank = mg.distributed.get_rank()
    a = mg.tensor(torch.zeros(3, dtype=DTYPE), requires_grad=True)
    b = mg.tensor(torch.zeros(2, dtype=DTYPE), requires_grad=True)
    c = mg.tensor(torch.zeros(4, dtype=DTYPE), requires_grad=True)
    if rank == 0:
        a.grad = torch.tensor([2.0, 4.0, 6.0], dtype=DTYPE)
    c.grad = torch.full((4,), 1.0 + rank, dtype=DTYPE)
    mg.distributed.average_gradients([a, b, c], bucket_cap_mb=16 / 2**20)  # a bucket each
    model = mlp(seed=3 + rank)
    mg.distributed.broadcast_parameters(model)
    return {"a": a.grad, "b": b.grad, "c": c.grad, "model": snapshot(model)}


# -- failures ------------------------------------------------------------------------
def fail_during_training(how: str, sync_batchnorm: bool = False) -> None:
    """Rank 1 dies (os._exit) or stops answering (sleeps) at batch 3; rank 0 trains on."""
    trainer, loader = trainer_and_loader()
    if sync_batchnorm:  # then rank 0's next collective is inside a gate's forward
        model = batchnorm_mlp(sync=True)
        trainer = mg.Trainer(model, mg.optim.SGD(model.parameters(), lr=0.1), progress=False)
    rank = mg.distributed.get_rank()

    def at_batch_end(trainer, batch, loss):
        if rank == 1 and batch == 3:
            if how == "die":
                os._exit(3)
            time.sleep(4.0)  # longer than the group's timeout

    trainer.callbacks = [mg.training.LambdaCallback(on_batch_end=at_batch_end)]
    trainer.fit(loader, epochs=50)  # rank 0 must fail, not finish, nor wait for ever


def uneven_batches() -> None:
    """Rank 1 reads two samples more than rank 0: 6 batches of 2 against 5."""
    rank = mg.distributed.get_rank()
    x = torch.randn(9 + 2 * rank, 6, dtype=DTYPE)
    loader = mg.data.DataLoader((x, torch.zeros(len(x), dtype=torch.long)), 2)
    model = mlp()
    mg.Trainer(model, mg.optim.SGD(model.parameters(), lr=0.1), progress=False).fit(loader)


# -- GPUs ----------------------------------------------------------------------------
def on_gpus() -> dict:
    """The SGD equivalence run on this process's GPU (NCCL)."""
    device = mg.distributed.device()
    rank, world_size = mg.distributed.get_rank(), mg.distributed.get_world_size()
    model = mlp().to(device)
    averager = mg.distributed.GradientAverager(model)
    optimizer = OPTIMIZERS["sgd_momentum"](model.parameters())
    for x, y in global_batches():
        x, y = shard(x, rank, world_size).to(device), shard(y, rank, world_size).to(device)
        loss = mg.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        averager()
        optimizer.step()
    return {"device": str(device), "state": {k: v.cpu() for k, v in snapshot(model).items()}}
