"""Scheduler: the base class of the learning-rate schedules.

A scheduler changes the optimiser's learning rate once per epoch::

    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    sched = mg.optim.StepLR(opt, step_size=10, gamma=0.1)
    for epoch in range(30):
        train_one_epoch(model, opt)     # uses opt.lr == sched.lr_at(epoch)
        sched.step()                    # after the epoch, as in torch

Every schedule here is a *pure function* ``lr_for(base_lr, epoch)`` of its
constructor arguments, the base learning rate and the epoch number
(0, 1, 2 ...). Nothing depends on how many times ``step()`` ran before, so
``lr_at(epoch)`` can draw the whole curve without touching the optimiser,
and ``init(epoch)`` can jump to any epoch after a checkpoint is loaded.

The base learning rate is the optimiser's lr when the *first* scheduler was
attached to it, kept in each param group as ``"initial_lr"`` (as torch does),
so that several schedulers built on one optimiser (for a ChainedScheduler)
all start from the same value.

The numbers match torch.optim.lr_scheduler: the LR used during epoch ``e``
equals torch's ``optimizer.param_groups[0]["lr"]`` during epoch ``e`` when
torch's ``scheduler.step()`` is called after each epoch.
"""

from __future__ import annotations

from minigrad.errors import CheckpointError
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.validate import check_count


class Scheduler:
    """Base class of every LR scheduler. Subclasses implement ``lr_for`` and ``settings``.

    Attributes:
        optimizer: the Optimizer whose learning rate this scheduler sets.
        base_lrs: the starting learning rate of each param group.
        epoch: the current epoch (0 until the first ``step()``).
        history: the learning rate used in each finished epoch, one per ``step()``.
        length: the number of epochs the schedule is meant to run, or None
            when it has no natural end (StepLR). ChainedScheduler uses it.
    """

    length: int | None = None

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{self.name}: expected a minigrad Optimizer, got {type(optimizer).__name__}\n"
                "help: build it with mg.optim.SGD(...) or mg.optim.Adam(...) first"
            )
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.epoch = 0
        self.history: list[float] = []
        self._apply(0)

    @property
    def name(self) -> str:
        return type(self).__name__

    # -- the schedule ---------------------------------------------------------
    def lr_for(self, base_lr: float, epoch: int) -> float:
        """The learning rate during ``epoch`` for a group that started at ``base_lr``."""
        raise NotImplementedError(f"{self.name} must implement lr_for(base_lr, epoch)")

    def lr_at(self, epoch: int) -> float:
        """The learning rate used during ``epoch`` (first param group). No side effects."""
        return self.lr_for(self.base_lrs[0], self._check_epoch(epoch, "lr_at"))

    def lr_curve(self, epochs: int) -> list[float]:
        """``[lr_at(0), lr_at(1), ..., lr_at(epochs - 1)]``: the schedule to plot."""
        epochs = check_count(self.name, "epochs", epochs, 0, "ask for 0 or more epochs")
        return [self.lr_for(self.base_lrs[0], e) for e in range(epochs)]

    # -- the training-loop calls ---------------------------------------------
    def step(self) -> None:
        """Call after each epoch: records the LR just used and sets the next one."""
        self.history.append(self.optimizer.param_groups[0]["lr"])
        self.epoch += 1
        self._apply(self.epoch)

    def init(self, epoch: int) -> None:
        """Jump to ``epoch`` (e.g. after loading a checkpoint): sets the optimiser's lr.

        ``history`` is rebuilt from the schedule, as if ``step()`` had run
        ``epoch`` times.
        """
        self.epoch = self._check_epoch(epoch, "init")
        self.history = [self.lr_for(self.base_lrs[0], e) for e in range(self.epoch)]
        self._apply(self.epoch)

    def _apply(self, epoch: int) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_for(base_lr, epoch)

    def _check_epoch(self, epoch, where: str) -> int:
        return check_count(
            f"{self.name}.{where}", "epoch", epoch, 0, "epochs count from 0 (the first epoch)"
        )

    # -- saving and loading ---------------------------------------------------
    def state_dict(self) -> dict:
        """``{"epoch", "base_lrs", "history"}``: plain numbers, safe for torch.save."""
        return {"epoch": self.epoch, "base_lrs": list(self.base_lrs), "history": list(self.history)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a saved schedule position and set the optimiser's lr to match."""
        if not isinstance(state_dict, dict) or not {"epoch", "base_lrs"} <= set(state_dict):
            raise CheckpointError(
                f"{self.name}.load_state_dict: expected a dict with 'epoch' and 'base_lrs'\n"
                "help: pass what scheduler.state_dict() returned"
            )
        if len(state_dict["base_lrs"]) != len(self.base_lrs):
            raise CheckpointError(
                f"{self.name}.load_state_dict: saved {len(state_dict['base_lrs'])} param "
                f"groups, the optimiser has {len(self.base_lrs)}\n"
                "help: build the optimiser exactly as when the state was saved"
            )
        self.base_lrs = [float(lr) for lr in state_dict["base_lrs"]]
        self.epoch = self._check_epoch(state_dict["epoch"], "load_state_dict")
        self.history = [float(lr) for lr in state_dict.get("history", [])]
        self._apply(self.epoch)

    # -- printing -------------------------------------------------------------
    def settings(self) -> str:
        """The constructor arguments, as ``step_size=10 gamma=0.1``."""
        return ""

    def __str__(self) -> str:
        return f"{self.name}({self.settings()})"

    __repr__ = __str__
