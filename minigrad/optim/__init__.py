"""Optimisers and learning-rate schedules.

Read in this order:

    optimizer.py             Optimizer: param groups, state, lr, save/load
    saved_state.py           the checks a saved optimiser state passes before it loads
    sgd.py                   sgd_update (the rule) and SGD (the state)
    adam.py                  adam_update, Adam and AdamW
    grad_scaler.py           GradScaler: dynamic loss scaling for float16 gradients
    schedule.py              Schedule: a pure lr(epoch, base_lr) and curve(epochs, base_lr)
    scheduler.py             Scheduler: a schedule bound to an optimiser, stepped per epoch
    step_lr.py, linear_lr.py, cosine_annealing_lr.py   each schedule and its scheduler
    chained_scheduler.py     several schedules in series

The argument checks they share live in ``minigrad/nn/checks.py``; nimxla's
names (``learning_rate``, ``set_learning_rate``, ``init``) in
``minigrad/nn/seed_names.py``.
"""

from minigrad.errors import HyperParameterError
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD, sgd_update
from minigrad.optim.adam import Adam, AdamW, adam_update
from minigrad.optim.grad_scaler import GradScaler, next_scale
from minigrad.optim.schedule import Schedule
from minigrad.optim.scheduler import Scheduler
from minigrad.optim.step_lr import StepLR, StepSchedule
from minigrad.optim.linear_lr import LinearLR, LinearSchedule
from minigrad.optim.cosine_annealing_lr import CosineAnnealingLR, CosineSchedule
from minigrad.optim.chained_scheduler import ChainedScheduler, SequentialSchedule

__all__ = [
    "HyperParameterError",
    "Optimizer",
    "SGD",
    "sgd_update",
    "Adam",
    "AdamW",
    "adam_update",
    "GradScaler",
    "next_scale",
    "Schedule",
    "Scheduler",
    "StepSchedule",
    "StepLR",
    "LinearSchedule",
    "LinearLR",
    "CosineSchedule",
    "CosineAnnealingLR",
    "SequentialSchedule",
    "ChainedScheduler",
]
