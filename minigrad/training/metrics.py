"""Measuring a classifier: predictions, accuracy, a confusion matrix, the test loss.

A classifier returns one score per class, (N, C), and its class is the
highest; a binary classifier may return one logit per sample, (N, 1) or
(N,), and its class is 1 where that logit is above 0 (see ``class_rule``).

Each function runs the model over a whole loader in evaluation mode
(``model.eval()``: dropout off, batch norm on its running statistics) and
inside ``mg.no_grad()``, so nothing is recorded on the tape; afterwards every
module is put back in the mode it was in.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from minigrad.errors import (
    ArgumentTypeError,
    HyperParameterError,
    SetupError,
    ShapeError,
    format_shape,
)
from minigrad.nn.checks import check_count
from minigrad.tape import no_grad
from minigrad.variable import Variable


@contextmanager
def evaluation_mode(model):
    """Run a block with ``model`` in eval mode and no tape; restore each module's mode after."""
    modules = list(model.modules()) if hasattr(model, "modules") else []
    saved = [(m, m.training) for m in modules]
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        for module, mode in saved:
            # Module.train() recurses; here each module gets back exactly its own mode.
            object.__setattr__(module, "training", mode)


def as_tensor(output) -> torch.Tensor:
    """The tensor inside a model's output (a Variable, or already a tensor)."""
    return output if isinstance(output, torch.Tensor) else output.value


def check_loss(loss, where: str) -> None:
    """Refuse a loss that is not one number on the tape (e.g. ``reduction='none'``)."""
    if not isinstance(loss, Variable):
        raise ArgumentTypeError(
            f"{where}: the loss function returned a {type(loss).__name__}, expected a minigrad "
            "Variable\nhelp: compute the loss with minigrad ops (mg.cross_entropy, "
            "mg.mse_loss) on the model's output, so that backward can reach the weights"
        )
    if loss.value.numel() != 1:
        raise ShapeError(
            f"{where}: the loss must be a single number, got shape {format_shape(loss.shape)}\n"
            "help: use the loss's default reduction='mean' (or 'sum'); reduction='none' gives "
            "one loss per sample"
        )


def _one_logit(scores: torch.Tensor) -> bool:
    return scores.ndim == 1 or (scores.ndim == 2 and scores.shape[1] == 1)


def argmax_classes(scores: torch.Tensor) -> torch.Tensor:
    """The class of each row of (N, C) scores: the one with the highest score."""
    return scores.argmax(1)


def threshold_classes(scores: torch.Tensor) -> torch.Tensor:
    """Class 1 where a binary classifier's one logit is > 0 (sigmoid > 0.5), else class 0."""
    return (scores.reshape(len(scores)) > 0).long()


def class_rule(scores: torch.Tensor, target: torch.Tensor):
    """How to read classes from these scores, or None when they do not classify ``target``.

    (N, C) scores with C >= 2 and (N,) integer labels: the highest score wins.
    One logit per sample, (N, 1) or (N,), with labels 0 and 1: a binary
    classifier, whose class is 1 where the logit is above 0 (the probability
    sigmoid(logit) above one half). Anything else (a regression, float
    targets) has no accuracy.
    """
    if target.is_floating_point() or target.ndim != 1 or len(target) != len(scores):
        return None
    if scores.ndim == 2 and scores.shape[1] > 1:
        return argmax_classes
    if _one_logit(scores) and len(target) and 0 <= int(target.min()) <= int(target.max()) <= 1:
        return threshold_classes
    return None


def is_classification(scores: torch.Tensor, target: torch.Tensor) -> bool:
    """True when accuracy means something for these scores and labels (see ``class_rule``)."""
    return class_rule(scores, target) is not None


def _classes(scores: torch.Tensor, target: torch.Tensor, where: str) -> torch.Tensor:
    rule = class_rule(scores, target)
    if rule is None:
        raise ShapeError(
            f"{where}: expected class scores of shape (N, C), or one logit per sample for a "
            f"binary classifier, and integer labels of shape (N,), got "
            f"{format_shape(scores.shape)} and {format_shape(target.shape)} {target.dtype}\n"
            "help: these metrics are for classifiers whose model returns one score per class "
            "(or one logit, with labels 0 and 1)"
        )
    return rule(scores)


def _no_batches(where: str) -> SetupError:
    return SetupError(
        f"{where}: the loader yielded no batches\n"
        "help: check its data set (and drop_last with fewer samples than batch_size)"
    )


def predict(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted classes, true labels)`` for every sample of ``loader``, in its order."""
    predictions, targets = [], []
    with evaluation_mode(model):
        for x, y in loader:
            predictions.append(_classes(as_tensor(model(x)), y, "predict"))
            targets.append(y)
    if not predictions:
        raise _no_batches("predict")
    return torch.cat(predictions), torch.cat(targets)


def evaluate(model, loader, loss_fn=None) -> dict:
    """``{"loss": mean loss or None, "accuracy": fraction correct or None, "samples": N}``.

    The loss (when ``loss_fn`` is given) is averaged per sample, each batch's
    mean weighted by its size. The accuracy is None for a model that is not a
    classifier (see ``class_rule``).
    """
    correct = total_loss = None
    count = 0
    classify = True
    with evaluation_mode(model):
        for x, y in loader:
            output = model(x)
            scores = as_tensor(output)
            rule = class_rule(scores, y) if classify else None
            classify = rule is not None
            if classify:
                hits = (rule(scores) == y).sum()
                correct = hits if correct is None else correct + hits
            if loss_fn is not None:
                loss = loss_fn(output, y)
                check_loss(loss, "evaluate")
                batch_loss = loss.value.detach().reshape(()) * len(y)
                total_loss = batch_loss if total_loss is None else total_loss + batch_loss
            count += len(y)
    if count == 0:
        raise _no_batches("evaluate")
    return {
        "loss": None if total_loss is None else float(total_loss) / count,
        "accuracy": None if correct is None or not classify else float(correct) / count,
        "samples": count,
    }


def accuracy(model, loader) -> float:
    """The fraction of samples classified right (0.0 to 1.0); see ``class_rule`` for how.

    A binary classifier with one logit per sample counts as predicting class 1
    where its logit is above 0.
    """
    predicted, target = predict(model, loader)
    return float((predicted == target).sum()) / len(target)


def confusion_matrix(model, loader, num_classes: int | None = None) -> torch.Tensor:
    """A (C, C) int64 table: entry [i, j] counts samples of class i predicted as class j.

    Rows are the true classes, columns the predicted ones (as scikit-learn),
    so the diagonal holds the hits and each row sums to that class's count.
    """
    predicted, target = predict(model, loader)
    if num_classes is None:
        num_classes = int(max(predicted.max(), target.max())) + 1
    num_classes = check_count("confusion_matrix", "num_classes", num_classes, 1, "e.g. 10")
    for what, values in (("labels", target), ("predictions", predicted)):
        if int(values.max()) >= num_classes or int(values.min()) < 0:
            raise HyperParameterError(
                f"confusion_matrix: {what} run from {int(values.min())} to "
                f"{int(values.max())}, outside 0..{num_classes - 1}\n"
                "help: pass num_classes equal to the model's number of outputs"
            )
    flat = target.long() * num_classes + predicted
    counts = torch.bincount(flat.cpu(), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
