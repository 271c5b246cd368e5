"""Callbacks: code the Trainer runs at fixed moments of training.

Subclass :class:`Callback` and override the moments you need::

    class PrintEvery100(Callback):
        def on_batch_end(self, trainer, batch, loss):
            if batch % 100 == 0:
                print(batch, loss)

When each one runs, for one batch::

    forward -> loss -> optimizer.zero_grad() -> backward -> optimizer.step()
                                                                -> on_batch_end

So inside ``on_batch_end`` every parameter's ``.grad`` still holds the
gradient of this batch, and ``.value`` already holds the updated weights:
``(value now) - (value at the previous on_batch_end)`` is the size of the
step. (Copy what you keep: the optimiser changes ``.value`` in place.)
Batches skipped for a NaN/Inf loss get no backward, no step and no callback.

A plain function is also accepted as a callback: it is called at the end of
each epoch as ``f(trainer, epoch, record)``. For a function at batch end, wrap
it: ``LambdaCallback(on_batch_end=f)``.
"""

from __future__ import annotations

from minigrad.errors import ArgumentTypeError


class Callback:
    """Base class: every method does nothing; override those you need.

    ``trainer`` gives access to everything: ``trainer.model``,
    ``trainer.optimizer`` (``.lr``), ``trainer.scheduler``, ``trainer.history``,
    ``trainer.epoch`` (epochs finished so far). Set ``trainer.stop_training =
    True`` to end training after the current epoch.
    """

    def on_train_begin(self, trainer) -> None:
        """Before the first epoch of a ``fit`` call."""

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (counted from 0, as the schedulers count)."""

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        """After the optimiser step of batch ``batch`` (0, 1, ... within the epoch).

        ``loss`` is this batch's loss as a Python float; ``.grad`` of each
        parameter is still set (see the module docstring).
        """

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        """After epoch ``epoch`` was trained and evaluated; ``record`` is its history row."""

    def on_train_end(self, trainer) -> None:
        """After the last epoch of a ``fit`` call (also when stopped early)."""


class LambdaCallback(Callback):
    """A callback made of plain functions, one per moment (each optional).

    >>> losses = []
    >>> cb = LambdaCallback(on_batch_end=lambda trainer, batch, loss: losses.append(loss))
    """

    def __init__(
        self,
        on_train_begin=None,
        on_epoch_begin=None,
        on_batch_end=None,
        on_epoch_end=None,
        on_train_end=None,
    ):
        given = {
            "on_train_begin": on_train_begin,
            "on_epoch_begin": on_epoch_begin,
            "on_batch_end": on_batch_end,
            "on_epoch_end": on_epoch_end,
            "on_train_end": on_train_end,
        }
        for name, function in given.items():
            if function is None:
                continue
            if not callable(function):
                raise ArgumentTypeError(
                    f"LambdaCallback: {name} must be a function, got {type(function).__name__}\n"
                    "help: e.g. LambdaCallback(on_batch_end=lambda trainer, batch, loss: ...)"
                )
            # An instance attribute hides the do-nothing method of the class.
            setattr(self, name, function)


class _EpochFunction(Callback):
    """A plain function used as a callback: called at each epoch's end."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        self.function(trainer, epoch, record)

    def __repr__(self) -> str:
        return f"EpochEnd({getattr(self.function, '__name__', self.function)!r})"


def as_callbacks(callbacks) -> list[Callback]:
    """Callback objects from a list that may also hold plain functions."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback) or callable(callbacks):
        callbacks = [callbacks]
    result = []
    for item in callbacks:
        if isinstance(item, Callback):
            result.append(item)
        elif callable(item):
            result.append(_EpochFunction(item))
        else:
            raise ArgumentTypeError(
                f"callbacks: expected Callback objects or functions, got {type(item).__name__}\n"
                "help: subclass mg.training.Callback, or pass f(trainer, epoch, record)"
            )
    return result


def overrides(callback: Callback, name: str) -> bool:
    """True when ``callback`` does something at moment ``name`` (so the loop must call it)."""
    if name in vars(callback):
        return True
    return getattr(type(callback), name) is not getattr(Callback, name)
