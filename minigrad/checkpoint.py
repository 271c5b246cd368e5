"""Checkpoints: save training to a file and carry on later, in another process.

A checkpoint holds everything that decides what training does next:

    model       every variable's value (weights, biases, batch-norm statistics)
    optimizer   its kind, hyper-parameters and memory (momentum, Adam's moments)
    scheduler   the epoch it is at, so the learning rate continues the schedule
    loader      the shuffling generator's state, so the next batches are the same
    rng         torch's global random state (dropout masks are drawn from it)
    epoch, history, and any extra values you pass

so that training 10 epochs in one go and training 5, saving, loading in a new
process and training 5 more give the same weights, bit for bit, on the CPU.

In data-parallel training (a process group of W processes) every process
calls ``save_checkpoint``; rank 0 alone writes (the processes hold the same
model and optimiser), and all of them wait at a barrier until the file is
whole, so that any process may load it next. Such a checkpoint resumes on
any number of processes: a loader with a ``DistributedSampler`` saves the
sampler's seed and epoch, not its rank, and the epoch order depends on
neither (see ``data/distributed_sampler.py``).

Four promises about the file:

* Writing is atomic (``atomic_file.write_atomically``): a crash or a full
  disk mid-write leaves the previous checkpoint whole.
* Damage is found. The file carries a SHA-256 checksum of everything in it
  (every tensor's bytes, every number), recomputed on loading, so a flipped
  bit anywhere refuses to load instead of loading different weights.
* Loading is all or nothing. Every field is checked, and then every state
  against the objects it goes into (names, shapes, dtypes, the optimiser's
  kind), before the first value is copied.
* Loading never runs code. A pickle file can hold any Python object, and
  unpickling one may call any function. The file holds only tensors,
  numbers, strings, lists and dicts, and is read with
  ``torch.load(weights_only=True)``, which refuses everything else. A file
  that is not a minigrad checkpoint gives a :class:`CheckpointError` that
  says what it found instead (a zip, a NumPy archive, a pickle, text ...).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import torch

from minigrad.atomic_file import read_file, write_atomically
from minigrad.distributed import barrier, get_rank
from minigrad.errors import ArgumentTypeError, CheckpointError
from minigrad.file_kinds import explain

FORMAT = "minigrad-checkpoint"
VERSION = 2
_STATES = ("model", "optimizer", "scheduler", "loader")


# -- what the file holds ---------------------------------------------------------
def checksum(payload: dict) -> str:
    """SHA-256 (hex) of every entry of ``payload`` but ``"checksum"``, in a fixed encoding.

    Each value is fed to the hash with its type, and each tensor with its
    dtype, shape and raw bytes, so the same contents give the same digest
    whatever the file's layout, and any change to a value changes it.
    """
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


def _feed(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"t{flat.dtype}{tuple(value.shape)}:".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"d{len(value)}:".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{'l' if isinstance(value, list) else 'u'}{len(value)}:".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, float):
        digest.update(f"f{value.hex()};".encode())
    else:  # None, bool, int, complex, str, bytes: repr is exact and says the type
        text = repr(value).encode("utf-8", "surrogatepass")
        digest.update(f"{type(value).__name__}{len(text)}:".encode() + text)


_PLAIN = (str, bool, int, float, complex, bytes, type(None))


def _check_plain(value, where: str) -> None:
    """Refuse anything that ``torch.load(weights_only=True)`` would refuse to read back."""
    if type(value) in _PLAIN or isinstance(value, torch.Tensor):
        return
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) not in (str, int):
                raise CheckpointError(
                    f"save_checkpoint: {where} has a key of type {type(key).__name__}\n"
                    "help: use strings or integers as dictionary keys"
                )
            _check_plain(item, f"{where}[{key!r}]")
        return
    raise CheckpointError(
        f"save_checkpoint: {where} is a {type(value).__module__}.{type(value).__name__}; a "
        "checkpoint may hold only tensors, numbers, strings, None, lists, tuples and dicts\n"
        "help: store plain data instead (e.g. obj.state_dict(), float(value) or str(value))"
    )


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
    ``info["extra"]``. A full disk or a folder you may not write to gives a
    :class:`CheckpointIOError` and leaves the previous checkpoint as it was.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise CheckpointError(
            f"save_checkpoint: epoch must be the number of epochs finished, a whole number "
            f">= 0, got {epoch!r}\nhelp: e.g. save_checkpoint(path, model, opt, epoch=5)"
        )
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": epoch,
        "history": list(history or []),
        "model": {name: value.detach() for name, value in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loader": loader.state_dict() if loader is not None else None,
        "rng": _rng_state(),
        "extra": extra,
    }
    _check_plain(payload, "checkpoint")
    if get_rank() != 0:  # rank 0 writes; the others wait until the file is whole
        barrier("the barrier after writing the checkpoint")
        return Path(path)
    payload["checksum"] = checksum(payload)
    try:
        return write_atomically(path, _serialize(payload), "checkpoint")
    finally:
        barrier("the barrier after writing the checkpoint")


def _serialize(payload: dict) -> bytes:
    """The payload as the bytes of a torch file (a function, so a test can make it fail)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


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

    All or nothing: a damaged file, or a state that does not fit one of the
    objects, raises a CheckpointError and changes none of them.
    """
    path = Path(path)
    data = read_file(path)
    payload = _read(path, data, map_location)
    check_fields(payload, path)
    if payload["checksum"] != checksum(payload):
        raise CheckpointError(
            f"load_checkpoint: {path} is damaged: its contents do not match the checksum "
            "stored with them, so it was not loaded\n"
            "help: the file was changed or corrupted after it was written; use an earlier "
            "checkpoint"
        )
    loads = []
    for name, target in zip(_STATES, (model, optimizer, scheduler, loader)):
        if target is None:
            continue
        if not callable(getattr(target, "check_state_dict", None)):
            raise ArgumentTypeError(
                f"load_checkpoint: the {name} given is a {type(target).__name__}, which minigrad "
                f"cannot restore\nhelp: pass minigrad's own {name} (mg.nn, mg.optim, mg.data)"
            )
        if payload[name] is None:
            raise CheckpointError(
                f"load_checkpoint: {path} holds no {name} state, but a {name} was given\n"
                f"help: save it with save_checkpoint(..., {name}={name}), or load without it"
            )
        loads.append(target.check_state_dict(payload[name]))
    for load in loads:  # every state was checked: now write them
        load()
    if restore_rng:
        torch.set_rng_state(payload["rng"]["torch"].cpu())
        if "cuda" in payload["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in payload["rng"]["cuda"]])
    return payload


def _read(path: Path, data: bytes, map_location) -> dict:
    """torch.load with weights_only=True, each failure turned into a CheckpointError."""
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before failing; our error says more.
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many kinds on garbage (even IndexError)
        raise CheckpointError(explain(path, data, error)) from None


# -- the fields, checked one by one ----------------------------------------------
def _field_error(path: Path, field: str, expected: str, value) -> CheckpointError:
    return CheckpointError(
        f"load_checkpoint: {path}: the field {field} is damaged: expected {expected}, got "
        f"{type(value).__name__} {value!r:.60}\n"
        "help: the file was changed after it was written; use an earlier checkpoint"
    )


def check_fields(payload, path: Path) -> None:
    """Check every field of a loaded payload; a CheckpointError names the first bad one."""
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        keys = sorted(map(str, payload))[:8] if isinstance(payload, dict) else None
        found = f"a dict with keys {keys}" if keys is not None else type(payload).__name__
        raise CheckpointError(
            f"load_checkpoint: {path} is a torch file but not a minigrad checkpoint: it holds "
            f"{found}\n"
            "help: a plain state dict loads with model.load_state_dict(torch.load(path, "
            "weights_only=True)); save_checkpoint writes full checkpoints"
        )
    version = payload.get("version")
    if type(version) is not int:
        raise _field_error(path, "'version'", "a whole number", version)
    if version != VERSION:
        newer = version > VERSION
        raise CheckpointError(
            f"load_checkpoint: {path} has format version {version}, this minigrad reads "
            f"version {VERSION}\nhelp: "
            + (
                "update minigrad"
                if newer
                else "load it with the minigrad that wrote it and save it again (version 1 "
                "files carry no checksum)"
            )
        )
    expected = {"format", "version", "checksum", "epoch", "history", "rng", "extra", *_STATES}
    if set(payload) != expected:
        raise CheckpointError(
            f"load_checkpoint: {path} lacks the entries {sorted(expected - set(payload))} and "
            f"has the unexpected entries {sorted(map(str, set(payload) - expected))}\n"
            "help: the file is damaged; use an earlier checkpoint"
        )
    rules = {
        "checksum": (lambda v: type(v) is str and len(v) == 64, "a 64-digit hex string"),
        "epoch": (lambda v: type(v) is int and v >= 0, "a whole number >= 0"),
        "history": (lambda v: type(v) is list and all(type(r) is dict for r in v), "a list"),
        "extra": (lambda v: type(v) is dict, "a dict"),
        "rng": (lambda v: type(v) is dict and "torch" in v, "a dict with 'torch'"),
        **{name: (lambda v: v is None or type(v) is dict, "a dict or None") for name in _STATES},
    }
    for field, (ok, expected_kind) in rules.items():
        if not ok(payload[field]):
            raise _field_error(path, f"{field!r}", expected_kind, payload[field])
    for name, value in (payload["model"] or {}).items():
        if not isinstance(value, torch.Tensor):
            raise _field_error(path, f"'model'[{name!r}]", "a tensor", value)
    _check_rng(payload["rng"], path)


def _check_rng(rng: dict, path: Path) -> None:
    try:
        torch.Generator().set_state(rng["torch"])  # a scratch generator: does the state fit?
    except (TypeError, RuntimeError):
        raise _field_error(path, "'rng'['torch']", "torch's random state", rng["torch"]) from None
    cuda = rng.get("cuda", [])
    if type(cuda) is not list or not all(isinstance(s, torch.Tensor) for s in cuda):
        raise _field_error(path, "'rng'['cuda']", "a list of tensors", cuda)
