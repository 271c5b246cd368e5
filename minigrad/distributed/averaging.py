"""Gradient averaging: after each backward, every process gets the mean of all their gradients.

Why the mean is the right thing
===============================

Cut a global batch of B samples into W shards of b = B / W samples, one per
process. Process r computes the loss of its shard and its gradient::

    L_r = (1/b) sum_{i in shard r} l_i          g_r = dL_r/dw = (1/b) sum_{i in shard r} dl_i/dw

The loss of the whole global batch is the mean of the shards' losses, and a
derivative goes through a sum, so::

    L = (1/B) sum_i l_i = (1/W) sum_r L_r      =>      dL/dw = (1/W) sum_r g_r

The mean of the shards' gradients *is* the gradient of the global batch's
mean loss: W processes on shards of B take exactly the step that one process
takes on B (the same numbers up to the order of floating-point sums). The
*sum* would be W times too large, like a learning rate W times too high. All
of it needs shards of equal size, which ``mg.data.DistributedSampler`` makes.

How: all-reduce, in buckets
===========================

``all_reduce`` adds a tensor over all processes and leaves the sum in every
one of them; dividing by W gives the mean. Each call costs a fixed start-up
time (a round trip between the processes) on top of the time per byte, so a
model with many small gradients is better sent in a few large pieces than
one tensor at a time. Like torch's DistributedDataParallel, the gradients
are packed into *buckets* of at most ``bucket_cap_mb`` megabytes each, in
reverse order of the parameters (backprop finishes the last layers first;
DDP starts sending those while backprop still runs, here it all happens
after backprop returns). One bucket is::

    flat = cat([g.reshape(-1) for g in the bucket's gradients])   # one tensor
    all_reduce(flat)                                              # sum over processes
    flat /= W                                                     # the mean
    each gradient becomes its slice of flat

A parameter that got no gradient on one process (``.grad is None``: it was
not used this step) sends zeros there, and at the end it has a gradient if
any process computed one, still None if none did, as on one process. Every
process must build the same buckets in the same order, which holds because
they hold the same model: the buckets depend only on the parameters, never
on which gradients exist.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist

from minigrad.distributed.process_group import collective, get_world_size
from minigrad.errors import ArgumentTypeError, HyperParameterError
from minigrad.variable import Variable

DEFAULT_BUCKET_CAP_MB = 25.0  # torch's DistributedDataParallel uses the same default


def _parameters(model) -> list[Variable]:
    """The Variables whose gradients are averaged: a Module's parameters, or a list of them."""
    source = model.parameters() if callable(getattr(model, "parameters", None)) else model
    try:
        variables = list(source)
    except TypeError:
        variables = None
    if variables is None or not all(isinstance(v, Variable) for v in variables):
        raise ArgumentTypeError(
            f"average_gradients: expected a minigrad Module or a list of Variables, got "
            f"{type(model).__name__}\nhelp: pass the model, e.g. average_gradients(model)"
        )
    return [v for v in variables if v.requires_grad]


def make_buckets(parameters: list[Variable], bucket_cap_mb: float) -> list[list[Variable]]:
    """Group parameters into buckets of at most ``bucket_cap_mb`` MB, last parameter first.

    A bucket holds one dtype on one device (it becomes one tensor); a parameter
    larger than the cap gets a bucket of its own.
    """
    cap = bucket_cap_mb * 1024 * 1024
    buckets: list[list[Variable]] = []
    size = 0.0
    for p in reversed(parameters):
        nbytes = p.value.numel() * p.value.element_size()
        current = buckets[-1] if buckets else None
        fits = current is not None and size + nbytes <= cap
        if fits and (current[0].dtype, current[0].device) == (p.dtype, p.device):
            current.append(p)
            size += nbytes
        else:
            buckets.append([p])
            size = nbytes
    return buckets


class GradientAverager:
    """Averages the gradients of ``model``'s parameters over all processes, bucket by bucket.

    Call it after ``loss.backward()`` and before ``optimizer.step()``::

        averager = GradientAverager(model)
        for x, y in loader:                 # each process reads its own shard
            loss = mg.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            averager()                      # every p.grad is now the mean over processes
            optimizer.step()

    Outside a process group (or in a group of one) it does nothing.
    ``communication_seconds`` adds up the time spent in all-reduce (for the
    benchmark); ``calls`` counts the all-reduce calls.
    """

    def __init__(self, model, bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB):
        if isinstance(bucket_cap_mb, bool) or not (
            isinstance(bucket_cap_mb, (int, float)) and bucket_cap_mb > 0
        ):
            raise HyperParameterError(
                f"GradientAverager: bucket_cap_mb must be a positive number of megabytes, got "
                f"{bucket_cap_mb!r}\nhelp: e.g. 25 (torch's DistributedDataParallel default)"
            )
        self.parameters = _parameters(model)
        self.buckets = make_buckets(self.parameters, float(bucket_cap_mb))
        self.communication_seconds = 0.0
        self.calls = 0

    def __call__(self) -> None:
        world_size = get_world_size()
        if world_size == 1:
            return
        for number, bucket in enumerate(self.buckets, 1):
            self._average_bucket(bucket, world_size, f"bucket {number} of {len(self.buckets)}")

    def _average_bucket(self, bucket: list[Variable], world_size: int, name: str) -> None:
        sample = bucket[0].value
        pieces = [
            p.grad.reshape(-1) if p.grad is not None else sample.new_zeros(p.value.numel())
            for p in bucket
        ]
        # One more number per parameter: 1 where this process has a gradient. Summed over
        # processes it says whether anyone had one (else the gradient stays None).
        had_grad = torch.tensor(
            [p.grad is not None for p in bucket], dtype=sample.dtype, device=sample.device
        )
        flat = torch.cat(pieces + [had_grad])
        start = time.perf_counter()
        with collective(f"the all-reduce of the gradients ({name})"):
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        self.communication_seconds += time.perf_counter() - start
        self.calls += 1
        flat /= world_size
        offset = 0
        for p, anyone in zip(bucket, flat[-len(bucket) :].tolist()):
            n = p.value.numel()
            if anyone > 0:
                p.grad = flat[offset : offset + n].view_as(p.value)  # slices do not overlap
            offset += n

    def __repr__(self) -> str:
        sizes = [len(bucket) for bucket in self.buckets]
        return f"GradientAverager({len(self.parameters)} parameters in buckets of {sizes})"


def average_gradients(model, bucket_cap_mb: float = DEFAULT_BUCKET_CAP_MB) -> None:
    """Replace every ``p.grad`` of ``model`` by its mean over all processes (once).

    The same as ``GradientAverager(model, bucket_cap_mb)()``; keep a
    GradientAverager when you average every step, so the buckets are made once.
    """
    GradientAverager(model, bucket_cap_mb)()


def broadcast_parameters(model, source: int = 0) -> None:
    """Copy rank ``source``'s parameters and buffers into every process (as DDP does at start).

    Processes that built their models from the same seed hold the same values
    already; this makes sure, whatever the seeds, that all of them start from
    one model.
    """
    if get_world_size() == 1:
        return
    state = list(model.state_dict().items()) if hasattr(model, "state_dict") else []
    with collective(f"the broadcast of rank {source}'s parameters"):
        for _, value in state:
            dense = value.contiguous()  # the collectives send whole blocks of memory
            dist.broadcast(dense, src=source)
            if dense is not value:
                value.copy_(dense)
