"""StepLR: divide the learning rate by a constant every few epochs."""

from __future__ import annotations

from minigrad.nn.checks import check_count, check_positive
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedule import Schedule
from minigrad.optim.scheduler import Scheduler


class StepSchedule(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs::

        lr(e) = base_lr * gamma ** (e // step_size)

    It has no natural end, so inside a chain that is not its last part it
    needs an explicit milestone.

    >>> StepSchedule(step_size=2, gamma=0.5).curve(6, base_lr=1.0)
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, step_size: int, gamma: float = 0.1):
        self.step_size = check_count(
            "StepLR", "step_size", step_size, 1, "step_size is a number of epochs, such as 10"
        )
        self.gamma = check_positive(
            "StepLR", "gamma", gamma, "gamma multiplies the lr at each step; 0.1 is usual"
        )

    def formula(self, epoch: int, base_lr: float) -> float:
        lr = base_lr
        # Multiply once per step taken, as torch does, rather than gamma ** k,
        # so the floats agree with torch's to the last bit.
        for _ in range(epoch // self.step_size):
            lr *= self.gamma
        return lr

    def settings(self) -> str:
        return f"step_size={self.step_size} gamma={self.gamma}"


class StepLR(Scheduler):
    """A :class:`StepSchedule` bound to ``optimizer``.

    Matches ``torch.optim.lr_scheduler.StepLR(optimizer, step_size, gamma)``.

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = mg.optim.StepLR(opt, step_size=2, gamma=0.5)
    >>> sched.lr_curve(6)
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        super().__init__(optimizer, StepSchedule(step_size, gamma))
