"""DistributedSampler: which samples each process of a data-parallel run reads, epoch by epoch.

Every process builds the same *epoch order* (a shuffle seeded by
``seed + epoch``, so all of them agree without talking), and process r of W
takes every W-th index of it, starting at r::

    epoch order    7 2 9 0 4 8 1 5 3 6          (seed + epoch decide it)
    rank 0 of 2    7   9   4   1   3
    rank 1 of 2      2   0   8   5   6

The shards are disjoint and together they cover the epoch. Batch j of
every process, put together, is a contiguous piece of the epoch order: with
b samples per process it is ``order[j*W*b : (j+1)*W*b]``, which is batch j
of one process reading the same order with a batch of W*b. That is why W
processes on batches of b train like one process on batches of W*b.

``set_epoch(e)`` picks epoch e's order (the Trainer calls it before each
epoch); without it every epoch repeats the same order. The order depends
only on the seed, the epoch and the data set's length, never on W, so a run
can stop on 2 processes and go on with 1 (or the other way round) and read
the very batches it would have read.

When W does not divide the data set
===================================

Every process must get the same number of samples, or one would run a batch
the others never join and all would wait. With N samples:

* ``drop_last=False`` (the default) pads: the order is extended by its own
  first ``ceil(N/W)*W - N`` indices, so every process gets ceil(N/W) samples
  and at most W-1 samples are seen twice in that epoch;
* ``drop_last=True`` cuts: the last ``N mod W`` indices of the order are left
  out of that epoch (a different few each epoch when shuffled), so every
  process gets floor(N/W).

Either way each process has the same count. The equality with one process
is exact only when W divides N (padding adds samples, cutting removes
some); for N much larger than W the difference is a handful of samples an
epoch. These are the choices and the indices of torch's
``torch.utils.data.DistributedSampler``, which the tests compare against.
"""

from __future__ import annotations

import math
import numbers

import torch

from minigrad.distributed.process_group import get_rank, get_world_size
from minigrad.errors import ArgumentTypeError, CheckpointError, HyperParameterError
from minigrad.nn.checks import check_count, check_flag


def _dataset_length(dataset) -> int:
    if isinstance(dataset, numbers.Integral) and not isinstance(dataset, bool):
        return check_count("DistributedSampler", "dataset", dataset, 0, "the number of samples")
    if hasattr(dataset, "__len__"):
        return len(dataset)
    raise ArgumentTypeError(
        f"DistributedSampler: expected a data set (anything with a length) or its number of "
        f"samples, got {type(dataset).__name__}\nhelp: e.g. DistributedSampler(len(x_train))"
    )


class DistributedSampler:
    """The indices that process ``rank`` of ``num_replicas`` reads (see the module docstring).

    ``dataset``: a data set, a tuple ``(x, y)`` or the number of samples.
    ``num_replicas`` and ``rank`` default to the process group's (1 and 0
    outside one). ``shuffle``: a new order each epoch from ``seed + epoch``
    (the same ``seed`` in every process). Pass it to a DataLoader::

        sampler = DistributedSampler(len(x), seed=0)
        loader = DataLoader((x, y), batch_size=16, sampler=sampler)

    >>> [list(DistributedSampler(5, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(
        self,
        dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        self.num_samples_total = _dataset_length(
            dataset[0] if isinstance(dataset, tuple) else dataset
        )
        world = get_world_size() if num_replicas is None else num_replicas
        self.num_replicas = check_count(
            "DistributedSampler", "num_replicas", world, 1, "the number of processes, e.g. 2"
        )
        place = get_rank() if rank is None else rank
        self.rank = check_count("DistributedSampler", "rank", place, 0, "0, 1, ..., W-1")
        if self.rank >= self.num_replicas:
            raise HyperParameterError(
                f"DistributedSampler: rank {self.rank} does not exist among {self.num_replicas} "
                f"processes\nhelp: the ranks of {self.num_replicas} processes are 0 to "
                f"{self.num_replicas - 1}"
            )
        self.shuffle = check_flag("DistributedSampler", "shuffle", shuffle, "shuffle=False")
        self.seed = check_count("DistributedSampler", "seed", seed, 0, "a whole number >= 0")
        self.drop_last = check_flag("DistributedSampler", "drop_last", drop_last, "see the doc")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Read epoch ``epoch``'s order from now on (call it before each epoch)."""
        self.epoch = check_count("DistributedSampler", "epoch", epoch, 0, "e.g. set_epoch(3)")

    def __len__(self) -> int:
        """The number of samples this process reads per epoch (the same in every process)."""
        n, w = self.num_samples_total, self.num_replicas
        return n // w if self.drop_last else math.ceil(n / w)

    def epoch_order(self) -> torch.Tensor:
        """The order of the whole epoch, for every process, padded or cut to a multiple of W."""
        n = self.num_samples_total
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        total = len(self) * self.num_replicas
        if total <= n:
            return order[:total]
        repeats = math.ceil(total / max(n, 1))
        return order.repeat(repeats)[:total]  # pad with the order's own first indices

    def indices(self) -> torch.Tensor:
        """This process's share of the epoch: every W-th index, starting at its rank."""
        return self.epoch_order()[self.rank :: self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    # -- saving (for checkpoints; the number of processes may differ on resuming) --------
    def state_dict(self) -> dict:
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def check_state_dict(self, state: dict):
        """Check a saved state and return the function that restores it.

        Seed, shuffle and drop_last must match (else the batches would differ);
        the number of processes and the rank may change.
        """
        keys = {"seed", "epoch", "shuffle", "drop_last"}
        if not isinstance(state, dict) or set(state) != keys:
            raise CheckpointError(
                f"DistributedSampler.load_state_dict: expected a dict with {sorted(keys)}, got "
                f"{state!r:.80}\nhelp: pass what sampler.state_dict() returned"
            )
        for name in ("seed", "shuffle", "drop_last"):
            if state[name] != getattr(self, name):
                raise CheckpointError(
                    f"DistributedSampler.load_state_dict: the saved sampler has {name}="
                    f"{state[name]!r}, this one {name}={getattr(self, name)!r}, so the batches "
                    f"would differ from the saved run's\n"
                    f"help: build the sampler with {name}={state[name]!r}"
                )
        epoch = state["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise CheckpointError(
                f"DistributedSampler.load_state_dict: the saved epoch {epoch!r} is not a whole "
                "number >= 0\nhelp: the checkpoint is damaged; use an earlier one"
            )

        def load() -> None:
            self.epoch = epoch

        return load

    def load_state_dict(self, state: dict) -> None:
        self.check_state_dict(state)()

    def __repr__(self) -> str:
        return (
            f"DistributedSampler(rank {self.rank} of {self.num_replicas}, "
            f"{len(self)} of {self.num_samples_total} samples, shuffle={self.shuffle}, "
            f"seed={self.seed}, epoch={self.epoch})"
        )


# -- a sampler inside a DataLoader ------------------------------------------------------------
def set_sampler_epoch(loader, epoch: int) -> None:
    """Before an epoch: tell the loader's sampler which epoch's order to read (if it asks)."""
    set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
    if callable(set_epoch):
        set_epoch(epoch)


def check_sampler(sampler, shuffle: bool):
    """A DataLoader's sampler: it gives the order, so shuffle=True beside it is refused."""
    if sampler is None:
        return None
    if not (hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")):
        raise ArgumentTypeError(
            f"DataLoader: sampler must give indices (iteration) and their number (len), got "
            f"{type(sampler).__name__}\nhelp: e.g. sampler=mg.data.DistributedSampler(len(x))"
        )
    if shuffle:
        raise HyperParameterError(
            "DataLoader: shuffle=True and a sampler both want to decide the order\n"
            "help: leave shuffle out; DistributedSampler(..., shuffle=True) shuffles each epoch"
        )
    return sampler


def _saves_state(sampler) -> bool:
    return callable(getattr(sampler, "state_dict", None))


def sampler_state(sampler) -> dict:
    """``{"sampler": its state}`` for a DataLoader's state dict; ``{}`` for none."""
    return {"sampler": sampler.state_dict()} if _saves_state(sampler) else {}


def check_sampler_state(sampler, saved):
    """Check a DataLoader's saved sampler state (None: none saved); the function that loads it."""
    if (saved is None) == _saves_state(sampler):
        raise CheckpointError(
            "DataLoader.load_state_dict: the saved loader "
            f"{'read' if saved is not None else 'did not read'} through a "
            f"DistributedSampler, this one {'does not' if saved is not None else 'does'}, "
            "so its batches would differ\n"
            "help: build the loader as it was saved; on one process a "
            "DistributedSampler(len(data)) reads the same epochs as on several"
        )
    return sampler.check_state_dict(saved) if saved is not None else (lambda: None)
