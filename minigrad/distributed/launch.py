"""Starting W processes on this machine: with torchrun, or from Python with ``spawn``.

Two ways, for two uses:

* :func:`torchrun` runs a module the way you would in a terminal,
  ``python -m torch.distributed.run --standalone --nproc_per_node W -m module args``.
  torchrun sets each process's RANK, WORLD_SIZE and rendezvous address, so
  the module only calls ``mg.distributed.init_process_group()``. This is how
  ``./run demo --processes 2`` and lesson 13 start their processes.
* :func:`spawn` calls a Python function in W fresh processes, each already
  inside a gloo process group, and returns what each one returned (the tests
  and the benchmark use it). The function must be importable by name (a
  module-level function in a module, not one defined in a notebook).

New processes come from torch.multiprocessing's "forkserver" where the
system has it, else "spawn". Both start clean processes (a plain fork would
copy this process's thread pools, and a child that then uses several
threads can hang); the fork server imports torch and minigrad once and
hands out copies of itself, so every launch after the first takes a second
or two instead of the several seconds an import of torch takes.

Both have a hard ``timeout``: whatever happens in the processes, the caller
gets an answer (a :class:`~minigrad.errors.DistributedError` naming the ranks
that failed or hung) instead of waiting for ever.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch.multiprocessing as multiprocessing

from minigrad.errors import DistributedError, HyperParameterError


def _check_processes(where: str, processes) -> int:
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise HyperParameterError(
            f"{where}: the number of processes must be a whole number >= 1, got {processes!r}\n"
            "help: e.g. 2 (on a machine with 2 cores or 2 GPUs)"
        )
    return processes


# -- torchrun, as from a terminal -------------------------------------------------
def torchrun_command(module: str, processes: int, args=()) -> list[str]:
    """The command line that starts ``python -m module args`` in ``processes`` processes."""
    processes = _check_processes("torchrun", processes)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # one machine: torchrun picks a free port itself
        f"--nproc_per_node={processes}",
        "-m",
        module,
        *map(str, args),
    ]


def torchrun(
    module: str,
    processes: int,
    args=(),
    timeout: float | None = 300.0,
    echo: bool = True,
    capture: bool = True,
) -> str:
    """Run ``python -m module args`` on ``processes`` processes through torchrun; return its output.

    ``capture=False`` lets the output go straight to this terminal (and returns
    ""); otherwise it is collected and, with ``echo``, printed after the run. A
    non-zero exit, or a run longer than ``timeout`` seconds (None: no limit),
    raises a DistributedError with the end of the output (torchrun ends every
    process when one of them fails).
    """
    command = torchrun_command(module, processes, args)
    # One thread per process (torchrun would say so in a warning): the processes share the cores.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    pipe = subprocess.PIPE if capture else None
    try:
        done = subprocess.run(
            command,
            stdout=pipe,
            stderr=subprocess.STDOUT if capture else None,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.stdout or ""
        output = output.decode() if isinstance(output, bytes) else output
        raise DistributedError(
            f"torchrun: {module} on {processes} processes ran longer than {timeout:g} s and "
            f"was stopped; its last output:\n{output[-2000:]}\n"
            "help: a process probably waits for one that stopped; pass a larger timeout if "
            "the work is simply long"
        ) from None
    output = done.stdout or ""
    if echo and capture:
        print(output, end="")
    if done.returncode != 0:
        raise DistributedError(
            f"torchrun: {module} on {processes} processes failed (exit status "
            f"{done.returncode}); the end of its output:\n{output[-3000:]}\n"
            "help: the first traceback comes from the process that failed first"
        )
    return output


# -- spawn, from Python --------------------------------------------------------------
@dataclass
class Outcome:
    """What one spawned process did: its return value, or the error it raised."""

    rank: int
    exitcode: int | None  # None: still running when the time ran out (then killed)
    result: object = None
    error_type: str | None = None
    error: str | None = None  # the message (first line of the traceback's last entry)
    traceback: str | None = None
    seconds: float | None = None  # from start until it finished or failed

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.error_type is None

    def describe(self) -> str:
        if self.ok:
            return f"rank {self.rank}: finished"
        if self.exitcode is None:
            return f"rank {self.rank}: still running at the time limit (killed)"
        if self.error_type is not None:
            return f"rank {self.rank}: {self.error_type}: {self.error}"
        return f"rank {self.rank}: exited with status {self.exitcode} without a result"


def _child(fn, rank, world_size, backend, init_method, timeout, threads, folder, args) -> None:
    """The body of each spawned process: join the group, run ``fn``, leave its outcome."""
    import torch

    from minigrad.distributed.process_group import in_process_group

    torch.set_num_threads(threads)
    start = time.perf_counter()
    report: dict = {"rank": rank}
    try:
        with in_process_group(
            backend, rank=rank, world_size=world_size, init_method=init_method, timeout=timeout
        ):
            report["result"] = fn(*args)
    except BaseException as error:  # the parent shows it: nothing may be lost
        report["error_type"] = type(error).__name__
        report["error"] = str(error)
        report["traceback"] = traceback.format_exc()
    report["seconds"] = time.perf_counter() - start
    try:
        data = pickle.dumps(report)
    except Exception as error:  # a result that cannot travel back
        report.pop("result", None)
        report["error_type"] = type(error).__name__
        report["error"] = f"the return value cannot be pickled: {error}"
        data = pickle.dumps(report)
    partial = Path(folder) / f"rank{rank}.partial"
    partial.write_bytes(data)
    partial.replace(Path(folder) / f"rank{rank}.outcome")  # whole, or not there
    if "error_type" in report:
        sys.exit(1)


def _context():
    """The start method: a fork server (with torch and minigrad imported) where there is one."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "minigrad"])
        return context
    return multiprocessing.get_context("spawn")


def start_processes(
    fn,
    world_size: int,
    args=(),
    timeout: float = 120.0,
    group_timeout: float = 60.0,
    threads: int = 1,
    backend: str = "gloo",
) -> list[Outcome]:
    """Run ``fn(*args)`` in ``world_size`` new processes inside a process group; every Outcome.

    ``timeout``: the hard limit for the whole run, in seconds; processes still
    running then are killed. ``group_timeout``: how long a collective waits for
    a missing process. When one process fails, the others get
    ``group_timeout`` + 10 s more to fail (or finish) by themselves, then are
    killed. ``threads``: torch threads per process. ``backend``: "gloo" (CPU)
    or "nccl" (one GPU per rank). Never raises for what the processes did:
    look at the outcomes.
    """
    world_size = _check_processes("spawn", world_size)
    context = _context()
    with tempfile.TemporaryDirectory(prefix="minigrad-spawn-") as folder:
        init_method = "file://" + str(Path(folder) / "rendezvous")
        processes = [
            context.Process(
                target=_child,
                args=(
                    fn,
                    rank,
                    world_size,
                    backend,
                    init_method,
                    group_timeout,
                    threads,
                    folder,
                    args,
                ),
                daemon=True,
            )
            for rank in range(world_size)
        ]
        for process in processes:
            process.start()
        deadline = time.monotonic() + timeout
        grace_given = False
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            if not grace_given and any(p.exitcode not in (None, 0) for p in processes):
                # One failed: the others should fail soon too, through the group's timeout.
                deadline = min(deadline, time.monotonic() + group_timeout + 10.0)
                grace_given = True
            time.sleep(0.05)
        killed = {rank for rank, p in enumerate(processes) if p.is_alive()}
        for rank in killed:
            processes[rank].kill()
            processes[rank].join()
        return [
            _read_outcome(folder, rank, None if rank in killed else p.exitcode)
            for rank, p in enumerate(processes)
        ]


def _read_outcome(folder: str, rank: int, exitcode: int | None) -> Outcome:
    path = Path(folder) / f"rank{rank}.outcome"
    if not path.exists():
        return Outcome(rank, exitcode)
    report = pickle.loads(path.read_bytes())  # written by our own child process above
    return Outcome(
        rank,
        exitcode,
        report.get("result"),
        report.get("error_type"),
        report.get("error"),
        report.get("traceback"),
        report.get("seconds"),
    )


def spawn(fn, world_size: int, args=(), **options) -> list:
    """Run ``fn(*args)`` in ``world_size`` processes (a process group); their results by rank.

    ``options`` are those of :func:`start_processes` (``timeout``,
    ``group_timeout``, ``threads``, ``backend``). Raises a DistributedError
    that lists every rank's fate, with the first traceback, when any process
    fails, dies or outlasts the timeout.
    """
    outcomes = start_processes(fn, world_size, args, **options)
    if all(outcome.ok for outcome in outcomes):
        return [outcome.result for outcome in outcomes]
    first = next((o for o in outcomes if o.traceback), None)
    error = DistributedError(
        f"spawn: {getattr(fn, '__name__', fn)} on {world_size} processes failed:\n  "
        + "\n  ".join(outcome.describe() for outcome in outcomes)
        + (f"\n\nthe first traceback (rank {first.rank}):\n{first.traceback}" if first else "")
        + "\nhelp: a process that waits for one that stopped fails with the group's timeout; "
        "the first error is the one to read"
    )
    error.outcomes = outcomes
    raise error
