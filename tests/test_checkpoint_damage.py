"""Checkpoints that are damaged, refused by the disk, or left behind by a crash.

* A flipped bit anywhere in the file is refused, or lands somewhere harmless
  and the load is bit-identical: nothing ever loads different weights.
* A refused load changes none of the objects it was given.
* The operating system's errors read as plain sentences; the old file stays.
* The next save clears what a crashed save left; files get torch.save's mode.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch

import minigrad as mg
import minigrad.atomic_file as atomic_file
from minigrad import nn
from minigrad.checkpoint import load_checkpoint, save_checkpoint
from minigrad.data import DataLoader


def setup(seed: int):
    """A model with batch norm, Adam with state, a scheduler and a shuffled loader."""
    g = mg.nn.init_random(seed)
    model = nn.Sequential(
        nn.Linear(6, 8, generator=g), nn.BatchNorm(8), nn.ReLU(), nn.Linear(8, 3, generator=g)
    )
    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    sched = mg.optim.StepLR(opt, 2, 0.5)
    data = torch.Generator().manual_seed(seed)
    x, y = torch.randn(24, 6, generator=data), torch.randint(0, 3, (24,), generator=data)
    loader = DataLoader((x, y), 6, shuffle=True, generator=seed)
    return model, opt, sched, loader


def train(model, opt, sched, loader):
    for x, y in loader:
        loss = mg.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sched.step()


def everything(model, opt, sched, loader):
    return {
        "model": {k: v.clone() for k, v in model.state_dict().items()},
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "loader": loader.state_dict(),
        "rng": torch.get_rng_state(),
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    return a == b


@pytest.fixture
def saved(tmp_path):
    objects = setup(1)
    train(*objects)
    path = save_checkpoint(tmp_path / "run.ckpt", *objects[:3], epoch=1, loader=objects[3])
    return path, everything(*objects)


def test_two_hundred_single_bit_flips_never_load_other_weights(saved, tmp_path):
    path, expected = saved
    data = path.read_bytes()
    refused = identical = 0
    for k in range(200):
        position = k * len(data) // 200 + k % 7  # spread over the whole file, headers included
        damaged = bytearray(data)
        damaged[position] ^= 1 << (k % 8)
        (tmp_path / "flipped.ckpt").write_bytes(bytes(damaged))
        objects = setup(2)
        torch.manual_seed(k)
        before = everything(*objects)
        try:
            load_checkpoint(tmp_path / "flipped.ckpt", *objects[:3], loader=objects[3])
        except mg.CheckpointError as error:
            assert "help:" in str(error)
            assert same(everything(*objects), before), f"byte {position}: refused, yet changed"
            refused += 1
        else:
            # harmless (zip padding, a name's spare byte): everything must be as saved
            assert same(everything(*objects), expected), f"byte {position}: loaded other data"
            identical += 1
    assert refused + identical == 200 and refused > 150, (refused, identical)


def test_an_adam_checkpoint_into_an_sgd_setup_changes_nothing(saved):
    path, _ = saved
    model, _, _, loader = setup(3)
    sgd = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = mg.optim.StepLR(sgd, 2)
    torch.manual_seed(3)
    before = everything(model, sgd, sched, loader)
    with pytest.raises(mg.CheckpointError, match="saved by 'Adam', this is SGD"):
        load_checkpoint(path, model, sgd, sched, loader)
    assert same(everything(model, sgd, sched, loader), before)


def test_a_state_that_fails_late_writes_nothing_early(saved):
    """The scheduler's state is the last one checked; the model's must not be loaded first."""
    path, _ = saved
    model, opt, _, loader = setup(4)
    cosine = mg.optim.CosineAnnealingLR(opt, 5)
    before = everything(model, opt, cosine, loader)
    with pytest.raises(mg.CheckpointError, match="'StepLR', this is a CosineAnnealingLR"):
        load_checkpoint(path, model, opt, cosine, loader)
    assert same(everything(model, opt, cosine, loader), before)


def test_a_good_checkpoint_loads_everything_bit_for_bit(saved):
    path, expected = saved
    objects = setup(5)
    torch.manual_seed(5)
    load_checkpoint(path, *objects[:3], loader=objects[3])
    assert same(everything(*objects), expected)


# -- the operating system says no -----------------------------------------------------
def crash_midway(number):
    def write(descriptor, data):
        os.write(descriptor, data[: len(data) // 3])
        raise OSError(number, os.strerror(number))

    return write


@pytest.mark.parametrize(
    "number, said",
    [
        (
            errno.ENOSPC,
            "no space left on device while writing {}; the previous checkpoint is intact",
        ),
        (errno.EACCES, "permission denied while writing {}; the previous checkpoint is intact"),
        (errno.EROFS, "the file system is read-only while writing {}; the previous checkpoint"),
    ],
    ids=["disk-full", "permission", "read-only"],
)
def test_a_failed_write_says_so_plainly_and_keeps_the_old_file(saved, monkeypatch, number, said):
    path, _ = saved
    old = path.read_bytes()
    monkeypatch.setattr(atomic_file, "_write_all", crash_midway(number))
    model = setup(6)[0]
    with pytest.raises(mg.CheckpointIOError) as caught:
        save_checkpoint(path, model, epoch=9)
    message = str(caught.value)
    assert message.startswith(said.format(path)) and "help:" in message
    assert "inline_container" not in message and caught.value.errno == number
    assert isinstance(caught.value, OSError)
    assert path.read_bytes() == old and os.listdir(path.parent) == [path.name]


def test_a_first_save_that_fails_says_nothing_was_written(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic_file, "_write_all", crash_midway(errno.ENOSPC))
    path = tmp_path / "new.ckpt"
    with pytest.raises(mg.CheckpointIOError, match="; no checkpoint was written"):
        save_checkpoint(path, setup(7)[0])
    assert os.listdir(tmp_path) == []


def test_a_folder_that_cannot_be_made_is_a_plain_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(mg.CheckpointIOError, match="while making the folder for"):
        save_checkpoint(blocker / "run" / "a.ckpt", setup(7)[0])


def test_reading_is_refused_in_plain_words(saved, monkeypatch):
    path, _ = saved
    real = Path.read_bytes

    def denied(self):
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(mg.CheckpointIOError, match=f"permission denied while reading {path}"):
        load_checkpoint(path, setup(8)[0])


# -- what a crash leaves, and the modes of files ------------------------------------------
def test_the_next_save_removes_what_a_crashed_save_left(saved):
    path, _ = saved
    folder = path.parent
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    left = [f".{path.name}.{dead}.1a2b3c4d.tmp", f".{path.name}.x7f3k.tmp"]  # ours, mkstemp's
    for name in left:
        (folder / name).write_bytes(b"half a checkpoint")
    busy = folder / f".{path.name}.{os.getppid()}.0f0f0f0f.tmp"  # a live process is writing
    busy.write_bytes(b"in progress")
    unrelated = folder / ".other.ckpt.123.tmp"
    unrelated.write_bytes(b"not ours")
    save_checkpoint(path, setup(9)[0])
    assert sorted(os.listdir(folder)) == sorted([path.name, busy.name, unrelated.name])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_mode_torch_save_gives(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "ours.ckpt", setup(10)[0])
        torch.save({"a": 1}, tmp_path / "torch.pt")
    finally:
        os.umask(old)
    ours = (tmp_path / "ours.ckpt").stat().st_mode & 0o777
    assert ours == (tmp_path / "torch.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_existing_file_keeps_its_mode_as_with_torch_save(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", setup(11)[0])
    path.chmod(0o600)
    torch_path = tmp_path / "b.pt"
    torch.save({}, torch_path)
    torch_path.chmod(0o600)
    save_checkpoint(path, setup(11)[0])
    torch.save({"again": True}, torch_path)
    assert path.stat().st_mode & 0o777 == torch_path.stat().st_mode & 0o777 == 0o600


def test_the_checksum_covers_every_value(saved):
    """One number changed anywhere (here the loader's state) and the digest differs."""
    path, _ = saved
    payload = torch.load(path, weights_only=True)
    assert payload["checksum"] == mg.checkpoint.checksum(payload)
    payload["loader"]["generator"][5] ^= 1
    assert payload["checksum"] != mg.checkpoint.checksum(payload)
    payload["loader"]["generator"][5] ^= 1
    payload["history"] = [{"epoch": 0, "loss": 0.5 + 1e-16}]
    assert payload["checksum"] != mg.checkpoint.checksum(payload)
