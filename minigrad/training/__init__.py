"""The training loop and how to measure a classifier.

callbacks.py   Callback (on_batch_end, on_epoch_end, ...), LambdaCallback
metrics.py     predict, evaluate, accuracy, confusion_matrix
records.py     format_record: one epoch's record as a printed line
setup.py       check_setup: model, optimiser and scheduler that fit together
trainer.py     Trainer (fit, history, save/load) and fit(...) in one call
"""

from minigrad.training.callbacks import Callback, LambdaCallback
from minigrad.training.metrics import accuracy, confusion_matrix, evaluate, predict
from minigrad.training.records import format_record
from minigrad.training.trainer import Trainer, fit

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
