"""MNIST: 70,000 handwritten digits, 28x28, downloaded once into a folder.

The four files are IDX arrays (see ``idx.py``), gzip-compressed::

    train-images-idx3-ubyte.gz   60000 x 28 x 28 uint8
    train-labels-idx1-ubyte.gz   60000 uint8
    t10k-images-idx3-ubyte.gz    10000 x 28 x 28 uint8
    t10k-labels-idx1-ubyte.gz    10000 uint8

:func:`load_mnist` reads them from ``root``, downloading any that are missing
(each download is written to a temporary file and renamed into place only
once complete and its MD5 checked, so an interrupted download never leaves a
half file that looks whole).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from minigrad.data.idx import IDXError, read_idx

FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# The MD5 sums of the published files; the same files sit on every mirror.
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


class DownloadError(IDXError, OSError):
    """A file that could not be fetched from any mirror."""


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, path: str | os.PathLike, md5: str | None = None, timeout: float = 30.0):
    """Fetch ``url`` into ``path`` atomically: a temporary file in the same folder,
    flushed and synced, checked against ``md5`` if given, then renamed into place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as web:
            for block in iter(lambda: web.read(1 << 20), b""):
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if md5 is not None and _md5(Path(temporary)) != md5:
            raise DownloadError(
                f"download: {url} arrived with MD5 {_md5(Path(temporary))}, expected {md5}\n"
                "help: the mirror served a different or damaged file; try again or another mirror"
            )
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _fetch(name: str, root: Path, mirrors, checksums) -> None:
    """Download one file, trying each mirror in turn; one clear error if all fail."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            download(url, root / name, checksums.get(name) if checksums else None)
            return
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures.append(f"  {url}: {error}")
    raise DownloadError(
        f"load_mnist: could not download {name} into {root}:\n"
        + "\n".join(failures)
        + "\nhelp: check your internet connection, or download the four MNIST files by hand "
        f"into {root} and call load_mnist(root, download=False)"
    )


def load_mnist(
    root: str | os.PathLike,
    train: bool = True,
    download: bool = True,
    as_images: bool = True,
    dtype: torch.dtype = torch.float32,
    mirrors=MIRRORS,
    checksums: dict | None = MD5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST training (``train=True``) or test set as ``(x, y)`` torch tensors.

    ``x`` holds pixels scaled to [0, 1]: (N, 1, 28, 28) with ``as_images``,
    else (N, 784). ``y`` holds the labels as int64, shape (N,).

    Missing files are downloaded into ``root`` when ``download`` is true
    (``mirrors`` are tried in order; ``checksums`` maps file names to MD5
    sums, ``None`` to skip the check).
    """
    root = Path(root).expanduser()
    images_name, labels_name = FILES["train" if train else "test"]
    for name in (images_name, labels_name):
        if (root / name).exists():
            continue
        if not download:
            raise FileNotFoundError(
                f"load_mnist: {root / name} does not exist\n"
                "help: pass download=True, or put the MNIST files into that folder"
            )
        _fetch(name, root, mirrors, checksums)

    images = read_idx(root / images_name)
    labels = read_idx(root / labels_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise IDXError(
            f"load_mnist: expected images of shape (N, H, W) and labels of shape (N,), got "
            f"{images.shape} and {labels.shape}\n"
            f"help: the files in {root} do not belong together; delete them and download again"
        )
    # uint8 pixels run 0..255; other IDX dtypes are taken as already scaled.
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = torch.from_numpy(images).to(dtype) / scale
    x = x.unsqueeze(1) if as_images else x.reshape(len(x), -1)
    return x.contiguous(), torch.from_numpy(labels).long()
