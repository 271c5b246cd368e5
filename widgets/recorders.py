"""Recorders: what happened during training, as plain data, with no widget needed.

    TrainingHistory   metrics against step: loss, accuracy, lr, and their val_ twins
    GradientHistory   each parameter's gradient statistics (minigrad.stats), step by step

Both are :class:`minigrad.training.Callback` objects, so a script can hand
one to ``mg.Trainer(..., callbacks=[history])`` or fill it by hand, and read
it afterwards. Nothing here draws: TrainingMonitor and GradientFlow *view* a
recorder. A view subscribes with ``recorder.watch(fn)``; the recorder calls
``fn(done)`` after each new point (``done=False``) and when training ends
(``done=True``), and the view decides when to redraw.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from minigrad.stats import gradient_flags, many_parameter_stats, named_parameters, snapshot
from minigrad.training import Callback
from widgets.budget import TimeBudget

STATISTICS = ("mean_abs", "max_abs", "norm", "update_ratio")


class Recorder(Callback):
    """What both recorders share: the views that watch them."""

    def __init__(self):
        self._watchers: list[Callable[[bool], None]] = []

    def watch(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(done)`` after every new point and once more at the end of training."""
        self._watchers.append(fn)

    def _tell(self, done: bool = False) -> None:
        for fn in self._watchers:
            fn(done)

    def on_train_end(self, trainer) -> None:
        self._tell(done=True)


class TrainingHistory(Recorder, Mapping):
    """Logged metrics by name: ``history["loss"]`` is a list of ``(step, value)`` points.

    ``log(step=None, **metrics)`` adds one point per metric at ``step``
    (default: one more than the last step). Names starting with ``val_`` are
    a validation twin of the metric without the prefix. As a Trainer callback
    it logs each batch's loss and learning rate (``log_batches``), and each
    epoch's training and test accuracy and test loss, at the epoch's last step.

    >>> history = TrainingHistory()
    >>> history.log(loss=2.0)
    >>> history.log(loss=1.5, accuracy=0.4)
    >>> history.curve("loss")
    ([1, 2], [2.0, 1.5])
    """

    def __init__(self, log_batches: bool = True):
        super().__init__()
        self.log_batches = log_batches
        self.points: dict[str, list[tuple[int, float]]] = {}
        self.step = 0

    # -- a mapping of name -> points ----------------------------------------------
    def __getitem__(self, name: str) -> list[tuple[int, float]]:
        return self.points[name]

    def __iter__(self):
        return iter(self.points)

    def __len__(self) -> int:
        return len(self.points)

    def log(self, step: int | None = None, **metrics) -> None:
        """Add one point per metric at ``step`` (default: one more than the last)."""
        values = {}
        for name, value in metrics.items():
            if value is None:
                continue
            if type(value) is not float and hasattr(value, "item"):
                value = value.item()
            if type(value) is not float and not isinstance(value, numbers.Real):
                raise TypeError(
                    f"log: {name} must be a number, got {value!r}\n"
                    f"help: pass a float or a one-element tensor, e.g. {name}=loss.item()"
                )
            values[name] = float(value)
        self.step = self.step + 1 if step is None else int(step)
        for name, value in values.items():
            self.points.setdefault(name, []).append((self.step, value))
        self._tell()

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        """The steps and values of one metric (empty lists if it was never logged)."""
        points = self.points.get(name, [])
        return [p[0] for p in points], [p[1] for p in points]

    def latest(self) -> dict[str, float]:
        """The last value of every metric."""
        return {name: points[-1][1] for name, points in self.points.items()}

    # -- as a Trainer callback ----------------------------------------------------
    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        if self.log_batches:
            self.log(loss=loss, lr=trainer.optimizer.lr)

    def on_epoch_end(self, trainer, epoch: int, record: dict) -> None:
        # Epoch figures go at the current step, beside the batch curves; without
        # batch points, one step per epoch.
        metrics = {
            "accuracy": record.get("train_accuracy"),
            "val_accuracy": record.get("test_accuracy"),
            "val_loss": record.get("test_loss"),
        }
        if not self.log_batches:
            metrics.update(loss=record.get("loss"), lr=record.get("lr"))
        self.log(step=self.step if self.log_batches else epoch + 1, **metrics)


class WeightCopies:
    """The weights after each step, copied into two sets of buffers used in turn.

    A step's statistics need the weights before it and after it; the
    optimiser changes them in place, so both must be copies. Two buffer sets
    that take turns hold the latest two, and copying into them allocates
    nothing: a few microseconds a step for a small model.
    """

    def __init__(self):
        self._sets: list = [None, None]
        self._turn = 0

    def copy(self, tensors: list) -> list:
        """Copies of ``tensors``; valid until the call after next."""
        buffers = self._sets[self._turn]
        same = buffers is not None and all(
            b.shape == t.shape and b.dtype == t.dtype and b.device == t.device
            for b, t in zip(buffers, tensors)
        ) and len(buffers) == len(tensors)  # fmt: skip
        if same:
            torch._foreach_copy_(buffers, tensors) if hasattr(torch, "_foreach_copy_") else [
                b.copy_(t) for b, t in zip(buffers, tensors)]  # fmt: skip
        else:
            buffers = [t.detach().clone() for t in tensors]
        self._sets[self._turn] = buffers
        self._turn ^= 1
        return buffers


class GradientHistory(Recorder, Sequence):
    """Per-parameter gradient statistics, one list of rows per recorded step.

    ``history[k]`` is the k-th recorded step's rows, one dict per parameter
    (biases included) as :func:`minigrad.stats.parameter_stats` gives them
    (mean |g|, max |g|, ||g||, update / weight), each with its ``flags``
    ("missing", "vanishing", "exploding": :func:`minigrad.stats.gradient_flags`
    with the thresholds ``vanishing`` on mean |g| and ``exploding`` on max |g|)
    and its ``step`` (1 for the first ``record`` call, 2 for the next, ...).

    Call ``record(model)`` after each ``optimizer.step()``, or use it as a
    Trainer callback (it records after every batch). ``model`` given up front
    lets the first step's update ratio be measured.

    Statistics cost a pass over every parameter, which on a small model is a
    good part of a training step. ``share`` is the most of the training time
    they may take (a :class:`widgets.budget.TimeBudget`): when computing them
    after every step would cost more, only some steps are computed, evenly
    spread in time, and ``step_numbers`` says which. The last step is always
    computed, when training ends or when the history is read. ``share=1``
    computes every step.
    """

    def __init__(
        self,
        model=None,
        vanishing: float = 1e-7,
        exploding: float = 1e2,
        share: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
    ):
        super().__init__()
        self.model = model
        self.vanishing, self.exploding = vanishing, exploding
        self.budget = TimeBudget(share=share, clock=clock)
        self.count = 0  # record() calls: the step number of the latest one
        self._steps: list[list[dict]] = []
        self._step_numbers: list[int] = []
        self._table: dict[str, list[list[float]]] = {key: [] for key in STATISTICS}
        self._names: list[str] = []
        self._before = snapshot(model) if model is not None else None
        self._pending: tuple | None = None  # the latest step, copied, not computed yet
        self._source, self._params = None, []
        self._weights = WeightCopies()

    # -- recording ------------------------------------------------------------------
    def before_step(self, model=None) -> None:
        """Remember the parameters before an optimiser step (``record`` does it for the next)."""
        self._before = snapshot(model if model is not None else self.model)

    def record(self, model=None) -> list[dict] | None:
        """Note one step (call after ``optimizer.step()``); returns its rows if computed now.

        ``None`` means the time budget left this step's statistics for later:
        they are computed if it turns out to be the last step, else skipped.
        """
        source = model if model is not None else self.model
        if source is None:
            raise TypeError(
                "record: no model to read\n"
                "help: pass it, record(model), or give the model when creating the recorder"
            )
        self.count += 1
        if source is not self._source:  # (the parameters of one model are listed once)
            self._source, self._params = source, named_parameters(source)
        params = self._params
        # The weights are copied (the optimiser changes them in place); the gradients
        # are kept as they are, with their version counters: backprop writes new
        # tensors, so a gradient changed in place later is seen, not used.
        names = [name for name, _ in params]
        after = self._weights.copy([p.value for _, p in params])
        grads = [None if p.grad is None else (p.grad, p.grad._version) for _, p in params]
        step = (self.count, names, after, grads, self._before)
        self._before = dict(zip(names, after))
        rows = None
        if self.budget.due():
            self._pending = None
            self._source = None  # the next step lists the parameters again (new ones show)
            rows = self.budget.spend(lambda: self._compute(*step))
        else:
            self._pending = step
        self._tell()
        return rows

    def settle(self) -> None:
        """Compute the statistics of the latest step if the budget left them for later."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._compute(*pending)

    def _compute(self, step: int, names: list[str], values: list, grads: list, before: dict):
        if any(g is not None and g[0]._version != g[1] for g in grads):
            return None  # a gradient was changed in place since: this step cannot be told
        grads = [None if g is None else g[0] for g in grads]
        old = before or {}
        rows = many_parameter_stats(names, values, grads, [old.get(name) for name in names])
        for row in rows:
            row["flags"] = gradient_flags(row, self.vanishing, self.exploding)
            row["step"] = step
        self._steps.append(rows)
        self._step_numbers.append(step)
        names = [row["name"] for row in rows]
        if names != self._names:  # new parameters: lay the table out again
            self._names = names
            self._table = {key: [] for key in STATISTICS}
            for earlier in self._steps:
                self._add_row(earlier)
        else:
            self._add_row(rows)
        return rows

    def _add_row(self, rows: list[dict]) -> None:
        index = {name: j for j, name in enumerate(self._names)}
        for key in STATISTICS:
            line = [float("nan")] * len(index)
            for row in rows:
                if row["name"] in index:
                    line[index[row["name"]]] = row[key]
            self._table[key].append(line)

    # -- as a Trainer callback ----------------------------------------------------
    def on_train_begin(self, trainer) -> None:
        self.model = trainer.model
        self.before_step(trainer.model)

    def on_batch_end(self, trainer, batch: int, loss: float) -> None:
        self.record(trainer.model)

    def on_train_end(self, trainer) -> None:
        self.settle()
        super().on_train_end(trainer)

    # -- plain data (reading settles the latest step) ---------------------------------
    @property
    def steps(self) -> list[list[dict]]:
        self.settle()
        return self._steps

    def __getitem__(self, index):
        return self.steps[index]

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def step_numbers(self) -> list[int]:
        """The step (the count of ``record`` calls) of each recorded row."""
        self.settle()
        return list(self._step_numbers)

    @property
    def names(self) -> list[str]:
        """The parameters of the latest step, in the model's order."""
        self.settle()
        return list(self._names)

    def matrix(self, statistic: str = "mean_abs") -> np.ndarray:
        """Recorded steps by parameters, one statistic (NaN where a parameter was missing)."""
        if statistic not in STATISTICS:
            raise ValueError(
                f"matrix: unknown statistic {statistic!r}\nhelp: choose one of {STATISTICS}"
            )
        self.settle()
        if not self._steps:
            return np.empty((0, len(self._names)))
        return np.array(self._table[statistic], dtype=float)

    @property
    def flags(self) -> dict[str, list[str]]:
        """The latest step's flags, by parameter name (only flagged parameters)."""
        steps = self.steps
        if not steps:
            return {}
        return {row["name"]: row["flags"] for row in steps[-1] if row["flags"]}
