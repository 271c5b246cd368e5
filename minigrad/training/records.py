"""An epoch's history record as the one line the Trainer prints."""

from __future__ import annotations


def format_record(record: dict, last_epoch: int | None = None) -> str:
    """One epoch as a line: ``epoch  3/20  loss 0.1234  train 96.5%  test 95.8%  lr 0.1  0.4s``."""
    number = record["epoch"] + 1
    width = len(str(last_epoch)) if last_epoch else 1
    parts = [f"epoch {number:>{width}}" + (f"/{last_epoch}" if last_epoch else "")]
    parts.append(f"loss {record['loss']:.4f}")
    if record.get("train_accuracy") is not None:
        parts.append(f"train {100 * record['train_accuracy']:.2f}%")
    if record.get("test_accuracy") is not None:
        parts.append(f"test {100 * record['test_accuracy']:.2f}%")
    parts.append(f"lr {record['lr']:.4g}")
    parts.append(f"{record['seconds']:.2f}s")
    if record.get("skipped"):
        parts.append(f"({record['skipped']} batches skipped: loss NaN/Inf)")
    return "  ".join(parts)
