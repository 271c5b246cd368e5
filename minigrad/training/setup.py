"""The pieces of a training run, checked against each other before it starts.

A notebook keeps every object a learner ever built. Re-run the cell that
builds the model but not the one that builds the optimiser, and the
optimiser still holds the *old* model's parameters: training runs, the loss
stays flat, nothing says why. The Trainer calls ``check_setup`` when it is
built and at every ``fit``, so that mistake, and its relatives, is an error
that names itself.
"""

from __future__ import annotations

import torch

from minigrad.errors import ArgumentTypeError, SetupError
from minigrad.optim import Optimizer, Scheduler


def check_setup(model, optimizer, scheduler, loss_fn=None) -> None:
    """Refuse a model, optimiser and scheduler that cannot train together.

    The optimiser must be minigrad's and hold at least one of the model's
    parameters (one left over from an earlier notebook cell holds the old
    model's, and the weights would never move); the scheduler must drive
    that very optimiser (else the learning rate stays flat).
    """
    if loss_fn is not None and not callable(loss_fn):
        raise ArgumentTypeError(
            f"Trainer: loss_fn must be a function (output, target) -> loss, got "
            f"{type(loss_fn).__name__}\nhelp: e.g. loss_fn=mg.cross_entropy"
        )
    if isinstance(optimizer, torch.optim.Optimizer) or not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(
            f"Trainer: expected a minigrad optimiser, got "
            f"{type(optimizer).__module__}.{type(optimizer).__name__}; torch's optimisers "
            "update tensor.grad, which minigrad's backprop never fills (it fills Variable.grad), "
            "so the weights would never move\n"
            "help: use mg.optim.SGD, Adam or AdamW; they take torch's arguments and match its "
            "numbers, e.g. mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)"
        )
    if not all(callable(getattr(model, name, None)) for name in ("parameters", "train")):
        raise ArgumentTypeError(
            f"Trainer: expected a minigrad Module as the model, got {type(model).__name__}\n"
            "help: build it from mg.nn layers, or subclass mg.nn.Module"
        )
    mine = {id(p) for p in model.parameters()}
    if not any(id(p) in mine for p in optimizer.parameters()):
        raise SetupError(
            f"Trainer: the optimiser holds none of the model's {len(mine)} parameters, so "
            "training would never change the model (was the model built again after the "
            "optimiser, e.g. by re-running a cell?)\n"
            "help: build the optimiser from this model: mg.optim.SGD(model.parameters(), lr=...)"
        )
    if scheduler is None:
        return
    if not isinstance(scheduler, Scheduler):
        raise ArgumentTypeError(
            f"Trainer: expected a minigrad scheduler, got "
            f"{type(scheduler).__module__}.{type(scheduler).__name__}\n"
            "help: use mg.optim.StepLR, LinearLR, CosineAnnealingLR or ChainedScheduler"
        )
    if scheduler.optimizer is not optimizer:
        raise SetupError(
            f"Trainer: the scheduler {scheduler} drives another optimiser than this Trainer's, "
            "so the learning rate would stay flat\n"
            "help: build the scheduler on this optimiser: mg.optim.StepLR(optimizer, ...)"
        )


def check_loaders(train_loader, test_loader) -> None:
    """Refuse a loader that has no batches at all (before any training happens)."""
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if loader is not None and hasattr(loader, "__len__") and len(loader) == 0:
            raise SetupError(
                f"fit: {name} has no batches ({loader!r})\n"
                "help: check its data set; drop_last=True with fewer samples than "
                "batch_size leaves none"
            )
