"""The process group: the processes of one data-parallel run, and how they find each other.

Data-parallel training runs the same script in W processes. Each process
has a *rank* (0, 1, ..., W-1) and knows the *world size* W. They talk through
torch.distributed: its collectives (all-reduce, broadcast, barrier) are calls
that every process makes, and that return once all of them have made it.

Which library carries the messages is the *backend*: gloo on the CPU (over
TCP, on one machine or several), NCCL between NVIDIA GPUs. minigrad picks
NCCL when CUDA is there and gloo otherwise.

How the processes meet (the *rendezvous*): ``torchrun`` starts them and tells
each one its rank, the world size and where rank 0 listens, in environment
variables::

    torchrun --standalone --nproc-per-node 2 -m minigrad.data_parallel_demo

    RANK=0 WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29400

so ``init_process_group()`` with no arguments is all a script needs. Without
torchrun, pass ``rank``, ``world_size`` and ``init_method`` yourself (a
``tcp://host:port`` address, or a ``file://`` path every process can see).

A process that crashes, or stops answering, must not leave the others waiting
for ever: every collective gives up after ``timeout`` (5 minutes unless you
say otherwise), and minigrad turns torch's failure into a
:class:`~minigrad.errors.DistributedError` that says which rank, which
collective and what probably happened. With NCCL, torch's watchdog enforces
the timeout by ending the process.

Outside a process group the helpers answer as for a run of one process:
``get_rank() == 0``, ``get_world_size() == 1``, ``is_main_process()``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist

from minigrad.errors import DistributedError, HyperParameterError, SetupError

DEFAULT_TIMEOUT = timedelta(minutes=5)

_HELP_LAUNCH = (
    "help: start the script with torchrun (torchrun --standalone --nproc-per-node 2 "
    "script.py), or pass rank=, world_size= and init_method='tcp://127.0.0.1:29500' yourself"
)


# -- who am I ------------------------------------------------------------------
def is_initialized() -> bool:
    """True inside a process group (after :func:`init_process_group`)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 outside a process group)."""
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    """The number of processes in the group (1 outside a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0, the process that prints, logs and writes checkpoints."""
    return get_rank() == 0


def get_local_rank() -> int:
    """This process's rank among those on its machine (torchrun's LOCAL_RANK; else the rank)."""
    return int(os.environ.get("LOCAL_RANK", get_rank()))


def device() -> torch.device:
    """Where this process's tensors belong: its own GPU with NCCL, the CPU with gloo."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def default_backend() -> str:
    """``"nccl"`` when CUDA and NCCL are there, else ``"gloo"``."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    return "gloo"


# -- starting and stopping -------------------------------------------------------
def _from_environment(name: str, given):
    if given is not None:
        return given
    value = os.environ.get(name)
    if value is None:
        raise SetupError(
            f"init_process_group: {name.lower()} was not given and the environment has no "
            f"{name} (torchrun sets it), so this process does not know its place in the group\n"
            + _HELP_LAUNCH
        )
    try:
        return int(value)
    except ValueError:
        raise SetupError(
            f"init_process_group: the environment's {name}={value!r} is not a whole number\n"
            + _HELP_LAUNCH
        ) from None


def _check_place(rank, world_size) -> tuple[int, int]:
    for name, value in (("rank", rank), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise HyperParameterError(
                f"init_process_group: {name} must be a whole number, got {value!r}\n"
                "help: e.g. init_process_group(rank=0, world_size=2, init_method=...)"
            )
    if world_size < 1 or not 0 <= rank < world_size:
        raise HyperParameterError(
            f"init_process_group: rank must lie in 0..world_size-1 and world_size be >= 1, "
            f"got rank={rank}, world_size={world_size}\n"
            "help: the processes of a group of W are ranks 0, 1, ..., W-1"
        )
    return rank, world_size


def _check_backend(backend: str) -> str:
    available = {"gloo": dist.is_gloo_available(), "nccl": dist.is_nccl_available()}
    if backend not in available:
        raise HyperParameterError(
            f"init_process_group: backend must be 'gloo' or 'nccl', got {backend!r}\n"
            "help: leave it out: minigrad picks NCCL with CUDA and gloo otherwise"
        )
    if not available[backend] or (backend == "nccl" and not torch.cuda.is_available()):
        raise SetupError(
            f"init_process_group: this torch build or machine has no {backend} "
            f"(CUDA available: {torch.cuda.is_available()})\n"
            "help: use backend='gloo', which runs on every CPU"
        )
    return backend


def _check_timeout(timeout) -> timedelta:
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        timeout = timedelta(seconds=timeout)
    if not isinstance(timeout, timedelta) or timeout.total_seconds() <= 0:
        raise HyperParameterError(
            f"init_process_group: timeout must be a positive number of seconds or a timedelta, "
            f"got {timeout!r}\nhelp: e.g. timeout=60 (seconds)"
        )
    return timeout


def init_process_group(
    backend: str | None = None,
    *,
    rank: int | None = None,
    world_size: int | None = None,
    init_method: str | None = None,
    timeout=DEFAULT_TIMEOUT,
) -> None:
    """Join the process group: from torchrun's environment, or from the arguments given.

    ``backend``: ``"gloo"`` or ``"nccl"`` (default: :func:`default_backend`).
    ``rank`` / ``world_size``: default to the environment's RANK / WORLD_SIZE.
    ``init_method``: where the processes meet; default ``"env://"`` (MASTER_ADDR
    and MASTER_PORT, set by torchrun). ``timeout``: seconds (or a timedelta)
    after which a collective that some process never joins fails.

    With NCCL each process takes the GPU of its local rank. Blocks until all
    ``world_size`` processes have joined (at most ``timeout``).
    """
    if is_initialized():
        raise SetupError(
            f"init_process_group: this process is already rank {get_rank()} of a group of "
            f"{get_world_size()}\nhelp: call mg.distributed.destroy_process_group() first"
        )
    backend = _check_backend(backend if backend is not None else default_backend())
    rank, world_size = _check_place(
        _from_environment("RANK", rank), _from_environment("WORLD_SIZE", world_size)
    )
    timeout = _check_timeout(timeout)
    if init_method is None:
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
        if missing:
            raise SetupError(
                f"init_process_group: no init_method was given and the environment has no "
                f"{' or '.join(missing)}, so this process does not know where to meet the "
                "others\n" + _HELP_LAUNCH
            )
        init_method = "env://"
    if backend == "nccl":  # one GPU per process: the one of its rank on this machine
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    try:
        dist.init_process_group(
            backend, init_method=init_method, rank=rank, world_size=world_size, timeout=timeout
        )
    except (RuntimeError, ValueError) as error:  # torch's DistError is a RuntimeError
        raise DistributedError(
            f"init_process_group: rank {rank} of {world_size} could not join the group at "
            f"{init_method} ({_first_line(error)})\n"
            "help: start every process within the timeout, with the same world_size and "
            "init_method and a different rank each"
        ) from None


def destroy_process_group() -> None:
    """Leave the process group (nothing to do outside one). Safe to call twice."""
    if is_initialized():
        dist.destroy_process_group()


@contextmanager
def in_process_group(backend: str | None = None, **kwargs):
    """``with in_process_group(): ...`` joins the group and always leaves it, also on an error.

    Takes the arguments of :func:`init_process_group`.
    """
    init_process_group(backend, **kwargs)
    try:
        yield
    finally:
        destroy_process_group()


# -- collectives that fail in words -------------------------------------------------
def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _what_happened(message: str) -> str:
    lowered = message.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return "another process did not join it within the group's timeout"
    if "closed" in lowered or "reset" in lowered or "broken pipe" in lowered:
        return "another process stopped (it crashed, was killed or left the group)"
    return "the processes could not exchange their tensors"


@contextmanager
def collective(what: str):
    """Run a block of torch.distributed calls; a failure becomes a :class:`DistributedError`.

    ``what`` names the collective for the message, e.g. "the all-reduce of the
    gradients (bucket 2 of 3)".
    """
    try:
        yield
    except RuntimeError as error:
        message = _first_line(error)
        rank, world_size = get_rank(), get_world_size()
        raise DistributedError(
            f"rank {rank} of {world_size}: {what} failed: {_what_happened(message)} "
            f"({message})\n"
            "help: the first error is in another process's output; every process must run "
            "the same steps (the same number of batches) and none may stop early"
        ) from None


def barrier(what: str = "the barrier") -> None:
    """Wait until every process has reached this line (nothing to do outside a group)."""
    if get_world_size() > 1:
        with collective(what):
            dist.barrier()
