"""ChainedScheduler: run several schedules one after another."""

from __future__ import annotations

from bisect import bisect_right

from minigrad.optim.scheduler import Scheduler
from minigrad.optim.validate import HyperParameterError, check_count


class ChainedScheduler(Scheduler):
    """Run schedulers in series: the first until the first milestone, then the next ...

    Each part starts again from its own epoch 0 at its milestone::

        lr(e) = part_i.lr_for(base_lr, e - milestone_{i-1})
                for milestone_{i-1} <= e < milestone_i   (milestone_{-1} = 0)

    ``milestones`` (one fewer than the parts) are the epochs where the next
    part takes over. Left out, each part runs for its natural length
    (``LinearLR``: ``epochs``, ``CosineAnnealingLR``: ``t_max``); a StepLR
    that is not last has no natural length and needs explicit milestones.

    A warm-up then a cosine decay::

        warmup = mg.optim.LinearLR(opt, epochs=5, start_factor=0.1, end_factor=1.0)
        decay = mg.optim.CosineAnnealingLR(opt, t_max=45)
        sched = mg.optim.ChainedScheduler(warmup, decay)     # milestones=[5]

    This is nimxla's ChainedScheduler ("runs a sequence of schedulers in
    series") and matches ``torch.optim.lr_scheduler.SequentialLR(optimizer,
    schedulers, milestones)``. Note the names: torch's own ``ChainedScheduler``
    is something else, it applies all its schedulers at every step so their
    factors *multiply*.

    The parts are used for their formulas only: the chain sets the lr, and
    the parts' own ``epoch`` and ``history`` stay where they were.
    """

    def __init__(self, *schedulers: Scheduler, milestones: list[int] | None = None):
        if len(schedulers) == 1 and isinstance(schedulers[0], (list, tuple)):
            schedulers = tuple(schedulers[0])
        if not schedulers:
            raise HyperParameterError(
                "ChainedScheduler: needs at least one scheduler, got none\n"
                "help: ChainedScheduler(warmup, decay)"
            )
        for i, part in enumerate(schedulers):
            if not isinstance(part, Scheduler):
                raise TypeError(
                    f"ChainedScheduler: part {i} is a {type(part).__name__}, not a Scheduler\n"
                    "help: pass minigrad schedulers, e.g. mg.optim.LinearLR(opt, 5, 0.1, 1.0)"
                )
            if part.optimizer is not schedulers[0].optimizer:
                raise HyperParameterError(
                    f"ChainedScheduler: part {i} ({part}) drives a different optimiser than "
                    "part 0\nhelp: build every part on the same optimiser"
                )
        self.schedulers = list(schedulers)
        self.milestones = self._check_milestones(milestones)
        last = self.schedulers[-1].length
        start = self.milestones[-1] if self.milestones else 0
        self.length = None if last is None else start + last
        super().__init__(self.schedulers[0].optimizer)

    def _check_milestones(self, milestones) -> list[int]:
        if milestones is None:
            milestones, end = [], 0
            for i, part in enumerate(self.schedulers[:-1]):
                if part.length is None:
                    raise HyperParameterError(
                        f"ChainedScheduler: part {i} ({part}) has no natural length, "
                        "so the chain cannot tell when to move on\n"
                        "help: pass milestones=[...], the epochs where each next part starts"
                    )
                end += part.length
                milestones.append(end)
            return milestones
        milestones = list(milestones)
        if len(milestones) != len(self.schedulers) - 1:
            raise HyperParameterError(
                f"ChainedScheduler: {len(self.schedulers)} schedulers need "
                f"{len(self.schedulers) - 1} milestones, got {milestones!r}\n"
                "help: give the epoch where each part after the first starts"
            )
        previous = 0
        for milestone in milestones:
            hint = "milestones are epochs after 0, strictly increasing, e.g. [5, 30]"
            milestone = check_count("ChainedScheduler", "each milestone", milestone, 1, hint)
            if milestone <= previous:
                raise HyperParameterError(
                    f"ChainedScheduler: milestones must increase strictly, got {milestones!r}\n"
                    f"help: {hint}"
                )
            previous = milestone
        return [int(m) for m in milestones]

    def lr_for(self, base_lr: float, epoch: int) -> float:
        part = bisect_right(self.milestones, epoch)
        start = self.milestones[part - 1] if part > 0 else 0
        return self.schedulers[part].lr_for(base_lr, epoch - start)

    def settings(self) -> str:
        parts = " -> ".join(str(part) for part in self.schedulers)
        return f"{parts} milestones={self.milestones}"
