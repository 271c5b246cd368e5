"""Data-parallel training on torch.distributed: the same minigrad code on W processes.

Every process holds the whole model and reads its own shard of each global
batch; after backprop the processes average their gradients, so each takes
the step one process would take on the whole global batch (the maths is in
``averaging.py``). The messages travel through torch.distributed: gloo on
CPUs, NCCL on GPUs, started by ``torchrun``, on one machine or several.

A training script, unchanged but for two lines::

    import minigrad as mg

    mg.distributed.init_process_group()          # from torchrun's environment
    loader = mg.data.DataLoader((x, y), batch_size=16,   # per process
                                sampler=mg.data.DistributedSampler(len(x), seed=0))
    trainer = mg.Trainer(model, optimizer)       # sees the group: averages gradients,
    trainer.fit(loader, test_loader, epochs=10)  # rank 0 alone prints and saves
    mg.distributed.destroy_process_group()

    $ torchrun --standalone --nproc-per-node 2 train.py

Reading order (each file imports only the ones before it):

    process_group.py    init_process_group, get_rank, get_world_size, barrier, shutdown,
                        and collectives whose failures say what happened
    averaging.py        GradientAverager / average_gradients: all-reduce in buckets
    sync_batchnorm.py   SyncBatchNorm: batch statistics of the global batch
    data_parallel.py    DataParallel: what the Trainer does when it finds a group
    launch.py           torchrun(...) and spawn(...): start W processes, with a time limit

A script for torchrun, the digits MLP trained data-parallel, is
``python -m minigrad.data_parallel_demo`` (it uses the Trainer, which comes
after this package).
"""

from minigrad.distributed.process_group import (
    DEFAULT_TIMEOUT,
    barrier,
    default_backend,
    destroy_process_group,
    device,
    get_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    is_main_process,
    in_process_group,
)
from minigrad.distributed.averaging import (
    GradientAverager,
    average_gradients,
    broadcast_parameters,
)
from minigrad.distributed.sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from minigrad.distributed.data_parallel import DataParallel
from minigrad.distributed.launch import spawn, start_processes, torchrun, torchrun_command

__all__ = [
    "DEFAULT_TIMEOUT",
    "barrier",
    "default_backend",
    "destroy_process_group",
    "device",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "is_main_process",
    "in_process_group",
    "GradientAverager",
    "average_gradients",
    "broadcast_parameters",
    "SyncBatchNorm",
    "convert_sync_batchnorm",
    "DataParallel",
    "spawn",
    "start_processes",
    "torchrun",
    "torchrun_command",
]
