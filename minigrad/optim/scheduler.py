"""Scheduler: a schedule bound to an optimiser, stepped once per epoch.

::

    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    sched = mg.optim.StepLR(opt, step_size=10, gamma=0.1)   # StepSchedule bound to opt
    for epoch in range(30):
        train_one_epoch(model, opt)     # uses opt.lr == sched.lr_at(epoch)
        sched.step()                    # after the epoch, as in torch

The scheduler itself computes nothing: its :class:`~minigrad.optim.Schedule`
gives the rate of every epoch, and the scheduler only remembers where it is
(``epoch``, ``history``) and writes each new rate through the optimiser's
checking setter (``optimizer.set_lrs``). The base rates are the optimiser's
learning rates when the scheduler is bound, one per param group.

One exception, as in torch: a scheduler bound to an optimiser whose rate was
set by another scheduler (and not changed since) starts from *that*
scheduler's base rates, so that the parts of a ChainedScheduler, each built on
the same optimiser, all start from its first rate, and a scheduler built
again in a re-run notebook cell starts where the first one did. The
optimiser knows nothing of this; this module remembers it, weakly.

The numbers match torch.optim.lr_scheduler: the LR used during epoch ``e``
equals torch's ``optimizer.param_groups[0]["lr"]`` during epoch ``e`` when
torch's ``scheduler.step()`` is called after each epoch.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from minigrad.errors import ArgumentTypeError, CheckpointError, MinigradError
from minigrad.nn.checks import check_at_least, check_count
from minigrad.nn.seed_names import SchedulerSeedNames
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.schedule import Schedule

# optimiser -> (the base rates of the scheduler that last wrote its rates, the rates written)
_LAST_WRITE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Scheduler(SchedulerSeedNames):
    """A :class:`Schedule` bound to an :class:`Optimizer`.

    Attributes:
        optimizer: the Optimizer whose learning rates this scheduler sets.
        schedule: the pure schedule that gives each epoch's rate.
        base_lrs: the starting learning rate of each param group.
        epoch: the current epoch (0 until the first ``step()``).
        history: the learning rate used in each finished epoch, one per ``step()``.
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule, base_lrs: list | None = None):
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"{self.name}: expected a minigrad Optimizer, got "
                f"{type(optimizer).__module__}.{type(optimizer).__name__}\n"
                "help: build it with mg.optim.SGD(...) or mg.optim.Adam(...) first"
            )
        if not isinstance(schedule, Schedule):
            raise ArgumentTypeError(
                f"{self.name}: expected a Schedule, got {type(schedule).__name__}\n"
                "help: e.g. mg.optim.Scheduler(opt, mg.optim.StepSchedule(10, 0.5))"
            )
        if base_lrs is None:
            base_lrs = _starting_rates(optimizer)
        self.optimizer, self.schedule = optimizer, schedule
        self.base_lrs = [schedule.check_base_lr(lr) for lr in base_lrs]
        self._write(self._rates(0))
        self.epoch = 0
        self.history: list[float] = []

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def length(self) -> int | None:
        """The schedule's natural length in epochs (None when it has no end)."""
        return self.schedule.length

    # -- reading the schedule -------------------------------------------------
    def lr_at(self, epoch: int) -> float:
        """The learning rate used during ``epoch`` (first param group). No side effects."""
        return self.schedule.lr(epoch, self.base_lrs[0])

    def lr_curve(self, epochs: int) -> list[float]:
        """``[lr_at(0), lr_at(1), ..., lr_at(epochs - 1)]``: the schedule to plot."""
        return self.schedule.curve(epochs, self.base_lrs[0])

    def _rates(self, epoch: int) -> list[float]:
        return [self.schedule.lr(epoch, base_lr) for base_lr in self.base_lrs]

    def _write(self, rates: list[float]) -> None:
        self.optimizer.set_lrs(rates)
        _LAST_WRITE[self.optimizer] = (list(self.base_lrs), list(rates))

    # -- the training-loop calls ---------------------------------------------
    def step(self) -> None:
        """Call after each epoch: records the LR just used and sets the next one."""
        used = self.optimizer.param_groups[0]["lr"]
        self._write(self._rates(self.epoch + 1))
        self.history.append(used)
        self.epoch += 1

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (e.g. after loading a checkpoint): sets the optimiser's lr.

        ``history`` is rebuilt from the schedule, as if ``step()`` had run
        ``epoch`` times.
        """
        epoch = check_count(self.name, "epoch", epoch, 0, "epochs count from 0 (the first one)")
        history = self.schedule.curve(epoch, self.base_lrs[0])
        self._write(self._rates(epoch))
        self.epoch, self.history = epoch, history

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> dict:
        """``{"kind", "epoch", "base_lrs", "history"}``: plain values, safe for torch.save."""
        return {
            "kind": self.name,
            "epoch": self.epoch,
            "base_lrs": list(self.base_lrs),
            "history": list(self.history),
        }

    def check_state_dict(self, state_dict: dict) -> Callable[[], None]:
        """Check a saved position against this scheduler and return the function that loads it."""
        where = f"{self.name}.load_state_dict"
        keys = {"kind", "epoch", "base_lrs", "history"}
        if not isinstance(state_dict, dict) or set(state_dict) != keys:
            found = sorted(map(str, state_dict)) if isinstance(state_dict, dict) else None
            raise CheckpointError(
                f"{where}: expected a dict with {sorted(keys)}, got "
                f"{f'the keys {found}' if found is not None else type(state_dict).__name__}\n"
                "help: pass what scheduler.state_dict() returned"
            )
        if state_dict["kind"] != self.name:
            raise CheckpointError(
                f"{where}: the state was saved by a {state_dict['kind']!r}, this is a "
                f"{self.name}\nhelp: build the same kind of scheduler as when it was saved"
            )
        base_lrs, history = state_dict["base_lrs"], state_dict["history"]
        if not isinstance(base_lrs, list) or len(base_lrs) != len(self.optimizer.param_groups):
            raise CheckpointError(
                f"{where}: saved base_lrs {base_lrs!r:.60} do not fit the optimiser's "
                f"{len(self.optimizer.param_groups)} param groups\n"
                "help: build the optimiser exactly as when the state was saved"
            )
        if not isinstance(history, list):
            raise CheckpointError(f"{where}: history must be a list, got {type(history).__name__}")
        try:
            epoch = check_count(where, "epoch", state_dict["epoch"], 0, "a saved epoch count")
            base_lrs = [self.schedule.check_base_lr(lr) for lr in base_lrs]
            history = [check_at_least(where, "history", lr, 0.0, "saved rates") for lr in history]
            rates = [self.schedule.lr(epoch, base_lr) for base_lr in base_lrs]
        except MinigradError as error:
            raise CheckpointError(f"{where}: a saved value is damaged: {error}") from None

        def load() -> None:
            self.base_lrs, self.epoch, self.history = base_lrs, epoch, history
            self._write(rates)

        return load

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a saved schedule position and set the optimiser's lr to match."""
        self.check_state_dict(state_dict)()

    # -- printing -------------------------------------------------------------
    def __str__(self) -> str:
        return f"{self.name}({self.schedule.settings()})"

    __repr__ = __str__


def _starting_rates(optimizer: Optimizer) -> list[float]:
    """Each group's lr, or the base rates of the scheduler that set those lrs (see above)."""
    rates = [group["lr"] for group in optimizer.param_groups]
    last = _LAST_WRITE.get(optimizer)
    if last is not None and last[1] == rates:
        return list(last[0])
    return rates
