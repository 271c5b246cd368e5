"""Schedule: a learning rate as a pure function of the epoch.

A schedule holds only its settings (``step_size``, ``t_max`` ...). Asked for
epoch ``e`` it gives the learning rate to use *during* that epoch, for a run
that started at ``base_lr``::

    cosine = mg.optim.CosineSchedule(t_max=10, lr_min=0.001)
    cosine.lr(3, base_lr=0.1)      # the rate during epoch 3
    cosine.curve(20, base_lr=0.1)  # epochs 0..19, ready to plot

Nothing depends on what was asked before, so a curve can be drawn, a
checkpoint resumed at any epoch, or two schedules compared, without an
optimiser. A :class:`~minigrad.optim.Scheduler` binds a schedule to an
optimiser and writes these rates into it, one epoch at a time.

Each schedule checks its settings when it is built and the base rate when
it is used (``CosineSchedule`` refuses an ``lr_min`` above the base rate),
with a HyperParameterError that names the value.
"""

from __future__ import annotations

from minigrad.nn.checks import check_at_least, check_count

_LR_HINT = "the base learning rate is the optimiser's lr, a small positive number such as 0.1"


class Schedule:
    """Base class: subclasses implement ``formula(epoch, base_lr)`` and ``settings()``.

    ``length`` is the number of epochs the schedule is meant to run, or None
    when it has no natural end (StepSchedule); a chain of schedules uses it
    to know when to move on.
    """

    length: int | None = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def formula(self, epoch: int, base_lr: float) -> float:
        """The rate during ``epoch`` (already checked) for a run that started at ``base_lr``."""
        raise NotImplementedError(f"{self.name} must implement formula(epoch, base_lr)")

    def check_base_lr(self, base_lr: float) -> float:
        """``base_lr`` as a float, if this schedule can start from it."""
        return check_at_least(self.name, "base_lr", base_lr, 0.0, _LR_HINT)

    def lr(self, epoch: int, base_lr: float) -> float:
        """The learning rate during ``epoch`` (0, 1, 2 ...) of a run that started at ``base_lr``."""
        epoch = check_count(self.name, "epoch", epoch, 0, "epochs count from 0 (the first one)")
        return self.formula(epoch, self.check_base_lr(base_lr))

    def curve(self, epochs: int, base_lr: float) -> list[float]:
        """``[lr(0), lr(1), ..., lr(epochs - 1)]``: the schedule to plot."""
        epochs = check_count(self.name, "epochs", epochs, 0, "ask for 0 or more epochs")
        base_lr = self.check_base_lr(base_lr)
        return [self.formula(e, base_lr) for e in range(epochs)]

    def settings(self) -> str:
        """The constructor arguments, as ``step_size=10 gamma=0.1``."""
        return ""

    def __str__(self) -> str:
        return f"{self.name}({self.settings()})"

    __repr__ = __str__
