"""Data loading: the embedded digits, the IDX reader, MNIST's downloader, DataLoader."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import minigrad as mg
from minigrad.data import (
    DataLoader,
    DownloadError,
    IDXError,
    TensorDataset,
    load_digits,
    load_mnist,
    read_idx,
    train_test_split,
    write_idx,
)

DIGITS_FILE = Path(mg.data.__file__).parent / "digits.csv.gz"


# -- the digits ---------------------------------------------------------------
def _digits_by_hand():
    """The CSV read with the standard library only, as an independent oracle."""
    with gzip.open(DIGITS_FILE, "rt") as f:
        rows = [[int(v) for v in row] for row in csv.reader(f)]
    return torch.tensor([r[:64] for r in rows]), torch.tensor([r[64] for r in rows])


def test_digits_match_the_file_and_are_scaled_to_unit_range():
    pixels, labels = _digits_by_hand()
    x, y = load_digits()
    assert x.shape == (1797, 64) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert torch.equal(x * 16, pixels.float())
    assert torch.equal(y, labels)
    assert x.min() == 0 and x.max() == 1
    # scikit-learn documents 10 classes of about 180 images each.
    assert sorted(set(y.tolist())) == list(range(10))
    assert all(170 <= c <= 190 for c in torch.bincount(y).tolist())


def test_digits_as_images_are_rows_of_eight_pixels():
    pixels, _ = _digits_by_hand()
    x, _ = load_digits(as_images=True, dtype=torch.float64)
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float64
    # pixel (r, c) of an image is feature 8*r + c
    assert torch.equal(x[5, 0, 3, 6] * 16, pixels[5, 8 * 3 + 6].double())


def test_digits_file_is_the_one_named_in_the_licence_note():
    note = (DIGITS_FILE.parent / "DIGITS_LICENSE.txt").read_text()
    assert hashlib.sha256(DIGITS_FILE.read_bytes()).hexdigest() in note
    assert "BSD" in note and "CC BY 4.0" in note


def test_digits_refuse_an_integer_dtype():
    with pytest.raises(TypeError, match="help:"):
        load_digits(dtype=torch.int64)


# -- IDX files ------------------------------------------------------------------
def _idx_bytes(code: int, fmt: str, shape, values) -> bytes:
    """An IDX file built with struct, independently of minigrad's writer."""
    header = bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return header + struct.pack(f">{len(values)}{fmt}", *values)


IDX_CASES = [
    (0x08, "B", np.uint8, [0, 7, 255, 128, 1, 2]),
    (0x09, "b", np.int8, [-128, 127, 0, -1, 5, 6]),
    (0x0B, "h", np.int16, [-30000, 300, 1, 2, 3, 4]),
    (0x0C, "i", np.int32, [-(2**31), 2**31 - 1, 70000, 0, 1, 2]),
    (0x0D, "f", np.float32, [1.5, -2.25, 3e10, 0.0, 1e-3, 7.0]),
    (0x0E, "d", np.float64, [1.5, -2.25, 3e100, 0.0, 1e-300, 7.0]),
]


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("code,fmt,dtype,values", IDX_CASES)
def test_read_idx_reads_every_dtype_big_endian(tmp_path, code, fmt, dtype, values, compressed):
    data = _idx_bytes(code, fmt, (2, 3), values)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gzip.compress(data) if compressed else data)
    array = read_idx(path)
    assert array.shape == (2, 3)
    assert array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(array, np.array(values, dtype=dtype).reshape(2, 3))


def test_write_idx_writes_what_struct_writes(tmp_path):
    values = np.array([[1, 2, 3], [250, 5, 6]], dtype=np.uint8)
    write_idx(tmp_path / "a.idx", values)
    assert (tmp_path / "a.idx").read_bytes() == _idx_bytes(0x08, "B", (2, 3), values.ravel())
    write_idx(tmp_path / "b.idx.gz", values.astype(np.float32))
    np.testing.assert_array_equal(read_idx(tmp_path / "b.idx.gz"), values.astype(np.float32))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"\x00\x00", "4 header bytes"),
        (b"\x12\x34\x08\x01" + b"\x00" * 8, "two zero bytes"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX dtype code 0x07"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "3 dimensions"),
        (_idx_bytes(0x08, "B", (2, 3), [1, 2, 3, 4, 5, 6])[:-1], "needs 18 bytes"),
        (_idx_bytes(0x08, "B", (2, 3), [1, 2, 3, 4, 5, 6]) + b"\x00", "needs 18 bytes"),
    ],
)
def test_read_idx_explains_a_bad_file(tmp_path, data, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(data)
    with pytest.raises(IDXError, match=message) as error:
        read_idx(path)
    assert "help:" in str(error.value) and isinstance(error.value, mg.MinigradError)


def test_read_idx_explains_a_cut_gzip_file(tmp_path):
    data = gzip.compress(_idx_bytes(0x08, "B", (100,), list(range(100))))
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IDXError, match="gzip data is damaged"):
        read_idx(path)


# -- MNIST, from a mirror that is a local folder (no network in tests) -----------
def _fake_mnist_mirror(folder: Path, n_train: int = 5, n_test: int = 3) -> dict:
    """Tiny MNIST-shaped IDX files; returns their MD5 sums."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    sums = {}
    for images, labels, n in [
        ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", n_train),
        ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", n_test),
    ]:
        pixels = rng.integers(0, 256, size=n * 4 * 4).tolist()
        digits = rng.integers(0, 10, size=n).tolist()
        (folder / images).write_bytes(gzip.compress(_idx_bytes(0x08, "B", (n, 4, 4), pixels)))
        (folder / labels).write_bytes(gzip.compress(_idx_bytes(0x08, "B", (n,), digits)))
        for name in (images, labels):
            sums[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    return sums


def test_load_mnist_downloads_from_a_mirror_and_reads_the_files(tmp_path):
    sums = _fake_mnist_mirror(tmp_path / "mirror")
    root = tmp_path / "root"
    mirror = (tmp_path / "mirror").as_uri() + "/"
    x, y = load_mnist(root, train=True, mirrors=[mirror], checksums=sums)
    assert x.shape == (5, 1, 4, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    raw = read_idx(tmp_path / "mirror" / "train-images-idx3-ubyte.gz")
    assert torch.equal(x[:, 0] * 255, torch.from_numpy(raw).float())
    x_test, y_test = load_mnist(
        root, train=False, as_images=False, mirrors=[mirror], checksums=sums
    )
    assert x_test.shape == (3, 16) and len(y_test) == 3
    # every file arrived whole, with no temporary file left behind
    assert sorted(os.listdir(root)) == sorted(sums)
    # the second call reads from root, without the mirror
    x2, _ = load_mnist(root, train=True, download=False)
    assert torch.equal(x, x2)


def test_load_mnist_tries_the_next_mirror(tmp_path):
    sums = _fake_mnist_mirror(tmp_path / "mirror")
    mirrors = [(tmp_path / "nowhere").as_uri() + "/", (tmp_path / "mirror").as_uri() + "/"]
    x, _ = load_mnist(tmp_path / "root", train=False, mirrors=mirrors, checksums=sums)
    assert len(x) == 3


def test_load_mnist_offline_says_how_to_fix_it_and_leaves_nothing(tmp_path):
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="could not download") as error:
        load_mnist(root, mirrors=[(tmp_path / "nowhere").as_uri() + "/"])
    assert "help:" in str(error.value) and "download=False" in str(error.value)
    assert not root.exists() or os.listdir(root) == []


def test_load_mnist_rejects_a_file_with_the_wrong_checksum(tmp_path):
    sums = _fake_mnist_mirror(tmp_path / "mirror")
    sums["train-images-idx3-ubyte.gz"] = "0" * 32
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="MD5"):
        load_mnist(root, mirrors=[(tmp_path / "mirror").as_uri()], checksums=sums)
    assert not (root / "train-images-idx3-ubyte.gz").exists()
    assert [p for p in os.listdir(root) if p.endswith(".part")] == []


def test_load_mnist_without_download_names_the_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path, download=False)


# -- DataLoader ---------------------------------------------------------------------
def _toy(n=23):
    return torch.arange(n * 2, dtype=torch.float32).reshape(n, 2), torch.arange(n)


def test_loader_in_order_covers_every_sample_once():
    x, y = _toy()
    loader = DataLoader((x, y), batch_size=5)
    batches = list(loader)
    assert len(loader) == len(batches) == 5
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    assert torch.equal(torch.cat([b[0] for b in batches]), x)
    assert torch.equal(torch.cat([b[1] for b in batches]), y)
    assert all(isinstance(t, torch.Tensor) for b in batches for t in b)


def test_loader_drop_last():
    x, y = _toy()
    loader = DataLoader((x, y), batch_size=5, drop_last=True)
    assert len(loader) == 4 and [len(b[1]) for b in loader] == [5, 5, 5, 5]


def test_shuffled_batches_equal_torch_random_sampler_with_the_same_generator():
    x, y = _toy(50)
    ours = DataLoader(
        (x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(3)
    )
    sampler = tud.BatchSampler(
        tud.RandomSampler(range(50), generator=torch.Generator().manual_seed(3)), 8, False
    )
    for (xa, ya), indices in zip(ours, sampler, strict=True):
        assert torch.equal(xa, x[indices]) and torch.equal(ya, y[indices])
    # Later epochs: one fresh permutation per epoch from the same generator
    # (torch's sampler draws an extra one per epoch, so only epoch 1 lines up).
    reference = torch.Generator().manual_seed(3)
    for _epoch in range(3):
        order = torch.randperm(50, generator=reference)
        if _epoch == 0:
            continue
        assert torch.equal(torch.cat([b[1] for b in ours]), y[order])


def test_shuffling_is_seeded_and_differs_between_epochs():
    x, y = _toy(40)
    a = DataLoader((x, y), batch_size=40, shuffle=True, generator=7)
    b = DataLoader((x, y), batch_size=40, shuffle=True, generator=7)
    first_a, second_a = next(iter(a))[1], next(iter(a))[1]
    assert torch.equal(first_a, next(iter(b))[1])
    assert not torch.equal(first_a, second_a)
    assert sorted(first_a.tolist()) == list(range(40))
    # an unseeded loader draws its seed from torch's global generator
    torch.manual_seed(11)
    c = next(iter(DataLoader((x, y), batch_size=40, shuffle=True)))[1]
    torch.manual_seed(11)
    d = next(iter(DataLoader((x, y), batch_size=40, shuffle=True)))[1]
    assert torch.equal(c, d)


def test_loader_state_dict_resumes_the_same_order():
    x, y = _toy(30)
    loader = DataLoader((x, y), batch_size=30, shuffle=True, generator=1)
    next(iter(loader))
    state = loader.state_dict()
    expected = next(iter(loader))[1]
    other = DataLoader((x, y), batch_size=30, shuffle=True, generator=99)
    other.load_state_dict(state)
    assert torch.equal(next(iter(other))[1], expected)
    # the saved state is a copy, not a live view of the generator
    assert not torch.equal(state["generator"], loader.state_dict()["generator"])


class _Squares:
    """A map-style data set that is not made of tensors."""

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return torch.tensor([float(i), float(i * i)]), i % 2


def test_loader_stacks_samples_of_any_dataset():
    batches = list(DataLoader(_Squares(), batch_size=3))
    assert [tuple(b[0].shape) for b in batches] == [(3, 2), (3, 2), (1, 2)]
    assert batches[1][0][:, 1].tolist() == [9.0, 16.0, 25.0]
    assert batches[0][1].tolist() == [0, 1, 0] and batches[0][1].dtype == torch.int64
    shuffled = list(DataLoader(_Squares(), batch_size=7, shuffle=True, generator=0))
    assert sorted(shuffled[0][0][:, 0].tolist()) == [float(i) for i in range(7)]


def test_loader_accepts_numpy_and_variables_and_checks_lengths():
    x, y = _toy(6)
    loader = DataLoader((x.numpy(), mg.tensor(y)), batch_size=4)
    assert torch.equal(next(iter(loader))[1], y[:4])
    with pytest.raises(mg.ShapeError, match="same first dimension"):
        DataLoader((x, y[:5]), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader((x, y), batch_size=0)
    with pytest.raises(TypeError, match="generator"):
        DataLoader((x, y), shuffle=True, generator="seed")


def test_tensor_dataset_indexing():
    x, y = _toy(4)
    data = TensorDataset(x, y)
    assert len(data) == 4
    xi, yi = data[2]
    assert torch.equal(xi, x[2]) and int(yi) == 2


def test_batches_feed_minigrad_ops_directly():
    x, y = load_digits()
    w = mg.tensor(torch.zeros(10, 64), requires_grad=True)
    xb, yb = next(iter(DataLoader((x, y), batch_size=16)))
    loss = mg.cross_entropy(mg.linear(xb, w), yb)
    loss.backward()
    w_t = torch.zeros(10, 64, requires_grad=True)
    torch.nn.functional.cross_entropy(xb @ w_t.T, yb).backward()
    torch.testing.assert_close(w.grad, w_t.grad)


# -- train_test_split ---------------------------------------------------------------
def test_train_test_split_is_a_seeded_partition():
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.25, seed=0)
    assert len(x_test) == round(0.25 * 1797) and len(x_train) + len(x_test) == 1797
    # rows stay paired with their labels: look each test row up in the full set
    index = {tuple(row.tolist()): label for row, label in zip(x, y.tolist())}
    assert all(index[tuple(r.tolist())] == label for r, label in zip(x_test, y_test.tolist()))
    again = train_test_split(x, y, test_fraction=0.25, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[1], x_test)
    other = train_test_split(x, y, test_fraction=0.25, seed=1)
    assert not torch.equal(other[1], x_test)
    # a partition: the two parts together are the whole set
    ids = torch.arange(1797)
    _, _, ids_train, ids_test = train_test_split(x, ids, test_fraction=0.25, seed=0)
    assert sorted(torch.cat([ids_train, ids_test]).tolist()) == list(range(1797))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.001])
def test_train_test_split_rejects_a_useless_fraction(fraction):
    x, y = _toy(10)
    with pytest.raises(ValueError, match="help:"):
        train_test_split(x, y, test_fraction=fraction)


def test_digits_load_quickly_enough_to_call_often():
    import time

    start = time.perf_counter()
    load_digits()
    assert time.perf_counter() - start < 2.0


def test_idx_reader_does_not_need_a_real_file():
    data = _idx_bytes(0x08, "B", (3,), [1, 2, 3])
    assert mg.data.parse_idx(io.BytesIO(data).getvalue()).tolist() == [1, 2, 3]
