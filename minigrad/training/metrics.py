"""Measuring a classifier: predictions, accuracy, a confusion matrix, the test loss.

Each function runs the model over a whole loader in evaluation mode
(``model.eval()``: dropout off, batch norm on its running statistics) and
inside ``mg.no_grad()``, so nothing is recorded on the tape; afterwards every
module is put back in the mode it was in.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from minigrad.errors import ShapeError, format_shape
from minigrad.tape import no_grad


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


def _check_scores(scores: torch.Tensor, target: torch.Tensor, where: str) -> None:
    if scores.ndim != 2 or target.shape != scores.shape[:1]:
        raise ShapeError(
            f"{where}: expected class scores of shape (N, C) and labels of shape (N,), got "
            f"{format_shape(scores.shape)} and {format_shape(target.shape)}\n"
            "help: these metrics are for classifiers whose model returns one score per class"
        )


def predict(model, loader) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predicted classes, true labels)`` for every sample of ``loader``, in its order."""
    predictions, targets = [], []
    with evaluation_mode(model):
        for x, y in loader:
            scores = as_tensor(model(x))
            _check_scores(scores, y, "predict")
            predictions.append(scores.argmax(1))
            targets.append(y)
    if not predictions:
        raise ValueError("predict: the loader yielded no batches\nhelp: check its data set")
    return torch.cat(predictions), torch.cat(targets)


def is_classification(scores: torch.Tensor, target: torch.Tensor) -> bool:
    """True for (N, C) class scores with (N,) integer labels: then accuracy means something."""
    return (
        scores.ndim == 2
        and target.ndim == 1
        and not target.is_floating_point()
        and len(target) == len(scores)
    )


def evaluate(model, loader, loss_fn=None) -> dict:
    """``{"loss": mean loss or None, "accuracy": fraction correct or None, "samples": N}``.

    The loss (when ``loss_fn`` is given) is averaged per sample, each batch's
    mean weighted by its size. The accuracy is None for a model that is not a
    classifier (outputs that are not (N, C) scores for (N,) integer labels).
    """
    correct = total_loss = None
    count = 0
    with evaluation_mode(model):
        for x, y in loader:
            output = model(x)
            scores = as_tensor(output)
            if is_classification(scores, y):
                hits = (scores.argmax(1) == y).sum()
                correct = hits if correct is None else correct + hits
            if loss_fn is not None:
                batch_loss = as_tensor(loss_fn(output, y)).detach() * len(y)
                total_loss = batch_loss if total_loss is None else total_loss + batch_loss
            count += len(y)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no batches\nhelp: check its data set")
    return {
        "loss": None if total_loss is None else float(total_loss) / count,
        "accuracy": None if correct is None else float(correct) / count,
        "samples": count,
    }


def accuracy(model, loader) -> float:
    """The fraction of samples whose highest-scoring class is the label (0.0 to 1.0)."""
    with evaluation_mode(model):
        x, y = next(iter(loader))
        _check_scores(as_tensor(model(x)), y, "accuracy")
    return evaluate(model, loader)["accuracy"]


def confusion_matrix(model, loader, num_classes: int | None = None) -> torch.Tensor:
    """A (C, C) int64 table: entry [i, j] counts samples of class i predicted as class j.

    Rows are the true classes, columns the predicted ones (as scikit-learn),
    so the diagonal holds the hits and each row sums to that class's count.
    """
    predicted, target = predict(model, loader)
    if num_classes is None:
        num_classes = int(max(predicted.max(), target.max())) + 1
    for what, values in (("labels", target), ("predictions", predicted)):
        if int(values.max()) >= num_classes or int(values.min()) < 0:
            raise ValueError(
                f"confusion_matrix: {what} run from {int(values.min())} to "
                f"{int(values.max())}, outside 0..{num_classes - 1}\n"
                "help: pass num_classes equal to the model's number of outputs"
            )
    flat = target.long() * num_classes + predicted
    counts = torch.bincount(flat.cpu(), minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)
