"""Whole files or nothing: writing a file atomically, reading one, in plain words.

``write_atomically(path, data)`` writes to a temporary file in the same
folder, flushes it to the disk, then renames it over ``path`` in one step
(``os.replace``). A crash, a full disk or a Ctrl-C part way leaves the old
file whole, and the next write removes the temporary file a crash left
behind. The new file gets the mode ``open(path, "wb")`` would give it (the
umask's, or the old file's), as ``torch.save`` does.

The operating system's errors come back as a :class:`CheckpointIOError`
that says, in words, what happened to which file and what is left:
"no space left on device while writing runs/a.ckpt; the previous checkpoint
is intact", instead of an errno buried in a library's message.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from minigrad.errors import CheckpointIOError

_WHAT = {
    errno.ENOSPC: "no space left on device",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}
_HELP = {
    errno.ENOSPC: "free some disk space, or save to another disk, and save again",
    errno.EACCES: "save into a folder you may write to, or change its permissions",
    errno.EPERM: "save into a folder you may write to, or change its permissions",
    errno.EROFS: "save to a writable disk",
    errno.ENOENT: "check the path",
}


def io_error(error: OSError, doing: str, path: Path, after: str = "") -> CheckpointIOError:
    """A CheckpointIOError saying, in words, what ``error`` means for ``path``."""
    what = _WHAT.get(error.errno, error.strerror or type(error).__name__)
    hint = _HELP.get(error.errno, "check the path and the disk, then try again")
    result = CheckpointIOError(f"{what} while {doing} {path}{after}\nhelp: {hint}")
    result.errno = error.errno
    return result


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files that an interrupted write to ``path`` left behind.

    A temporary file names the process that wrote it; one whose process
    still runs (another save in progress) is left alone.
    """
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        writer = name[len(prefix) :].split(".")[0]
        if writer.isdigit() and int(writer) != os.getpid() and _running(int(writer)):
            continue
        try:
            os.remove(path.parent / name)
        except OSError:
            pass


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


def write_atomically(path, data: bytes, what: str = "file") -> Path:
    """Replace ``path`` by a file holding ``data``, all at once or not at all.

    ``what`` names the file in messages: "the previous checkpoint is intact".
    """
    path = Path(path)
    existed = path.exists()
    after = f"; the previous {what} is intact" if existed else f"; no {what} was written"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise io_error(error, "making the folder for", path, after) from None
    remove_stale_temporaries(path)
    temporary = _temporary_name(path)
    try:
        # 0o666 minus the umask, as open(path, "wb") would create it.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise io_error(error, "writing", path, after) from None
    try:
        try:
            if existed:  # an existing file keeps its mode, as torch.save keeps it
                os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
            _write_all(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise io_error(error, "writing", path, after) from None
    except BaseException:
        _remove(temporary)
        raise
    _sync_folder(path.parent)
    return path


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view[: 1 << 24])
        view = view[written:]


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


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


def read_file(path) -> bytes:
    """The bytes of ``path``, or a CheckpointIOError in plain words."""
    path = Path(path)
    try:
        return path.read_bytes()
    except OSError as error:
        raise io_error(error, "reading", path) from None
