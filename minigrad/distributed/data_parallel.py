"""DataParallel: the few things the Trainer does differently inside a process group.

The Trainer's loop stays the loop of one process. When it finds a group of
W > 1 processes (``DataParallel.begin``) it asks a DataParallel to

* ``start``: copy rank 0's weights everywhere (as torch's DDP does) and make
  sure every process has the same number of batches per epoch (one that has
  an extra batch would wait in an all-reduce that nobody else joins);
* ``global_loss``: turn this shard's loss into the global batch's, the mean
  over processes, so that all of them skip a NaN batch together and the
  callbacks see the number one process would see;
* ``average_gradients``: after each backward (see ``averaging.py``);
* ``epoch_totals``: the epoch's sums over every process (loss, samples,
  hits, the evaluation), so that the history holds the numbers of the whole
  data set, the same in every process.

Rank 0 alone shows a progress bar and prints; every process runs the
callbacks (a callback with side effects can ask
``mg.distributed.is_main_process()``).
"""

from __future__ import annotations

import time
import warnings

import torch
import torch.distributed as dist

from minigrad.distributed.averaging import (
    DEFAULT_BUCKET_CAP_MB,
    GradientAverager,
    broadcast_parameters,
)
from minigrad.distributed.process_group import collective, get_rank, get_world_size
from minigrad.errors import SetupError


class DataParallel:
    """Gradient averaging and shared numbers for one model in a process group of W > 1."""

    def __init__(self, model, bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB):
        self.model = model
        self.rank, self.world_size = get_rank(), get_world_size()
        self.averager = GradientAverager(model, bucket_cap_mb)
        self.sync_seconds = 0.0  # in the small all-reduces of losses and counts

    @classmethod
    def begin(cls, model, train_loader) -> DataParallel | None:
        """A started DataParallel when this process is in a group of several, else None."""
        if get_world_size() == 1:
            return None
        parallel = cls(model)
        parallel.start(train_loader)
        return parallel

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def communication_seconds(self) -> float:
        """Time spent in every collective so far: gradients, losses and counts."""
        return self.averager.communication_seconds + self.sync_seconds

    def start(self, train_loader) -> None:
        """Before the first epoch: one model everywhere, the same number of batches everywhere."""
        broadcast_parameters(self.model)
        sampler = getattr(train_loader, "sampler", None)
        if self.is_main and not callable(getattr(sampler, "set_epoch", None)):
            warnings.warn(
                f"Trainer: {self.world_size} processes, but the training loader has no "
                "DistributedSampler, so every process reads the whole data set (each step "
                "costs W times the work for the same result)\n"
                "help: DataLoader(data, batch_size, sampler=mg.data.DistributedSampler(len(data)))",
                RuntimeWarning,
                stacklevel=4,
            )
        if not hasattr(train_loader, "__len__"):
            return
        batches = len(train_loader)
        low, high = self._extremes(batches)
        if low != high:
            raise SetupError(
                f"fit: the processes have different numbers of batches per epoch (from {low} "
                f"to {high}; rank {self.rank} has {batches}), so one would wait for ever in "
                "an all-reduce the others never join\n"
                "help: shard the data with sampler=mg.data.DistributedSampler(len(data)), "
                "which gives every process the same number of samples"
            )

    def _extremes(self, count: int) -> tuple[int, int]:
        both = torch.tensor([count, -count], dtype=torch.int64, device=self._device())
        with collective("the comparison of the number of batches"):
            dist.all_reduce(both, op=dist.ReduceOp.MAX)
        return -int(both[1]), int(both[0])

    def _device(self) -> torch.device:
        first = next(iter(self.averager.parameters), None)
        return first.device if first is not None else torch.device("cpu")

    def _sum(self, values: list[float], what: str) -> list[float]:
        total = torch.tensor(values, dtype=torch.float64, device=self._device())
        began = time.perf_counter()
        with collective(what):
            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        self.sync_seconds += time.perf_counter() - began
        return total.tolist()

    def global_loss(self, value: float) -> float:
        """The mean of every process's batch loss: the global batch's loss (equal shards)."""
        return self._sum([value], "the all-reduce of the batch loss")[0] / self.world_size

    def average_gradients(self) -> None:
        self.averager()

    def epoch_totals(self, loss_sum: float, samples: int, hits, test: dict):
        """``(loss_sum, samples, hits, test)`` of the whole group, from this process's.

        The evaluation of each process is weighted by its number of samples:
        with the same test loader everywhere that is the mean of equal numbers,
        with a sharded one the evaluation of the whole test set. A None (no
        hits, no test loss: not a classifier) stays None, as it is None in
        every process.
        """
        n = test.get("samples", 0)
        loss, accuracy = test["loss"], test["accuracy"]
        totals = self._sum(
            [loss_sum, samples, float(hits or 0), n, (loss or 0.0) * n, (accuracy or 0.0) * n],
            "the all-reduce of the epoch's totals",
        )
        loss_sum, samples, all_hits, n = totals[:4]
        test = {
            "loss": None if loss is None else totals[4] / n,
            "accuracy": None if accuracy is None else totals[5] / n,
            "samples": int(round(n)),
        }
        return loss_sum, samples, None if hits is None else all_hits, test


def prints(parallel: DataParallel | None) -> bool:
    """Whether this process shows progress and prints: rank 0, or the only process."""
    return parallel is None or parallel.is_main
