"""Checkpoints: exact resume in a fresh process, atomic writes, no code run on load."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import minigrad as mg
import minigrad.atomic_file as atomic_file
import minigrad.checkpoint as checkpoint
from minigrad import nn
from minigrad.checkpoint import load_checkpoint, save_checkpoint
from minigrad.data import DataLoader, load_digits

ROOT = Path(__file__).resolve().parents[1]

# Trains a small network with batch norm and dropout on the digits, in one of
# three ways, in its own process: "straight" 10 epochs, "first" 5 epochs and a
# checkpoint, or "resume" from the checkpoint for 5 more. It writes the final
# model, optimiser state and history to OUT.
SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    import minigrad as mg
    from minigrad import nn
    from minigrad.data import DataLoader, load_digits
    from minigrad.training import Trainer

    torch.set_num_threads(1)
    mode, kind, path, out = sys.argv[1:5]

    def build(seed):
        torch.manual_seed(seed)
        g = mg.nn.init_random(seed)
        model = nn.Sequential(
            nn.Linear(64, 32, generator=g), nn.BatchNorm(32), nn.ReLU(), nn.Dropout(0.3),
            nn.Linear(32, 10, generator=g),
        )
        if kind == "sgd":
            opt = mg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
            sched = mg.optim.StepLR(opt, step_size=3, gamma=0.5)
        else:
            opt = mg.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.05)
            sched = mg.optim.ChainedScheduler(
                mg.optim.LinearLR(opt, 3, 0.1, 1.0), mg.optim.CosineAnnealingLR(opt, 7)
            )
        x, y = load_digits()
        # No seed given: the loader draws its generator's seed from torch's global RNG.
        loader = DataLoader((x[:600], y[:600]), 64, shuffle=True)
        trainer = Trainer(model, opt, scheduler=sched, progress=False, verbose=False)
        return trainer, loader

    if mode == "straight":
        trainer, loader = build(1)
        trainer.fit(loader, epochs=10)
    elif mode == "first":
        trainer, loader = build(1)
        trainer.fit(loader, epochs=5)
        trainer.save(path, loader=loader, note="half way")
    else:
        trainer, loader = build(99)  # other weights, other RNG: the checkpoint must win
        info = trainer.load(path, loader=loader)
        assert info["epoch"] == 5 and info["extra"] == {"note": "half way"}
        trainer.fit(loader, epochs=5)
    history = [{k: v for k, v in r.items() if k != "seconds"} for r in trainer.history]
    torch.save(
        {
            "model": dict(trainer.model.state_dict()),
            "optimizer": trainer.optimizer.state_dict(),
            "history": history,
            "lr": trainer.optimizer.lr,
        },
        out,
    )
    """
)


def _run(tmp_path: Path, *args: str) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_resuming_in_a_fresh_process_gives_identical_weights(tmp_path, kind):
    path = tmp_path / "half.ckpt"
    _run(tmp_path, "straight", kind, str(path), str(tmp_path / "straight.pt"))
    _run(tmp_path, "first", kind, str(path), str(tmp_path / "first.pt"))
    _run(tmp_path, "resume", kind, str(path), str(tmp_path / "resumed.pt"))
    straight = torch.load(tmp_path / "straight.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    first = torch.load(tmp_path / "first.pt", weights_only=True)

    assert straight["model"].keys() == resumed["model"].keys()
    for name, value in straight["model"].items():  # weights and batch-norm statistics
        assert torch.equal(value, resumed["model"][name]), name
    for position, state in straight["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(
                resumed["optimizer"]["state"][position][key])), (position, key)  # fmt: skip
    assert straight["history"] == resumed["history"]
    assert straight["lr"] == resumed["lr"]
    # and the check can fail: half-way weights differ from the final ones
    assert not torch.equal(first["model"]["0.weight"], straight["model"]["0.weight"])


# -- a checkpoint in one process -------------------------------------------------------
def small_model(seed: int):
    g = mg.nn.init_random(seed)
    return nn.Sequential(nn.Linear(64, 16, generator=g), nn.BatchNorm(16), nn.ReLU(),
                         nn.Linear(16, 10, generator=g))  # fmt: skip


def train_a_little(model, optimizer, loader, steps: int = 3):
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        loss = mg.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.fixture(scope="module")
def digits_loader():
    x, y = load_digits()
    return x, y


def test_save_and_load_restore_every_state(tmp_path, digits_loader):
    x, y = digits_loader
    model = small_model(1)
    optimizer = mg.optim.Adam(model.parameters(), lr=0.01)
    scheduler = mg.optim.StepLR(optimizer, step_size=1, gamma=0.5)
    loader = DataLoader((x, y), 32, shuffle=True, generator=3)
    train_a_little(model, optimizer, loader)
    scheduler.step()
    history = [{"epoch": 0, "loss": 0.5, "test_accuracy": None}]
    path = save_checkpoint(
        tmp_path / "run" / "a.ckpt", model, optimizer, scheduler, epoch=1, history=history,
        loader=loader, tag="demo", numbers=[1, 2.5], table={"k": torch.ones(2)},
    )  # fmt: skip
    assert path.exists() and os.listdir(path.parent) == ["a.ckpt"]  # no temporary file left

    other = small_model(2)
    other_opt = mg.optim.Adam(other.parameters(), lr=0.5)
    other_sched = mg.optim.StepLR(other_opt, step_size=1, gamma=0.5)
    other_loader = DataLoader((x, y), 32, shuffle=True, generator=77)
    info = load_checkpoint(path, other, other_opt, other_sched, other_loader)

    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert other_opt.lr == optimizer.lr == pytest.approx(0.005)
    assert other_sched.epoch == 1
    for i, state in optimizer.state.items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other_opt.state[i][key]))
    assert torch.equal(next(iter(other_loader))[1], next(iter(loader))[1])
    assert info["epoch"] == 1 and info["history"] == history
    assert info["extra"]["tag"] == "demo" and info["extra"]["numbers"] == [1, 2.5]
    assert torch.equal(info["extra"]["table"]["k"], torch.ones(2))


def test_loading_restores_the_global_random_state(tmp_path):
    model = small_model(1)
    torch.manual_seed(5)
    path = save_checkpoint(tmp_path / "a.ckpt", model)
    expected = torch.rand(3)
    torch.manual_seed(6)
    load_checkpoint(path, model)
    assert torch.equal(torch.rand(3), expected)
    torch.manual_seed(6)
    load_checkpoint(path, model, restore_rng=False)
    assert not torch.equal(torch.rand(3), expected)


def test_the_file_holds_only_plain_data(tmp_path):
    model = small_model(1)
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    path = save_checkpoint(tmp_path / "a.ckpt", model, opt, epoch=2)
    # weights_only=True refuses any class that is not a tensor or a plain container
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "minigrad-checkpoint" and payload["epoch"] == 2
    with pytest.raises(mg.CheckpointError, match="may hold only"):
        save_checkpoint(tmp_path / "b.ckpt", model, extra_object=object())
    assert not (tmp_path / "b.ckpt").exists()


# -- atomic writes -------------------------------------------------------------------------
def test_a_crash_mid_write_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    model = small_model(1)
    path = save_checkpoint(tmp_path / "a.ckpt", model, epoch=1)
    old_bytes = path.read_bytes()

    def write_half_then_die(descriptor, data):
        os.write(descriptor, data[: len(data) // 2])  # half a file, then the "crash"
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(atomic_file, "_write_all", write_half_then_die)
    with torch.no_grad():
        model[0].weight.value.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, epoch=2)
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["a.ckpt"]  # the temporary file was removed
    fresh = small_model(1)
    assert load_checkpoint(path, fresh)["epoch"] == 1


def test_the_file_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Durability: data on disk before the rename makes it visible, the rename on disk after."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        info = os.fstat(descriptor)  # which file this is, and how much of it is written
        events.append(("fsync", info.st_ino, stat.S_ISDIR(info.st_mode), info.st_size))
        real_fsync(descriptor)

    def replace(source, target):
        events.append(("replace", os.stat(source).st_ino, Path(source).parent, Path(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = save_checkpoint(tmp_path / "run" / "a.ckpt", small_model(1), epoch=3)
    monkeypatch.undo()

    file_inode, folder_inode = os.stat(path).st_ino, os.stat(path.parent).st_ino
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    synced_file, renamed, synced_folder = events
    # 1. the temporary file, complete, in the target's folder (a rename never crosses disks)
    assert synced_file == ("fsync", file_inode, False, path.stat().st_size)
    # 2. that same file renamed over the target
    assert renamed == ("replace", file_inode, path.parent, path)
    # 3. the folder that holds the new name
    assert synced_folder[1:3] == (folder_inode, True)
    assert load_checkpoint(path, small_model(2))["epoch"] == 3


# -- files that are not checkpoints ----------------------------------------------------------
def test_a_truncated_checkpoint_is_explained(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", small_model(1))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(mg.CheckpointError, match="cut short or damaged") as error:
        load_checkpoint(path, small_model(1))
    assert "expected a minigrad checkpoint" in str(error.value) and "help:" in str(error.value)


@pytest.mark.parametrize(
    "content,found",
    [
        (os.urandom(300), "bytes of unknown data"),
        (b"epoch,loss\n1,0.5\n", "a text file"),
        (b"", "an empty file"),
    ],
)
def test_a_foreign_file_is_explained(tmp_path, content, found):
    if content[:1] in (b"P", b"\x80"):  # random bytes that happen to look like a format
        content = b"\x01" + content[1:]
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    with pytest.raises(mg.CheckpointError, match=found) as error:
        load_checkpoint(path, small_model(1))
    assert "help:" in str(error.value)


class Marker:
    """Unpickling this would create a file: the proof that loading ran code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_with_code_in_it_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code_ran"
    for i, write in enumerate(
        [
            lambda f: pickle.dump({"format": "minigrad-checkpoint", "x": Marker(str(marker))}, f),
            lambda f: torch.save({"model": Marker(str(marker))}, f),
        ]
    ):
        path = tmp_path / f"evil{i}.ckpt"
        with open(path, "wb") as f:
            write(f)
        assert not marker.exists()
        with pytest.raises(mg.CheckpointError, match="could run code") as error:
            load_checkpoint(path, small_model(1))
        assert "weights_only=False" in str(error.value)
        assert not marker.exists()


def test_a_plain_torch_file_is_not_taken_for_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(dict(small_model(1).state_dict()), path)
    with pytest.raises(mg.CheckpointError, match="not a minigrad checkpoint") as error:
        load_checkpoint(path, small_model(1))
    assert "model.load_state_dict" in str(error.value)


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", small_model(1))
    wider = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm(32), nn.ReLU(), nn.Linear(32, 10))
    with pytest.raises(mg.CheckpointError, match="shape"):
        load_checkpoint(path, wider)


def test_asking_for_a_state_the_file_lacks(tmp_path):
    model = small_model(1)
    path = save_checkpoint(tmp_path / "a.ckpt", model)
    with pytest.raises(mg.CheckpointError, match="no optimizer state"):
        load_checkpoint(path, model, mg.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(mg.CheckpointIOError, match="no such file or folder while reading"):
        load_checkpoint(tmp_path / "missing.ckpt", model)


def test_a_checkpoint_from_a_newer_minigrad_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "VERSION", 99)
    path = save_checkpoint(tmp_path / "a.ckpt", small_model(1))
    monkeypatch.undo()
    with pytest.raises(mg.CheckpointError, match="version 99"):
        load_checkpoint(path, small_model(1))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_gpu_checkpoint_loads_on_the_cpu_and_back(tmp_path):
    model = small_model(1).to("cuda")
    opt = mg.optim.Adam(model.parameters(), lr=0.01)
    x, y = load_digits(device="cuda")
    train_a_little(model, opt, DataLoader((x, y), 32))
    path = save_checkpoint(tmp_path / "gpu.ckpt", model, opt)
    on_cpu = small_model(2)
    load_checkpoint(path, on_cpu, mg.optim.Adam(on_cpu.parameters(), lr=0.01))
    for a, b in zip(model.state_dict().values(), on_cpu.state_dict().values()):
        assert torch.equal(a.cpu(), b)
    back = small_model(3).to("cuda")
    back_opt = mg.optim.Adam(back.parameters(), lr=0.01)
    load_checkpoint(path, back, back_opt)
    assert all(s["exp_avg"].is_cuda for s in back_opt.state.values())
