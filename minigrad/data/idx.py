"""The IDX file format (MNIST's): a tiny header, then one big-endian array.

An IDX file starts with four bytes::

    0x00 0x00 <dtype code> <number of dimensions>

then one 4-byte big-endian unsigned integer per dimension, then the values,
row-major and big-endian. The dtype codes are

    0x08 uint8   0x09 int8   0x0B int16   0x0C int32   0x0D float32   0x0E float64

MNIST's images are ``0x00000803`` (uint8, 3 dims: N x 28 x 28) and its labels
``0x00000801`` (uint8, 1 dim: N). Files may be gzip-compressed (``.gz``);
:func:`read_idx` looks at the first two bytes to tell.
"""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np

from minigrad.errors import MinigradError

# dtype code -> numpy dtype, big-endian (">") as the format stores it.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(MinigradError, ValueError):
    """A file that is not a well-formed IDX file."""


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """The array held in the bytes of an (uncompressed) IDX file.

    The result is in native byte order, so torch can use it directly.
    """
    if len(data) < 4:
        raise IDXError(
            f"{source}: an IDX file starts with 4 header bytes, this one has {len(data)}\n"
            "help: the file is empty or truncated; delete it and download it again"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXError(
            f"{source}: not an IDX file: it should start with two zero bytes, got "
            f"{data[:4].hex(' ')}\n"
            "help: check the path; a .gz file must be gzip-compressed IDX"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXError(
            f"{source}: unknown IDX dtype code 0x{code:02X} (known: {known})\n"
            "help: the file is damaged or not an IDX file"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(
            f"{source}: the header says {ndim} dimensions, which needs {header_size} bytes, "
            f"but the file has only {len(data)}\n"
            "help: the file is truncated; delete it and download it again"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64)) if ndim else 1
    expected = header_size + count * dtype.itemsize
    if len(data) != expected:
        raise IDXError(
            f"{source}: an IDX array of shape {tuple(dims)} and dtype {dtype.name} needs "
            f"{expected} bytes, the file has {len(data)}\n"
            "help: the file is truncated or damaged; delete it and download it again"
        )
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header_size)
    return values.reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw, into a numpy array."""
    with open(path, "rb") as file:
        data = file.read()
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise IDXError(
                f"{path}: the gzip data is damaged ({error})\n"
                "help: the download was probably cut short; delete the file and try again"
            ) from error
    return parse_idx(data, str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a numpy array as an IDX file (gzip-compressed when the name ends in .gz).

    The inverse of :func:`read_idx`; handy to make small test files.
    """
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        raise IDXError(
            f"write_idx: IDX cannot store dtype {array.dtype}\n"
            "help: convert to uint8, int8, int16, int32, float32 or float64 first"
        )
    big_endian = array.astype(IDX_DTYPES[codes[native]])
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + big_endian.tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    with open(path, "wb") as file:
        file.write(gzip.compress(data) if compress else data)
