"""Optimisers and learning-rate schedulers.

Read in this order:

    validate.py              argument checks and HyperParameterError
    optimizer.py             Optimizer: param groups, state, lr, save/load
    sgd.py                   sgd_update (the rule) and SGD (the state)
    adam.py                  adam_update, Adam and AdamW
    scheduler.py             Scheduler: a pure lr_for(base_lr, epoch) plus bookkeeping
    step_lr.py, linear_lr.py, cosine_annealing_lr.py   the schedules
    chained_scheduler.py     several schedules in series
"""

from minigrad.optim.validate import HyperParameterError
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD, sgd_update
from minigrad.optim.adam import Adam, AdamW, adam_update
from minigrad.optim.scheduler import Scheduler
from minigrad.optim.step_lr import StepLR
from minigrad.optim.linear_lr import LinearLR
from minigrad.optim.cosine_annealing_lr import CosineAnnealingLR
from minigrad.optim.chained_scheduler import ChainedScheduler

__all__ = [
    "HyperParameterError",
    "Optimizer",
    "SGD",
    "sgd_update",
    "Adam",
    "AdamW",
    "adam_update",
    "Scheduler",
    "StepLR",
    "LinearLR",
    "CosineAnnealingLR",
    "ChainedScheduler",
]
