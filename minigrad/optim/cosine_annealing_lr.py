"""CosineAnnealingLR: lower the learning rate along half a cosine wave."""

from __future__ import annotations

import math

from minigrad.errors import HyperParameterError
from minigrad.nn.checks import check_at_least, check_count
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedule import Schedule
from minigrad.optim.scheduler import Scheduler


class CosineSchedule(Schedule):
    """Anneal the learning rate from ``base_lr`` to ``lr_min`` over ``t_max`` epochs::

        lr(e) = lr_min + (base_lr - lr_min) * (1 + cos(pi * e / t_max)) / 2

    Fast at first, slow near the end: ``lr(0) = base_lr``, ``lr(t_max) =
    lr_min``. There is no clamp after ``t_max``: the cosine carries on and
    the lr climbs back to ``base_lr`` at ``2 * t_max``, exactly as torch's
    does when stepped past ``T_max``. Its natural length is ``t_max``. An
    ``lr_min`` above the base rate would anneal *upwards*, so it is refused.

    >>> [round(lr, 6) for lr in CosineSchedule(t_max=2).curve(5, base_lr=1.0)]
    [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    def __init__(self, t_max: int, lr_min: float = 0.0):
        self.t_max = check_count(
            "CosineAnnealingLR", "t_max", t_max, 1, "t_max is the number of epochs, e.g. 50"
        )
        self.lr_min = check_at_least(
            "CosineAnnealingLR", "lr_min", lr_min, 0.0, "lr_min is the lowest lr, e.g. 0.0"
        )
        self.length = self.t_max

    def check_base_lr(self, base_lr: float) -> float:
        base_lr = super().check_base_lr(base_lr)
        if self.lr_min > base_lr:
            raise HyperParameterError(
                f"CosineAnnealingLR: lr_min must be <= the base lr {base_lr}, got "
                f"{self.lr_min}\nhelp: the schedule anneals from the optimiser's lr down to "
                "lr_min; lower lr_min or raise the optimiser's lr"
            )
        return base_lr

    def formula(self, epoch: int, base_lr: float) -> float:
        cosine = math.cos(math.pi * epoch / self.t_max)
        return self.lr_min + (base_lr - self.lr_min) * (1 + cosine) / 2

    def settings(self) -> str:
        return f"t_max={self.t_max} lr_min={self.lr_min}"


class CosineAnnealingLR(Scheduler):
    """A :class:`CosineSchedule` bound to ``optimizer``.

    Matches ``torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max,
    eta_min=lr_min)``.

    >>> import minigrad as mg
    >>> opt = mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=1.0)
    >>> sched = mg.optim.CosineAnnealingLR(opt, t_max=2)
    >>> [round(lr, 6) for lr in sched.lr_curve(5)]
    [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    def __init__(self, optimizer: Optimizer, t_max: int, lr_min: float = 0.0):
        super().__init__(optimizer, CosineSchedule(t_max, lr_min))
