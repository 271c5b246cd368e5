"""LinearLR: move the learning rate in a straight line, e.g. a warm-up."""

from __future__ import annotations

from minigrad.optim.optimizer import Optimizer
from minigrad.optim.scheduler import Scheduler
from minigrad.optim.validate import check_at_least, check_count


class LinearLR(Scheduler):
    """Scale the learning rate from ``start_factor`` to ``end_factor`` over ``epochs`` epochs::

        lr(e) = base_lr * (start + (end - start) * min(e, epochs) / epochs)

    so ``lr(0) = base_lr * start_factor`` and from epoch ``epochs`` on the lr
    stays at ``base_lr * end_factor``. A warm-up is ``start_factor=0.1,
    end_factor=1.0``. Its natural length (for ChainedScheduler) is ``epochs``.

    Matches ``torch.optim.lr_scheduler.LinearLR(optimizer, start_factor,
    end_factor, total_iters=epochs)``. torch requires ``0 < start_factor <= 1``
    and ``0 <= end_factor <= 1`` (its update divides by the previous factor);
    this closed form needs only factors >= 0.

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = mg.optim.LinearLR(opt, epochs=4, start_factor=0.0, end_factor=1.0)
    >>> sched.lr_curve(6)
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, epochs: int, start_factor: float, end_factor: float):
        hint = "the factors multiply the base lr, e.g. start_factor=0.1, end_factor=1.0"
        self.epochs = check_count("LinearLR", "epochs", epochs, 1, "epochs is how long, e.g. 5")
        self.start_factor = check_at_least("LinearLR", "start_factor", start_factor, 0.0, hint)
        self.end_factor = check_at_least("LinearLR", "end_factor", end_factor, 0.0, hint)
        self.length = self.epochs
        super().__init__(optimizer)

    def lr_for(self, base_lr: float, epoch: int) -> float:
        fraction = min(epoch, self.epochs) / self.epochs
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)

    def settings(self) -> str:
        return f"epochs={self.epochs} start_factor={self.start_factor} end_factor={self.end_factor}"
