"""LinearLR: move the learning rate in a straight line, e.g. a warm-up."""

from __future__ import annotations

from minigrad.nn.checks import check_between, check_count
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedule import Schedule
from minigrad.optim.scheduler import Scheduler

_HINT = (
    "the factors multiply the base lr, e.g. start_factor=0.1, end_factor=1.0; torch's LinearLR "
    "takes 0 < start_factor <= 1 and 0 <= end_factor <= 1, and minigrad keeps its range so "
    "every rate can be checked against torch (for a warm-up from nearly 0, use 1e-3)"
)


class LinearSchedule(Schedule):
    """Scale the learning rate from ``start_factor`` to ``end_factor`` over ``epochs`` epochs::

        lr(e) = base_lr * (start + (end - start) * min(e, epochs) / epochs)

    so ``lr(0) = base_lr * start_factor`` and from epoch ``epochs`` on the lr
    stays at ``base_lr * end_factor``. A warm-up is ``start_factor=0.1,
    end_factor=1.0``. Its natural length is ``epochs``.

    The factors are refused outside torch's range, ``0 < start_factor <= 1``
    and ``0 <= end_factor <= 1`` (torch's update divides by the previous
    factor, so it cannot start at 0; this closed form could, but then no
    torch run would agree with it).

    >>> LinearSchedule(epochs=4, start_factor=0.25, end_factor=1.0).curve(6, base_lr=1.0)
    [0.25, 0.4375, 0.625, 0.8125, 1.0, 1.0]
    """

    def __init__(self, epochs: int, start_factor: float, end_factor: float):
        self.epochs = check_count("LinearLR", "epochs", epochs, 1, "epochs is how long, e.g. 5")
        self.start_factor = check_between(
            "LinearLR", "start_factor", start_factor, 0.0, 1.0, _HINT, open_low=True
        )
        self.end_factor = check_between("LinearLR", "end_factor", end_factor, 0.0, 1.0, _HINT)
        self.length = self.epochs

    def formula(self, epoch: int, base_lr: float) -> float:
        fraction = min(epoch, self.epochs) / self.epochs
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)

    def settings(self) -> str:
        return f"epochs={self.epochs} start_factor={self.start_factor} end_factor={self.end_factor}"


class LinearLR(Scheduler):
    """A :class:`LinearSchedule` bound to ``optimizer``.

    Matches ``torch.optim.lr_scheduler.LinearLR(optimizer, start_factor,
    end_factor, total_iters=epochs)``.

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = mg.optim.LinearLR(opt, epochs=4, start_factor=0.5, end_factor=1.0)
    >>> sched.lr_curve(6)
    [0.5, 0.625, 0.75, 0.875, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, epochs: int, start_factor: float, end_factor: float):
        super().__init__(optimizer, LinearSchedule(epochs, start_factor, end_factor))
