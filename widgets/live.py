"""Live plots on a time budget: redraw while training runs, and always once more at the end.

Drawing after every batch would cost more than the batch. A
:class:`RedrawBudget` lets a widget redraw at most every ``interval`` seconds
(a few times a second), and never spend more than ``share`` of the time
drawing (a :class:`widgets.budget.TimeBudget`). A change that arrives too
soon is kept *pending*; it is drawn by the next change that is on time, by
``flush()``, and at the end of training (the recorder says so) or of the
notebook cell (IPython's ``post_execute``), so the last state is always what
is on screen.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

from minigrad.training import Callback
from widgets.budget import TimeBudget
from widgets.static import refresh_pictures

_PENDING: weakref.WeakSet = weakref.WeakSet()


class RedrawBudget:
    """Calls ``draw()`` when a change comes in, if the :class:`TimeBudget` allows it.

    ``interval``: the shortest time between two draws; ``share``: the most of
    the time spent drawing; ``every`` n: consider only every n-th change. A
    change that is not drawn stays pending until a later draw or ``flush()``.
    ``draws`` counts the draws made, ``changes`` the changes seen.
    """

    def __init__(
        self,
        draw: Callable[[], None],
        interval: float = 0.25,
        share: float = 0.1,
        every: int = 1,
        clock: Callable[[], float] = time.perf_counter,
    ):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                f"every must be a whole number >= 1, got {every!r}\n"
                "help: every=1 considers each change (the time budget still limits the redraws)"
            )
        self.draw, self.every = draw, every
        self.budget = TimeBudget(interval, share, clock)
        self.pending = False
        self.changes = 0
        watch_cell_ends()

    @property
    def draws(self) -> int:
        return self.budget.spent

    def changed(self, done: bool = False) -> None:
        """Something new to show: draw now if the budget allows, else later.

        ``done``: this was the last change (training ended): draw it now.
        """
        self.changes += 1
        if self.changes == 1 and not done:
            # The first point is not drawn at once: a training that ends within
            # ``interval`` is drawn once, at its end; a longer one a moment after it starts.
            self.budget.wait(self.budget.interval)
        if done or (self.changes % self.every == 0 and self.budget.due()):
            self._draw()
        else:
            self.pending = True
            _PENDING.add(self)

    def flush(self) -> None:
        """Draw a pending change now, whatever the budget says."""
        if self.pending:
            self._draw()

    def _draw(self) -> None:
        self.pending = False
        _PENDING.discard(self)
        self.budget.spend(self.draw)


class LiveView(Callback):
    """Mixin for a widget that views a recorder (``self.history``) and redraws on a budget.

    As a Trainer callback it hands every moment to its recorder, which does
    the recording; the recorder's news come back to ``changed``.
    """

    def follow(self, history, interval: float, every: int) -> None:
        """View ``history``: redraw (``self.redraw``) on a budget when it changes."""
        self.history = history
        self.budget = RedrawBudget(self.redraw, interval=interval, every=every)
        history.watch(self.budget.changed)

    def flush(self) -> None:
        """Draw what is pending now (a script's last step; a notebook cell's end does it)."""
        self.budget.flush()

    def on_train_begin(self, trainer) -> None:
        self.history.on_train_begin(trainer)

    def on_epoch_begin(self, trainer, epoch: int) -> None:
        self.history.on_epoch_begin(trainer, epoch)

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        self.history.on_batch_end(trainer, batch, loss)

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        self.history.on_epoch_end(trainer, epoch, record)

    def on_train_end(self, trainer) -> None:
        self.history.on_train_end(trainer)


def flush_live_widgets(*_) -> None:
    """Draw every pending change, then refresh the pictures in the notebook's display data."""
    for budget in list(_PENDING):
        budget.flush()
    refresh_pictures()


def watch_cell_ends() -> None:
    """In IPython, run :func:`flush_live_widgets` after every cell (once per session)."""
    try:
        from IPython import get_ipython
    except ImportError:  # a plain script: nothing to flush into
        return
    shell = get_ipython()
    if shell is None:
        return
    hooks = shell.events.callbacks["post_execute"]
    if not any(getattr(h, "__name__", "") == "flush_live_widgets" for h in hooks):
        shell.events.register("post_execute", flush_live_widgets)
