"""CosineAnnealingLR: lower the learning rate along half a cosine wave."""

from __future__ import annotations

import math

from minigrad.optim.optimizer import Optimizer
from minigrad.optim.scheduler import Scheduler
from minigrad.optim.validate import check_at_least, check_count


class CosineAnnealingLR(Scheduler):
    """Anneal the learning rate from ``base_lr`` to ``lr_min`` over ``t_max`` epochs::

        lr(e) = lr_min + (base_lr - lr_min) * (1 + cos(pi * e / t_max)) / 2

    Fast at first, slow near the end: ``lr(0) = base_lr``, ``lr(t_max) =
    lr_min``. There is no clamp after ``t_max``: the cosine carries on and
    the lr climbs back to ``base_lr`` at ``2 * t_max``, exactly as
    ``torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max,
    eta_min=lr_min)`` does when stepped past ``T_max``. Its natural length
    (for ChainedScheduler) is ``t_max``.

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = mg.optim.CosineAnnealingLR(opt, t_max=2)
    >>> [round(lr, 6) for lr in sched.lr_curve(5)]
    [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    def __init__(self, optimizer: Optimizer, t_max: int, lr_min: float = 0.0):
        self.t_max = check_count(
            "CosineAnnealingLR", "t_max", t_max, 1, "t_max is the number of epochs, e.g. 50"
        )
        self.lr_min = check_at_least(
            "CosineAnnealingLR", "lr_min", lr_min, 0.0, "lr_min is the lowest lr, e.g. 0.0"
        )
        self.length = self.t_max
        super().__init__(optimizer)

    def lr_for(self, base_lr: float, epoch: int) -> float:
        cosine = math.cos(math.pi * epoch / self.t_max)
        return self.lr_min + (base_lr - self.lr_min) * (1 + cosine) / 2

    def settings(self) -> str:
        return f"t_max={self.t_max} lr_min={self.lr_min}"
