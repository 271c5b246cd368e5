"""Trainer: the training loop, with progress, a history and callbacks.

Under the bookkeeping, one epoch is the loop everybody writes::

    model.train()
    for x, y in train_loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    scheduler.step()

The Trainer adds only what is cheap: it skips batches whose loss is NaN or
Inf (with a warning, and counts them), sums the loss and the hits for the
training accuracy, calls the callbacks, moves a progress bar (tqdm.auto: a
widget in Jupyter, text in a terminal), then evaluates on the test loader and
prints one line per epoch. ``benchmarks/bench_training_loop.py`` checks that
this costs at most 5% over the bare loop.

Epochs are counted from 0 in code (as the schedulers count them) and from 1
in the printed lines. Inside a process group of several (``torchrun``) the same
loop trains data-parallel: see ``minigrad/distributed/data_parallel.py``.
"""

from __future__ import annotations

import math
import sys
import time
import warnings

import torch

from minigrad.data.distributed_sampler import set_sampler_epoch
from minigrad.distributed.data_parallel import DataParallel, prints
from minigrad.errors import SetupError
from minigrad.nn.checks import check_count, check_flag
from minigrad.ops import cross_entropy
from minigrad.training.callbacks import as_callbacks, overrides
from minigrad.training.metrics import as_tensor, check_loss, class_rule, evaluate
from minigrad.training.records import format_record
from minigrad.training.setup import check_loaders, check_setup
from minigrad.variable import Variable


class Trainer:
    """Trains ``model`` with ``optimizer`` on batches from a DataLoader.

    ``loss_fn(output, target)`` returns a scalar Variable (cross-entropy by
    default). ``scheduler`` (optional) is stepped after every epoch.
    ``callbacks``: Callback objects or functions ``f(trainer, epoch, record)``
    (see ``callbacks.py``). ``progress``: show a progress bar; ``verbose``:
    print one line per epoch.

    After ``fit``, ``history`` holds one dict per epoch::

        {"epoch": 0, "loss": 0.41, "train_accuracy": 0.88, "test_loss": 0.19,
         "test_accuracy": 0.95, "lr": 0.1, "seconds": 0.31, "skipped": 0}

    ``loss`` and ``train_accuracy`` are averaged over the epoch's batches as
    they were trained (dropout on, weights moving); ``seconds`` covers
    training and evaluation; ``lr`` is the rate used during the epoch.
    ``train_accuracy`` and the test entries are None when they do not apply
    (no test loader; a model that is not a classifier).
    ``epoch`` counts the epochs finished, across several ``fit`` calls, so a
    second ``fit(loader, epochs=5)`` continues where the first stopped.
    """

    def __init__(
        self,
        model,
        optimizer,
        loss_fn=cross_entropy,
        scheduler=None,
        callbacks=(),
        progress: bool = True,
        verbose: bool = True,
    ):
        check_setup(model, optimizer, scheduler, loss_fn)
        check_flag("Trainer", "progress", progress, "progress=False hides the bar")
        check_flag("Trainer", "verbose", verbose, "verbose=False prints no lines")
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.scheduler, self.callbacks = scheduler, as_callbacks(callbacks)
        self.progress, self.verbose = progress, verbose
        self.history: list[dict] = []
        self.epoch = 0
        self.skipped_batches = 0
        self.stop_training = False
        self.parallel: DataParallel | None = None  # set by fit inside a process group

    # -- the loop -------------------------------------------------------------
    def fit(self, train_loader, test_loader=None, epochs: int = 1) -> list[dict]:
        """Train ``epochs`` more epochs; evaluate on ``test_loader`` after each. Returns history."""
        epochs = check_count("fit", "epochs", epochs, 0, "the number of epochs to train, e.g. 10")
        check_setup(self.model, self.optimizer, self.scheduler, self.loss_fn)
        check_loaders(train_loader, test_loader)
        self._sync_scheduler()
        self.parallel = DataParallel.begin(self.model, train_loader)  # None on one process
        self.stop_training = False
        last_epoch = self.epoch + epochs
        per_epoch = len(train_loader) if hasattr(train_loader, "__len__") else None
        bar = self._progress_bar(epochs * per_epoch if per_epoch is not None else None)
        self._call("on_train_begin")
        # What the first batch changes before its loss can be checked: the loader's
        # shuffling, batch-norm statistics, the random state (dropout). Put back if
        # that loss is refused.
        shuffling = getattr(train_loader, "state_dict", None)
        before = (
            [(b, b.value.clone()) for b in self.model.buffers()],
            torch.get_rng_state(),
            (train_loader, shuffling()) if callable(shuffling) else None,
        )
        try:
            for i in range(epochs):
                record = self._run_epoch(train_loader, test_loader, bar, before if i == 0 else None)
                self._report(record, last_epoch, bar)
                if self.stop_training:
                    break
        finally:
            if bar is not None:
                bar.close()
        self._call("on_train_end")
        return self.history

    def _run_epoch(self, loader, test_loader, bar, before=None) -> dict:
        epoch = self.epoch
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        parallel = self.parallel
        batch_callbacks = [c.on_batch_end for c in self.callbacks if overrides(c, "on_batch_end")]
        set_sampler_epoch(loader, epoch)  # a DistributedSampler reads this epoch's order
        self._call("on_epoch_begin", epoch)
        if bar is not None:
            bar.set_description(f"epoch {epoch + 1}", refresh=False)
        lr = optimizer.lr
        start = time.perf_counter()
        model.train()
        loss_sum, samples, hits, skipped, batches = 0.0, 0, None, 0, 0
        classes, decided = None, False  # on the first batch: how to read classes, if at all
        for batch, (x, y) in enumerate(loader):
            output = model(x)
            loss = loss_fn(output, y)
            if not isinstance(loss, Variable) or loss.value.numel() != 1:
                self._refuse_loss(loss, output, before if batches == 0 else None)
            value = loss.item()
            if parallel is not None:  # the global batch's loss: all processes skip together
                value = parallel.global_loss(value)
            batches += 1
            if not math.isfinite(value):
                skipped += 1
                self._skip(loss, value, epoch, batch, skipped)
                if bar is not None:
                    bar.update()
                continue
            optimizer.zero_grad()
            loss.backward()
            if parallel is not None:
                parallel.average_gradients()
            optimizer.step()
            n = len(y)
            loss_sum += value * n
            samples += n
            if not decided:
                classes, decided = class_rule(as_tensor(output), y), True
            if classes is not None:
                batch_hits = (classes(as_tensor(output)) == y).sum()
                hits = batch_hits if hits is None else hits + batch_hits
            for callback in batch_callbacks:
                callback(self, batch, value)
            if bar is not None:
                bar.update()

        if batches == 0:
            raise SetupError(
                f"fit: the training loader yielded no batches in epoch {epoch + 1}\n"
                "help: a generator can be iterated only once; pass a DataLoader, which "
                "starts again every epoch"
            )
        if self.scheduler is not None:
            self.scheduler.step()
        test = (
            evaluate(model, test_loader, loss_fn)
            if test_loader is not None
            else {"loss": None, "accuracy": None}
        )
        if parallel is not None:  # add up every process's shard
            loss_sum, samples, hits, test = parallel.epoch_totals(loss_sum, samples, hits, test)
        record = {
            "epoch": epoch,
            "loss": loss_sum / samples if samples else math.nan,
            "train_accuracy": float(hits) / samples if hits is not None and samples else None,
            "test_loss": test["loss"],
            "test_accuracy": test["accuracy"],
            "lr": lr,
            "seconds": time.perf_counter() - start,
            "skipped": skipped,
        }
        self.history.append(record)
        self.epoch = epoch + 1
        self.skipped_batches += skipped
        self._call("on_epoch_end", epoch, record)
        return record

    def _refuse_loss(self, loss, output, before) -> None:
        """Raise for a loss that is not one number; on a fit's first batch, undo that batch."""
        for value in (loss, output):
            if isinstance(value, Variable):
                value.context.clear()
        if before is not None:
            buffers, rng, loader = before
            for buffer, value in buffers:
                buffer.value.copy_(value)
            torch.set_rng_state(rng)
            if loader is not None:
                loader[0].load_state_dict(loader[1])
        check_loss(loss, "fit")

    def _skip(self, loss, value: float, epoch: int, batch: int, skipped: int) -> None:
        """Drop a batch whose loss is NaN or Inf: no backward, no step; empty its tape."""
        loss.context.clear()
        if skipped == 1 and prints(self.parallel):  # one warning an epoch (from rank 0)
            warnings.warn(
                f"epoch {epoch + 1}, batch {batch}: the loss is {value}; skipping this batch "
                "(no backward, no step). Further skips this epoch are only counted.\n"
                "help: a loss that blows up usually means the learning rate is too high; "
                "mg.detect_anomaly() finds the op that made the first NaN",
                RuntimeWarning,
                stacklevel=3,
            )

    def _sync_scheduler(self) -> None:
        """Bring a scheduler that was not restored from the checkpoint to our epoch."""
        scheduler = self.scheduler
        if scheduler is not None and getattr(scheduler, "epoch", self.epoch) != self.epoch:
            scheduler.init(self.epoch)

    # -- output ---------------------------------------------------------------
    def _progress_bar(self, total: int):
        if not self.progress or not prints(self.parallel):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="batch", leave=False, dynamic_ncols=True)

    def _report(self, record: dict, last_epoch: int, bar) -> None:
        if not self.verbose or not prints(self.parallel):
            return
        line = format_record(record, last_epoch)
        if bar is not None:
            bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def _call(self, moment: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, moment)(self, *args)

    # -- checkpoints ----------------------------------------------------------
    def save(self, path, loader=None, **extra):
        """Save model, optimiser, scheduler, epoch, history, a loader's state (rank 0 writes)."""
        from minigrad.checkpoint import save_checkpoint

        return save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            epoch=self.epoch,
            history=self.history,
            loader=loader,
            **extra,
        )

    def load(self, path, loader=None) -> dict:
        """Restore what :meth:`save` wrote; training continues from the saved epoch."""
        from minigrad.checkpoint import load_checkpoint

        info = load_checkpoint(path, self.model, self.optimizer, self.scheduler, loader)
        self.epoch = info["epoch"]
        self.history = list(info["history"])
        return info


def fit(
    model,
    optimizer,
    loss_fn,
    train_loader,
    test_loader=None,
    epochs: int = 1,
    scheduler=None,
    callbacks=(),
    progress: bool = True,
    verbose: bool = True,
) -> Trainer:
    """Train in one call; returns the Trainer (its ``history`` has one dict per epoch).

    ``loss_fn=None`` means cross-entropy.
    """
    trainer = Trainer(
        model,
        optimizer,
        loss_fn if loss_fn is not None else cross_entropy,
        scheduler=scheduler,
        callbacks=callbacks,
        progress=progress,
        verbose=verbose,
    )
    trainer.fit(train_loader, test_loader, epochs)
    return trainer
