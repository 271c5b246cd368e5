"""The 8x8 handwritten digits, shipped inside the package (no network needed).

1797 grey-scale images of the digits 0..9, each 8x8 pixels whose values count
"on" bits in a 4x4 block of a 32x32 scan, so they run from 0 to 16. The file
``digits.csv.gz`` next to this one is the copy scikit-learn ships (see
``DIGITS_LICENSE.txt`` for its source and licence): one row per image, 64
pixel counts read row by row, then the label.

Small enough to train on in seconds, hard enough that a linear model stops
near 95% and a small network gets past 97%.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np
import torch

from minigrad.errors import DTypeError

NUM_SAMPLES = 1797
NUM_FEATURES = 64
NUM_CLASSES = 10
MAX_PIXEL = 16.0
_FILE = "digits.csv.gz"


def _read_rows() -> np.ndarray:
    """The file as a (1797, 65) integer array; a clear error if it is missing or damaged."""
    source = resources.files("minigrad.data").joinpath(_FILE)
    try:
        with source.open("rb") as raw, gzip.open(raw, "rt") as text:
            rows = np.loadtxt(text, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as error:
        raise FileNotFoundError(
            f"load_digits: could not read minigrad/data/{_FILE}: {error}\n"
            "help: the data file ships with the package; reinstall minigrad "
            "(pip install -e .) so that package data is included"
        ) from error
    if rows.shape != (NUM_SAMPLES, NUM_FEATURES + 1):
        raise ValueError(
            f"load_digits: expected {NUM_SAMPLES} rows of {NUM_FEATURES + 1} numbers in "
            f"{_FILE}, got an array of shape {rows.shape}\n"
            "help: the file is damaged; reinstall minigrad"
        )
    return rows


def load_digits(
    as_images: bool = False,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as ``(x, y)`` torch tensors.

    ``x`` holds the pixels scaled to [0, 1] (divided by 16): shape (1797, 64),
    or (1797, 1, 8, 8) with ``as_images=True`` (NCHW, for a Conv2d).
    ``y`` holds the labels 0..9 as int64, shape (1797,).

    >>> x, y = load_digits()
    >>> tuple(x.shape), x.dtype, tuple(y.shape), y.dtype
    ((1797, 64), torch.float32, (1797,), torch.int64)
    >>> float(x.min()), float(x.max()), y[:5].tolist()
    (0.0, 1.0, [0, 1, 2, 3, 4])
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise DTypeError(
            f"load_digits: dtype must be a floating torch dtype, got {dtype!r}\n"
            "help: use torch.float32 (the default) or torch.float64"
        )
    rows = _read_rows()
    x = torch.from_numpy(rows[:, :NUM_FEATURES]).to(dtype) / MAX_PIXEL
    y = torch.from_numpy(rows[:, NUM_FEATURES].copy())
    if as_images:
        x = x.reshape(NUM_SAMPLES, 1, 8, 8)
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x.contiguous(), y
