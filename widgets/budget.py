"""A time budget: do some work at most once per ``interval``, and in at most ``share`` of the time.

Watching training must not slow it down much. Both the recorders (computing
gradient statistics) and the widgets (redrawing) ask a :class:`TimeBudget`
whether their work is due. After a piece of work that took ``cost``
seconds, the next one is due ``max(interval, cost * (1 - share) / share)``
seconds after it ended: then the work takes at most ``share`` of the
wall-clock time however slow it gets, and happens at most every
``interval`` seconds however fast it is. The first piece is due at once.

>>> ticks = iter([0.0, 0.0, 0.02, 0.05, 0.2])    # a fake clock, in seconds
>>> budget = TimeBudget(share=0.1, clock=lambda: next(ticks))
>>> budget.due(), budget.spend(lambda: "work")   # the work took 0.02 s
(True, 'work')
>>> budget.due(), budget.due()                   # due again 0.18 s after it ended
(False, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TimeBudget:
    """See the module docstring. ``spent`` counts the pieces of work done."""

    def __init__(
        self,
        interval: float = 0.0,
        share: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
    ):
        if not interval >= 0 or not 0 < share <= 1:
            raise ValueError(
                f"TimeBudget: interval must be >= 0 seconds and share in (0, 1], got "
                f"interval={interval!r}, share={share!r}\n"
                "help: e.g. interval=0.25 (at most 4 times a second), share=0.1 (10% of the time)"
            )
        self.interval, self.share, self.clock = interval, share, clock
        self.spent = 0
        self._next = float("-inf")

    def due(self) -> bool:
        """Whether the next piece of work may run now."""
        return self.share == 1 and self.interval == 0 or self.clock() >= self._next

    def wait(self, seconds: float) -> None:
        """Make the next piece of work due no sooner than ``seconds`` from now."""
        self._next = max(self._next, self.clock() + seconds)

    def spend(self, work: Callable):
        """Run ``work()`` now, time it, and move the next due time accordingly."""
        start = self.clock()
        result = work()
        end = self.clock()
        cost = end - start
        self.spent += 1
        self._next = end + max(self.interval, cost * (1 - self.share) / self.share)
        return result
