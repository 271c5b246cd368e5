"""Shared measuring tools: interleaved medians and peak live tensor memory."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def interleaved_medians(
    contenders: dict[str, Callable[[], None]], steps: int, repeats: int, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call of each contender.

    Contenders take turns (A, B, A, B, ...), each timing ``steps`` calls per
    turn, so that a noisy neighbour on a shared machine slows all of them alike.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            samples[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(times) for name, times in samples.items()}


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
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        fn()
    changes = []
    for event in prof.events():
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


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
