"""What a file is, told from its first bytes: for errors about files that are not checkpoints.

When ``torch.load`` fails, its message rarely says what the file *is*.
``explain`` looks at the bytes itself and names it: a torch file that is cut
short or damaged, a zip archive (or a NumPy ``.npz``) that is not a torch
file at all, a NumPy ``.npy`` array, a plain pickle, text, an empty file, or
unknown data.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

_CODE_HELP = (
    "help: load only checkpoints written by save_checkpoint; if you trust this file "
    "completely, read it yourself with torch.load(path, weights_only=False)"
)


def _zip_names(data: bytes) -> list[str] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _kind_of_zip(data: bytes) -> tuple[str, str]:
    size = len(data)
    if b"data.pkl" in data:  # torch's zip files hold <name>/data.pkl
        return (
            f"a torch file that is cut short or damaged ({size} bytes)",
            "it was probably copied or written only partly; use an earlier checkpoint",
        )
    names = _zip_names(data)
    if names is not None and names and all(n.endswith(".npy") for n in names):
        arrays = ", ".join(n[:-4] for n in names[:6])
        return (
            f"a NumPy .npz archive (arrays {arrays}), not a minigrad checkpoint",
            "read it with numpy.load(path); save_checkpoint writes checkpoints",
        )
    held = f" holding {', '.join(names[:6])}" if names else ""
    return (
        f"a zip archive{held} that is not a torch file, so not a minigrad checkpoint",
        "check the path: it should name a file written by save_checkpoint",
    )


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def explain(path: Path, data: bytes, error: Exception) -> str:
    """The message for a ``torch.load`` failure on ``data``, the bytes of ``path``."""
    message = str(error)
    if "allowed global" in message or "Unsupported global" in message:
        found = next((line for line in message.splitlines() if "global" in line.lower()), "")
        return (
            f"load_checkpoint: {path} contains Python objects other than tensors, numbers, "
            f"strings, lists and dicts, which a checkpoint never holds (loading them could run "
            f"code), so it was not loaded\ntorch said: {found.strip()[:200]}\n{_CODE_HELP}"
        )
    head = data[:64]
    hint = "check the path: it should name a file written by save_checkpoint"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        found, hint = _kind_of_zip(data)
    elif head.startswith(b"\x93NUMPY"):
        found = "a NumPy .npy array file, not a minigrad checkpoint"
        hint = "read it with numpy.load(path); save_checkpoint writes checkpoints"
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
    else:
        found = f"{len(data)} bytes of unknown data (starting {head[:8].hex(' ')})"
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    said = lines[0][:200] if lines else type(error).__name__
    for before, after in zip(lines, lines[1:]):
        if before.endswith("WeightsUnpickler error:"):  # the useful line of a long message
            said = after[:200]
    return (
        f"load_checkpoint: expected a minigrad checkpoint in {path}, found {found}\n"
        f"torch said: {said}\nhelp: {hint}"
    )
