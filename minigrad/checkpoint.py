"""Checkpoints: save training to a file and carry on later, in another process.

A checkpoint holds everything that decides what training does next:

    model       every variable's value (weights, biases, batch-norm statistics)
    optimizer   its hyper-parameters and memory (momentum buffers, Adam's moments)
    scheduler   the epoch it is at, so the learning rate continues the schedule
    loader      the shuffling generator's state, so the next batches are the same
    rng         torch's global random state (dropout masks are drawn from it)
    epoch, history, and any extra values you pass

so that training 10 epochs in one go and training 5, saving, loading in a new
process and training 5 more give the same weights, bit for bit, on the CPU.

Two promises about the file:

* Writing is atomic. The checkpoint is written to a temporary file in the
  same folder, flushed to disk, then renamed over the old one in one step
  (``os.replace``). A crash mid-write leaves the previous checkpoint whole.
* Loading never runs code. A pickle file can hold any Python object, and
  unpickling one may call any function. The file holds only tensors, numbers,
  strings, lists and dicts, and is read with ``torch.load(weights_only=True)``,
  which refuses everything else. A file that is not a minigrad checkpoint
  gives a :class:`CheckpointError` that says what it found instead.
"""

from __future__ import annotations

import numbers
import os
import tempfile
import warnings
from pathlib import Path

import torch

from minigrad.errors import CheckpointError

FORMAT = "minigrad-checkpoint"
VERSION = 1


# -- saving -------------------------------------------------------------------
def save_checkpoint(
    path,
    model,
    optimizer=None,
    scheduler=None,
    epoch: int = 0,
    history: list | None = None,
    loader=None,
    **extra,
) -> Path:
    """Write a checkpoint to ``path`` atomically and return the path.

    ``epoch`` is the number of epochs finished. ``loader`` (a DataLoader)
    saves its shuffling state. ``extra`` values must be plain data (tensors,
    numbers, strings, lists, tuples, dicts, None); they come back in
    ``info["extra"]``.
    """
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "history": list(history or []),
        "model": {name: value.detach() for name, value in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loader": loader.state_dict() if loader is not None else None,
        "rng": _rng_state(),
        "extra": extra,
    }
    _check_plain(payload, "checkpoint")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            _serialize(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    _sync_folder(path.parent)
    return path


def _serialize(payload: dict, file) -> None:
    """Write the payload (a separate function so a test can make it fail midway)."""
    torch.save(payload, file)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _check_plain(value, where: str) -> None:
    """Refuse anything that ``torch.load(weights_only=True)`` would refuse to read back."""
    if value is None or isinstance(value, (str, bool, numbers.Number, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(
                    f"save_checkpoint: {where} has a key of type {type(key).__name__}\n"
                    "help: use strings or integers as dictionary keys"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"save_checkpoint: {where} is a {type(value).__name__}; a checkpoint may hold only "
        "tensors, numbers, strings, None, lists, tuples and dicts\n"
        "help: store plain data instead (e.g. obj.state_dict(), or str(value))"
    )


# -- loading ------------------------------------------------------------------
def load_checkpoint(
    path,
    model=None,
    optimizer=None,
    scheduler=None,
    loader=None,
    map_location="cpu",
    restore_rng: bool = True,
) -> dict:
    """Read a checkpoint and copy its states into the objects given; return the contents.

    The returned dict has ``epoch``, ``history``, ``extra`` and the raw
    ``model`` / ``optimizer`` / ``scheduler`` / ``loader`` states. Tensors are
    loaded onto ``map_location`` (the CPU by default) and then copied to where
    the model's own tensors live. ``restore_rng`` also puts torch's global
    random state back, so dropout continues with the same masks.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"load_checkpoint: {path} does not exist\n"
            "help: check the path; save_checkpoint(path, model, ...) writes one"
        )
    payload = _read(path, map_location)
    _check_payload(payload, path)
    if model is not None:
        model.load_state_dict(payload["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler), ("loader", loader)):
        if target is None:
            continue
        if payload[name] is None:
            raise CheckpointError(
                f"load_checkpoint: {path} holds no {name} state, but a {name} was given\n"
                f"help: save it with save_checkpoint(..., {name}={name}), or load without it"
            )
        target.load_state_dict(payload[name])
    if restore_rng and payload.get("rng"):
        torch.set_rng_state(payload["rng"]["torch"].cpu())
        if "cuda" in payload["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng"]["cuda"]])
    return payload


def _read(path: Path, map_location) -> dict:
    """torch.load with weights_only=True, each failure turned into a CheckpointError."""
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before failing; our error says more.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many kinds on garbage (even IndexError)
        raise CheckpointError(_explain(path, error)) from error


_CODE_HELP = (
    "help: load only checkpoints written by save_checkpoint; if you trust this file "
    "completely, read it yourself with torch.load(path, weights_only=False)"
)


def _explain(path: Path, error: Exception) -> str:
    """Say what the file is, from torch's complaint and the file's first bytes."""
    message = str(error)
    if "allowed global" in message or "Unsupported global" in message:
        found = next((line for line in message.splitlines() if "global" in line.lower()), "")
        return (
            f"load_checkpoint: {path} contains Python objects other than tensors, numbers, "
            f"strings, lists and dicts, which a checkpoint never holds (loading them could run "
            f"code), so it was not loaded\ntorch said: {found.strip()[:200]}\n{_CODE_HELP}"
        )
    with open(path, "rb") as file:
        head = file.read(64)
    size = path.stat().st_size
    if head.startswith(b"PK\x03\x04"):
        found = f"a torch file that is cut short or damaged ({size} bytes)"
        hint = "it was probably copied or written only partly; use an earlier checkpoint"
    elif len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return (
            f"load_checkpoint: expected a minigrad checkpoint in {path}, found a plain Python "
            f"pickle (protocol {head[1]}), not written by torch.save; minigrad does not unpickle "
            f"arbitrary pickles, because that could run code\n{_CODE_HELP}"
        )
    elif not head:
        found, hint = "an empty file", "the save never finished; use an earlier checkpoint"
    elif _looks_like_text(head):
        found = f"a text file starting with {head[:30].decode('utf-8', 'replace')!r}"
        hint = "check the path: it should name a file written by save_checkpoint"
    else:
        found = f"{size} bytes of unknown data (starting {head[:8].hex(' ')})"
        hint = "check the path: it should name a file written by save_checkpoint"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    said = lines[0][:200] if lines else type(error).__name__
    for before, after in zip(lines, lines[1:]):
        if before.endswith("WeightsUnpickler error:"):  # the useful line of a long message
            said = after[:200]
    return (
        f"load_checkpoint: expected a minigrad checkpoint in {path}, found {found}\n"
        f"torch said: {said}\nhelp: {hint}"
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def _check_payload(payload, path: Path) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(map(str, payload))[:8] if isinstance(payload, dict) else None
        found = f"a dict with keys {keys}" if keys is not None else type(payload).__name__
        raise CheckpointError(
            f"load_checkpoint: {path} is a torch file but not a minigrad checkpoint: it holds "
            f"{found}\n"
            "help: a plain state dict loads with model.load_state_dict(torch.load(path, "
            "weights_only=True)); save_checkpoint writes full checkpoints"
        )
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(
            f"load_checkpoint: {path} has format version {payload['version']}, this minigrad "
            f"reads up to version {VERSION}\nhelp: update minigrad"
        )
    missing = [
        k for k in ("epoch", "history", "model", "optimizer", "scheduler") if k not in payload
    ]
    if missing:
        raise CheckpointError(
            f"load_checkpoint: {path} lacks the entries {missing}\n"
            "help: the file is damaged; use an earlier checkpoint"
        )
    payload.setdefault("loader", None)
    payload.setdefault("extra", {})
