"""Shared measuring tools: interleaved turns, their spread, page faults, peak tensor memory.

A shared, noisy machine is the normal case here, so every figure is built to
survive it:

* **Interleaved turns.** The contenders take turns (A B, B A, A B, ...),
  each turn timing a few calls, so a slow moment hits both. A ratio is the
  median of the per-turn ratios, and its spread is their interquartile
  range (25th to 75th percentile): half the turns fall inside it.
* **CPU time of this thread**, not wall time: with one torch thread every
  kernel runs in this thread, and time spent preempted by a neighbour's
  process is not counted. (Page faults are: the kernel handles them on this
  thread's time.)
* **A warm allocator.** glibc's malloc hands out blocks above its mmap
  threshold (128 KiB at start) as fresh mappings and unmaps them on free,
  so each step would fault its tensors' pages in again: thousands of page
  faults per CNN step, more or fewer depending on what ran before.
  Allocating and freeing one 31 MiB block first makes glibc raise that
  threshold to 31 MiB (its own dynamic rule, changing no setting), after
  which a step's tensors are reused from the heap. Faults per call are
  counted and shown, so a reader can see they are gone.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch


def warm_allocator() -> None:
    """Allocate and free one 31 MiB block: glibc then keeps blocks below that in the heap."""
    block = torch.empty(31 * 2**20, dtype=torch.uint8)
    del block


def page_faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class Samples(NamedTuple):
    """Per-turn seconds per call (this thread's CPU time), and page faults per call."""

    seconds: list[float]
    faults: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def faults_per_call(self) -> float:
        return statistics.median(self.faults)


class Ratio(NamedTuple):
    """The median of paired per-turn ratios, and their interquartile range."""

    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.3f}"

    @property
    def spread(self) -> str:
        return f"{self.low:.2f}-{self.high:.2f}"


def interleaved(
    contenders: dict[str, Callable[[], None]], steps: int, turns: int, warmup: int = 3
) -> dict[str, Samples]:
    """Time each contender over ``turns`` interleaved turns of ``steps`` calls each.

    The order of the contenders rotates every turn, so none always runs first.
    """
    warm_allocator()
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    names = list(contenders)
    samples = {name: Samples([], []) for name in names}
    for turn in range(turns):
        shift = turn % len(names)
        for name in names[shift:] + names[:shift]:
            fn = contenders[name]
            faults, start = page_faults(), time.thread_time()
            for _ in range(steps):
                fn()
            samples[name].seconds.append((time.thread_time() - start) / steps)
            samples[name].faults.append((page_faults() - faults) / steps)
    return samples


def ratio(ours: Samples, theirs: Samples) -> Ratio:
    """ours / theirs, turn by turn (the two ran side by side in each turn)."""
    per_turn = sorted(a / b for a, b in zip(ours.seconds, theirs.seconds))
    quartiles = statistics.quantiles(per_turn, n=4)
    return Ratio(statistics.median(per_turn), quartiles[0], quartiles[2])


def interleaved_medians(
    contenders: dict[str, Callable[[], None]], steps: int, repeats: int, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each contender (see :func:`interleaved`)."""
    return {name: s.median for name, s in interleaved(contenders, steps, repeats, warmup).items()}


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send what C code writes to stderr (file descriptor 2) to /dev/null inside the block.

    torch's profiler logs ``USDT ... profiler_start`` and ``profiler_stop`` lines
    there, past Python's ``sys.stderr``; they are not part of any table.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_live_cpu_memory(fn: Callable[[], None]) -> int:
    """Peak bytes of CPU tensor memory alive while ``fn`` runs (beyond what existed before).

    torch's profiler reports the memory each event allocated (+) or freed (-)
    itself; summing them in time order gives the live memory curve, whose
    maximum is the peak. An event is an interval, so an allocation is counted
    from the event's start and a free only from its end: torch's autograd
    engine frees a node's saved tensors inside the same event that computes its
    gradient, and counting those frees at the start would hide the peak.
    """
    activities = [torch.profiler.ProfilerActivity.CPU]
    with quiet_stderr():
        with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
            fn()
        events = prof.events()
    changes = []
    for event in events:
        size = event.self_cpu_memory_usage
        if size > 0:
            changes.append((event.time_range.start, size))
        elif size < 0:
            changes.append((event.time_range.end, size))
    live = peak = 0
    for _, size in sorted(changes, key=lambda change: change[0]):
        live += size
        peak = max(peak, live)
    return peak


def peak_memory_ratio(ours: Callable[[], None], theirs: Callable[[], None], repeats: int = 3):
    """``(our peak, their peak)`` in bytes, each the median of ``repeats`` warm runs."""
    ours(), theirs()
    peaks = [
        statistics.median([peak_live_cpu_memory(fn) for _ in range(repeats)])
        for fn in (ours, theirs)
    ]
    return peaks[0], peaks[1]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def load_line() -> str:
    """The machine's load averages, printed with every table (a loaded machine is noisier)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


RATIO_HEADER = ["ratio", "spread (IQR)", "page faults per step", "target", "met"]


def format_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def ratio_row(
    label: str, ours: Callable, theirs: Callable, steps: int, turns: int, target: float
) -> list[str]:
    """One table row: both times, ours/theirs with its spread, faults per step, the target."""
    samples = interleaved({"ours": ours, "theirs": theirs}, steps, turns)
    measured = ratio(samples["ours"], samples["theirs"])
    faults = f"{samples['ours'].faults_per_call:.0f} / {samples['theirs'].faults_per_call:.0f}"
    return [
        label,
        format_time(samples["ours"].median),
        format_time(samples["theirs"].median),
        str(measured),
        measured.spread,
        faults,
        f"<= {target:.2f}",
        "yes" if measured.median <= target else "NO",
    ]


def memory_row(label: str, ours: Callable, theirs: Callable, target: float) -> list[str]:
    mine, yours = peak_memory_ratio(ours, theirs)
    measured = mine / yours
    return [
        label,
        f"{mine / 2**20:.1f} MiB",
        f"{yours / 2**20:.1f} MiB",
        f"{measured:.3f}",
        "exact",
        "",
        f"<= {target:.2f}",
        "yes" if measured <= target else "NO",
    ]


def main_with_turns(doc: str, run: Callable[[int], str], argv=None, turns: int = 101) -> None:
    """A benchmark's command line: ``--turns N`` (``--quick``: a tenth), then its table."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--turns", type=int, default=turns, help="interleaved turns per row")
    parser.add_argument("--quick", action="store_true", help="a tenth of the turns")
    args = parser.parse_args(argv)
    chosen = max(5, args.turns // 10) if args.quick else args.turns
    print(
        f"torch {torch.__version__}, 1 thread, {chosen} interleaved turns, "
        f"CPU time of this thread; {load_line()}",
        flush=True,
    )
    print(run(chosen))
