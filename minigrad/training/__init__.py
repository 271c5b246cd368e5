"""The training loop and how to measure a classifier.

callbacks.py   Callback (on_batch_end, on_epoch_end, ...), LambdaCallback
metrics.py     predict, evaluate, accuracy, confusion_matrix
setup.py       check_setup: model, optimiser and scheduler that fit together
trainer.py     Trainer (fit, history, save/load) and fit(...) in one call
"""

from minigrad.training.callbacks import Callback, LambdaCallback
from minigrad.training.metrics import accuracy, confusion_matrix, evaluate, predict
from minigrad.training.trainer import Trainer, fit, format_record

__all__ = [
    "Callback",
    "LambdaCallback",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "predict",
    "Trainer",
    "fit",
    "format_record",
]
