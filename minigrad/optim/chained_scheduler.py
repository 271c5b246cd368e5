"""ChainedScheduler: run several schedules one after another."""

from __future__ import annotations

from bisect import bisect_right

from minigrad.errors import ArgumentTypeError, HyperParameterError, SetupError
from minigrad.nn.checks import check_count
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedule import Schedule
from minigrad.optim.scheduler import Scheduler


class SequentialSchedule(Schedule):
    """Schedules in series: the first until the first milestone, then the next ...

    Each part starts again from its own epoch 0 at its milestone::

        lr(e) = part_i.lr(e - milestone_{i-1}, base_lr)
                for milestone_{i-1} <= e < milestone_i   (milestone_{-1} = 0)

    ``milestones`` (one fewer than the parts) are the epochs where the next
    part takes over. Left out, each part runs for its natural length
    (``LinearSchedule``: ``epochs``, ``CosineSchedule``: ``t_max``); a
    StepSchedule that is not last has no natural length and needs explicit
    milestones.
    """

    def __init__(
        self,
        parts: list[Schedule],
        milestones: list[int] | None = None,
        labels: list[str] | None = None,
    ):
        if not parts:
            raise HyperParameterError(
                "ChainedScheduler: needs at least one schedule, got none\n"
                "help: ChainedScheduler(warmup, decay)"
            )
        for i, part in enumerate(parts):
            if not isinstance(part, Schedule):
                raise ArgumentTypeError(
                    f"ChainedScheduler: part {i} is a {type(part).__name__}, not a scheduler or "
                    "a schedule\n"
                    "help: pass minigrad schedulers, e.g. mg.optim.LinearLR(opt, 5, 0.1, 1.0), "
                    "or schedules, e.g. mg.optim.LinearSchedule(5, 0.1, 1.0)"
                )
        self.parts = list(parts)
        # How the parts were given (a bound StepLR, say), for the messages and str().
        self.labels = list(labels) if labels is not None else [str(p) for p in parts]
        self.milestones = self._check_milestones(milestones)
        last = self.parts[-1].length
        start = self.milestones[-1] if self.milestones else 0
        self.length = None if last is None else start + last

    def _check_milestones(self, milestones) -> list[int]:
        if milestones is None:
            milestones, end = [], 0
            for i, part in enumerate(self.parts[:-1]):
                if part.length is None:
                    raise HyperParameterError(
                        f"ChainedScheduler: part {i} ({self.labels[i]}) has no natural length, "
                        "so the chain cannot tell when to move on\n"
                        "help: pass milestones=[...], the epochs where each next part starts"
                    )
                end += part.length
                milestones.append(end)
            return milestones
        hint = "milestones are epochs after 0, strictly increasing, e.g. [5, 30]"
        if not isinstance(milestones, (list, tuple)) or len(milestones) != len(self.parts) - 1:
            raise HyperParameterError(
                f"ChainedScheduler: {len(self.parts)} parts need {len(self.parts) - 1} "
                f"milestones, got {milestones!r}\n"
                "help: give the epoch where each part after the first starts"
            )
        checked = [
            check_count("ChainedScheduler", "each milestone", m, 1, hint) for m in milestones
        ]
        if any(b <= a for a, b in zip(checked, checked[1:])):
            raise HyperParameterError(
                f"ChainedScheduler: milestones must increase strictly, got {list(milestones)!r}\n"
                f"help: {hint}"
            )
        return checked

    def check_base_lr(self, base_lr: float) -> float:
        for part in self.parts:
            base_lr = part.check_base_lr(base_lr)
        return base_lr

    def formula(self, epoch: int, base_lr: float) -> float:
        part = bisect_right(self.milestones, epoch)
        start = self.milestones[part - 1] if part > 0 else 0
        return self.parts[part].formula(epoch - start, base_lr)

    def settings(self) -> str:
        return f"{' -> '.join(self.labels)} milestones={self.milestones}"


class ChainedScheduler(Scheduler):
    """Run schedules in series (a :class:`SequentialSchedule`) on one optimiser.

    Two ways to build one. From schedules, which touch no optimiser until the
    chain binds them, so the rate is written once, when the chain is built::

        sched = mg.optim.ChainedScheduler(
            opt, mg.optim.LinearSchedule(5, 0.1, 1.0), mg.optim.CosineSchedule(45)
        )                                                    # milestones=[5]

    Or as nimxla's ``newChainedScheduler(schedulers...)``, from schedulers
    already bound to the optimiser (each one set the rate when it was built,
    as nimxla's and torch's schedulers do; the chain then sets it once more)::

        warmup = mg.optim.LinearLR(opt, epochs=5, start_factor=0.1, end_factor=1.0)
        decay = mg.optim.CosineAnnealingLR(opt, t_max=45)
        sched = mg.optim.ChainedScheduler(warmup, decay)

    Either way the chain starts from the optimiser's rate before any part was
    bound, and the parts are used for their schedules only: stepping the
    chain sets the lr; the parts' own ``epoch`` and ``history`` stay put.

    This is nimxla's ChainedScheduler ("runs a sequence of schedulers in
    series") and matches ``torch.optim.lr_scheduler.SequentialLR(optimizer,
    schedulers, milestones)``. Note the names: torch's own ``ChainedScheduler``
    is something else, it applies all its schedulers at every step so their
    factors *multiply*.
    """

    def __init__(self, *parts, milestones: list[int] | None = None):
        optimizer = None
        if parts and isinstance(parts[0], Optimizer):
            optimizer, parts = parts[0], parts[1:]
        if len(parts) == 1 and isinstance(parts[0], (list, tuple)):
            parts = tuple(parts[0])
        if not parts:
            raise HyperParameterError(
                "ChainedScheduler: needs at least one schedule, got none\n"
                "help: ChainedScheduler(warmup, decay)"
            )
        bound = [part for part in parts if isinstance(part, Scheduler)]
        if optimizer is None and not bound:
            raise ArgumentTypeError(
                "ChainedScheduler: give the optimiser first, or schedulers bound to it\n"
                "help: ChainedScheduler(opt, warmup_schedule, decay_schedule)"
            )
        optimizer = optimizer if optimizer is not None else bound[0].optimizer
        for i, part in enumerate(parts):
            if isinstance(part, Scheduler) and part.optimizer is not optimizer:
                raise SetupError(
                    f"ChainedScheduler: part {i} ({part}) drives a different optimiser than "
                    "the chain's\nhelp: build every part on the same optimiser"
                )
        self.parts = list(parts)
        schedule = SequentialSchedule(
            [p.schedule if isinstance(p, Scheduler) else p for p in parts],
            milestones,
            labels=[str(p) for p in parts],
        )
        super().__init__(optimizer, schedule, bound[0].base_lrs if bound else None)

    @property
    def schedulers(self) -> list:
        """The parts, as given."""
        return self.parts

    @property
    def milestones(self) -> list[int]:
        return self.schedule.milestones
