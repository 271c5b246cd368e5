# ruff: noqa: E501  (one bad input per line reads best as a table)
"""Bad inputs to nn, optim, training, data and checkpoints: each a typed error that changes nothing.

One table, as a new user would hit them (often from notebook cells run out of
order). Every row is run against a fresh World (a small model with batch norm
and dropout, an optimiser with state, a scheduler, a shuffled loader, a
trainer and a checkpoint on disk) and must

* raise the minigrad error class the row names (never a bare ValueError or
  TypeError, never torch's words alone),
* say how to fix it (a "help:" line) and show the value or name that came,
* leave every piece of the World as it was: weights, batch-norm statistics,
  optimiser state and rates, the scheduler's epoch, the loader's shuffling
  state, torch's random state, the tape, the module tree, the files.

``test_the_table_covers_the_api`` counts the rows by error class (the closing
note of issue 10 quotes it).
"""

from __future__ import annotations

import collections
import errno
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import minigrad as mg
import minigrad.atomic_file as atomic_file
from minigrad import nn
from minigrad.checkpoint import load_checkpoint, save_checkpoint
from minigrad.data import DataLoader, TensorDataset, train_test_split
from minigrad.training import Trainer, accuracy, confusion_matrix, evaluate
from tests.test_checkpoint import Marker

E = mg.errors


class World:
    """Everything a learner has built by the middle of lesson 10."""

    def __init__(self, folder: Path):
        torch.manual_seed(0)
        g = mg.nn.init_random(1)
        self.model = nn.Sequential(
            nn.Linear(4, 8, generator=g), nn.BatchNorm(8), nn.ReLU(), nn.Dropout(0.25),
            nn.Linear(8, 3, generator=g),
        )  # fmt: skip
        self.opt = mg.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)
        self.sched = mg.optim.StepLR(self.opt, step_size=2, gamma=0.5)
        data = torch.Generator().manual_seed(2)
        self.x, self.y = (
            torch.randn(20, 4, generator=data),
            torch.randint(0, 3, (20,), generator=data),
        )
        self.loader = DataLoader((self.x, self.y), 5, shuffle=True, generator=0)
        self.trainer = Trainer(
            self.model, self.opt, scheduler=self.sched, progress=False, verbose=False
        )
        self.trainer.fit(self.loader, epochs=1)  # momentum buffers, moved statistics
        self.folder = folder
        self.path = self.trainer.save(folder / "run.ckpt", loader=self.loader)
        self.other = nn.Sequential(nn.Linear(4, 3, generator=g))  # e.g. from an earlier cell

    def file(self, name: str, content: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(content)
        return path

    def resaved(self, name: str, change) -> Path:
        """The checkpoint, read back, changed by ``change(payload)``, saved with torch.save."""
        payload = torch.load(self.path, weights_only=True)
        change(payload)
        path = self.folder / name
        torch.save(payload, path)
        return path

    def snapshot(self):
        model = self.model
        return {
            "state": {k: v.clone() for k, v in model.state_dict().items()},
            "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
            "tree": [(n, type(m).__name__) for n, m in model.named_modules()],
            "modes": [m.training for m in model.modules()],
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "loader": self.loader.state_dict(),
            "rng": torch.get_rng_state(),
            "tape": len(mg.default_context()),
            "trainer": (self.trainer.epoch, len(self.trainer.history), self.trainer.optimizer),
            # the checkpoint itself, and no temporary file left beside it
            "files": (self.path.read_bytes(), [p.name for p in self.folder.glob(".*")]),
        }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(a, b)
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a is b or a == b


def _changes_nothing(before, after):
    changed = [key for key in before if not same(before[key], after[key])]
    assert not changed, f"the refused call changed {changed}"


# -- helpers for the rows ---------------------------------------------------------------------
def bad_state(w, **change):
    state = dict(w.model.state_dict())
    state.update(change)
    return {k: v for k, v in state.items() if v is not ...}


def other_values(w):
    """A state dict of the same architecture with other values (to see a partial load)."""
    return {k: v + 1 if v.is_floating_point() else v for k, v in w.model.state_dict().items()}


def set_grads(w, second):
    """Good gradients for every parameter but the second."""
    for i, p in enumerate(w.model.parameters()):
        p.grad = torch.ones_like(p.value) if i != 1 else second(p.value)


def adam_state(w):
    adam = mg.optim.Adam(w.model.parameters(), lr=0.01)
    return adam.state_dict()


def saved_opt(w, change):
    state = w.opt.state_dict()
    change(state)
    return state


def with_setting(state, key, value):
    state["param_groups"][0][key] = value


def sched_state(w, **change):
    return {**w.sched.state_dict(), **change}


def fit_with_loss(w, loss_fn):
    w.trainer.loss_fn = loss_fn
    return w.trainer.fit(w.loader, epochs=1)


def fit_exhausted(w):
    batches = ((w.x[i : i + 5], w.y[i : i + 5]) for i in range(0, 20, 5))
    for _ in batches:  # an earlier cell went through it once
        pass
    return w.trainer.fit(batches, epochs=1)


def swap_optimiser(w):
    w.trainer.optimizer = mg.optim.SGD(w.other.parameters(), lr=0.1)
    try:
        return w.trainer.fit(w.loader, epochs=1)
    finally:
        w.trainer.optimizer = w.opt


def chained(w, *parts, **kw):
    return mg.optim.ChainedScheduler(*parts, **kw)


def regression(w):
    model = nn.Sequential(fixed_linear(4, 1))
    return accuracy(model, DataLoader((w.x, w.x[:, :1]), 5))


def npz_bytes():
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros(3), y=np.ones(2))
    return buffer.getvalue()


def npy_bytes():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
        archive.writestr("weights.csv", "1,2,3")
    return buffer.getvalue()


def code_file(w):
    path = w.folder / "evil.ckpt"
    torch.save({"format": "minigrad-checkpoint", "model": Marker(str(w.folder / "ran"))}, path)
    return load_checkpoint(path, w.model)


def torch_file(w, obj):
    path = w.folder / "plain.pt"
    torch.save(obj, path)
    return load_checkpoint(path, w.model)


def load_into_sgd_from_adam(w):
    adam_model = nn.Sequential(
        fixed_linear(4, 8), nn.BatchNorm(8), nn.ReLU(), nn.Dropout(0.25), fixed_linear(8, 3)
    )
    adam = mg.optim.Adam(adam_model.parameters(), lr=0.01)
    sched = mg.optim.StepLR(adam, 2)
    path = save_checkpoint(w.folder / "adam.ckpt", adam_model, adam, sched, epoch=3)
    return load_checkpoint(path, w.model, w.opt, w.sched)


def fail_write(w, number):
    def refuse(descriptor, data):
        raise OSError(number, os.strerror(number))

    original = atomic_file._write_all
    atomic_file._write_all = refuse
    try:
        return w.trainer.save(w.path, loader=w.loader)
    finally:
        atomic_file._write_all = original


def fail_open(w, number):
    original = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(number, os.strerror(number))
        return original(path, *args, **kwargs)

    os.open = refuse
    try:
        return w.trainer.save(w.path, loader=w.loader)
    finally:
        os.open = original


def fail_read(w):
    original = Path.read_bytes

    def refuse(self):
        if self == w.path:
            raise PermissionError(errno.EACCES, "Permission denied")
        return original(self)

    Path.read_bytes = refuse
    try:
        return load_checkpoint(w.path, w.model)
    finally:
        Path.read_bytes = original


def short_rng(payload):
    payload["rng"]["torch"] = payload["rng"]["torch"][:100]


def other_epoch(payload):
    payload["epoch"] = 7  # a well-formed value the checksum does not cover


def fixed_linear(n_in, n_out):
    """A Linear that draws nothing from torch's random state."""
    return nn.Linear(n_in, n_out, generator=mg.nn.init_random(5))


class Early(nn.Module):
    def __init__(self):
        self.fc = fixed_linear(2, 2)  # before super().__init__()


L = torch.optim.lr_scheduler
opt_of = mg.optim.SGD
T = torch.tensor

# (id, call(world), error class, a piece of the message)
BAD = [
    # -- layers and initialisers
    ("Linear(0, 3)", lambda w: nn.Linear(0, 3), E.HyperParameterError, "in_features must be >= 1, got 0"),
    ("Linear(3, -1)", lambda w: nn.Linear(3, -1), E.HyperParameterError, "got -1"),
    ("Linear(2.5, 3)", lambda w: nn.Linear(2.5, 3), E.HyperParameterError, "got 2.5"),
    ("Linear('4', 3)", lambda w: nn.Linear("4", 3), E.HyperParameterError, "got '4'"),
    ("Linear bias='yes'", lambda w: nn.Linear(4, 3, bias="yes"), E.HyperParameterError, "True or False"),
    ("Conv2d kernel 0", lambda w: nn.Conv2d(3, 8, 0), E.HyperParameterError, "kernel_size"),
    ("Conv2d kernel (3,)", lambda w: nn.Conv2d(3, 8, (3,)), E.HyperParameterError, "(3,)"),
    ("Conv2d kernel 3.0", lambda w: nn.Conv2d(3, 8, 3.0), E.HyperParameterError, "3.0"),
    ("Conv2d stride 0", lambda w: nn.Conv2d(3, 8, 3, stride=0), E.HyperParameterError, "stride"),
    ("Conv2d padding -1", lambda w: nn.Conv2d(3, 8, 3, padding=-1), E.HyperParameterError, "padding"),
    ("Conv2d dilation 0", lambda w: nn.Conv2d(3, 8, 3, dilation=0), E.HyperParameterError, "dilation"),
    ("Conv2d groups 4", lambda w: nn.Conv2d(6, 8, 3, groups=4), E.HyperParameterError, "groups=4 must divide"),
    ("Conv2d groups 0", lambda w: nn.Conv2d(6, 8, 3, groups=0), E.HyperParameterError, "groups"),
    ("BatchNorm(0)", lambda w: nn.BatchNorm(0), E.HyperParameterError, "num_features"),
    ("BatchNorm momentum 1.5", lambda w: nn.BatchNorm(8, momentum=1.5), E.HyperParameterError, "1.5"),
    ("BatchNorm eps 0", lambda w: nn.BatchNorm(8, eps=0), E.HyperParameterError, "eps must be > 0"),
    ("Conv2dBatchNorm eps -1", lambda w: nn.Conv2dBatchNorm(3, 8, 3, eps=-1.0), E.HyperParameterError, "eps"),
    ("Dropout(1.0)", lambda w: nn.Dropout(1.0), E.HyperParameterError, "in [0, 1), got 1.0"),
    ("Dropout(-0.1)", lambda w: nn.Dropout(-0.1), E.HyperParameterError, "got -0.1"),
    ("Dropout('0.5')", lambda w: nn.Dropout("0.5"), E.HyperParameterError, "got '0.5'"),
    ("Dropout(True)", lambda w: nn.Dropout(True), E.HyperParameterError, "got True"),
    ("Dropout normalize 'yes'", lambda w: nn.Dropout(0.5, normalize="yes"), E.HyperParameterError, "normalize"),
    ("dropout p 1.5 in eval", lambda w: nn.dropout(mg.tensor(w.x), 1.5, training=False), E.HyperParameterError, "1.5"),
    ("init_random(-1)", lambda w: nn.init_random(-1), E.HyperParameterError, "seed"),
    ("init_random(1.5)", lambda w: nn.init_random(1.5), E.HyperParameterError, "1.5"),
    ("he_init gain 0", lambda w: nn.he_init(gain=0.0), E.HyperParameterError, "variance factor"),
    ("he_init fan_out 'in'", lambda w: nn.he_init(fan_out="in"), E.HyperParameterError, "fan_out"),
    ("glorot_init gain -1", lambda w: nn.glorot_init(-1.0), E.HyperParameterError, "gain"),
    ("uniform_init(1, 1)", lambda w: nn.uniform_init(1.0, 1.0), E.HyperParameterError, "min must be < max"),
    ("uniform_init('a', 1)", lambda w: nn.uniform_init("a", 1.0), E.HyperParameterError, "'a'"),
    ("normal_init stddev -1", lambda w: nn.normal_init(stddev=-1.0), E.HyperParameterError, "stddev"),
    ("constant_init('zero')", lambda w: nn.constant_init("zero"), E.HyperParameterError, "'zero'"),
    ("fans of a vector", lambda w: nn.fans((5,)), E.ShapeError, "at least 2 dimensions"),
    ("initialiser of the wrong shape", lambda w: nn.new_variable("w", (3, 2), lambda s, d, g: torch.zeros(2)), E.ShapeError, "initialiser returned"),
    # -- modules
    ("BatchNorm fed 16 features", lambda w: w.model[1](mg.tensor(torch.ones(5, 16))), E.ShapeError, "holds 8 values"),
    ("model(x) with 5 features", lambda w: w.model(mg.tensor(torch.ones(5, 5))), E.ShapeError, ""),
    ("model(x, training='yes')", lambda w: w.model(mg.tensor(w.x), training="yes"), E.HyperParameterError, "'yes'"),
    ("model.train('no')", lambda w: w.model.train("no"), E.HyperParameterError, "'no'"),
    ("register_parameter a tensor", lambda w: w.model.register_parameter("w", torch.ones(2)), E.ArgumentTypeError, "mg.tensor"),
    ("register_parameter name ''", lambda w: w.model.register_parameter("", mg.tensor([1.0])), E.SetupError, "non-empty"),
    ("register_module name taken", lambda w: w.model.register_module("0", nn.ReLU()), E.SetupError, "'0' is already used"),
    ("register_module a function", lambda w: w.model.register_module("act", torch.relu), E.ArgumentTypeError, "expected a Module"),
    ("register_buffer a list", lambda w: w.model.register_buffer("b", [1, 2]), E.ArgumentTypeError, "list"),
    ("add with a taken name", lambda w: w.model.add(nn.ReLU(), **{"4": nn.ReLU()}), E.SetupError, "'4' is already used"),
    ("add a string", lambda w: w.model.add(nn.ReLU(), "relu"), E.ArgumentTypeError, "str, not a Module"),
    ("set_vars unnamed", lambda w: w.model.set_vars(mg.tensor([1.0])), E.SetupError, "has no name"),
    ("set_vars a tensor", lambda w: w.model.set_vars(torch.ones(1)), E.ArgumentTypeError, "Tensor"),
    ("set_vars one name twice", lambda w: w.model.set_vars(mg.tensor([1.0], name="s"), mg.tensor([2.0], name="s")), E.SetupError, "'s' is given twice"),
    ("module before super().__init__()", lambda w: Early(), E.SetupError, "super().__init__()"),
    ("load_state_dict missing key", lambda w: w.model.load_state_dict(bad_state(w, **{"0.bias": ...})), E.CheckpointError, "missing keys: ['0.bias']"),
    ("load_state_dict unexpected key", lambda w: w.model.load_state_dict(bad_state(w, extra=torch.ones(1))), E.CheckpointError, "unexpected keys: ['extra']"),
    ("load_state_dict a None", lambda w: w.model.load_state_dict({**other_values(w), "0.bias": None}), E.CheckpointError, "0.bias: expected a tensor, got NoneType"),
    ("load_state_dict a string", lambda w: w.model.load_state_dict({**other_values(w), "0.weight": "abc"}), E.CheckpointError, "got str"),
    ("load_state_dict a shape", lambda w: w.model.load_state_dict({**other_values(w), "4.weight": torch.zeros(3, 9)}), E.CheckpointError, "4.weight: checkpoint (3, 9), model (3, 8)"),
    ("load_state_dict a dtype", lambda w: w.model.load_state_dict({k: v.double() for k, v in other_values(w).items()}), E.CheckpointError, "torch.float64, model torch.float32"),
    ("load_state_dict a list", lambda w: w.model.load_state_dict([1, 2]), E.CheckpointError, "got list"),
    ("set_params unknown name", lambda w: w.model.set_params({"9.weight": torch.ones(2)}), E.CheckpointError, "9.weight"),
    ("set_params a shape", lambda w: w.model.set_params({"0.bias": torch.ones(2), "0.weight": torch.ones(8, 4)}), E.CheckpointError, "0.bias"),
    ("update without an output", lambda w: w.model.update({"1.running_mean": torch.zeros(8)}), E.CheckpointError, "1.running_var"),
    # -- optimisers
    ("SGD lr -0.1", lambda w: opt_of(w.model.parameters(), lr=-0.1), E.HyperParameterError, "-0.1"),
    ("SGD lr '0.1'", lambda w: opt_of(w.model.parameters(), lr="0.1"), E.HyperParameterError, "'0.1'"),
    ("SGD lr nan", lambda w: opt_of(w.model.parameters(), lr=float("nan")), E.HyperParameterError, "nan"),
    ("SGD momentum -0.5", lambda w: opt_of(w.model.parameters(), lr=0.1, momentum=-0.5), E.HyperParameterError, "-0.5"),
    ("SGD nesterov without momentum", lambda w: opt_of(w.model.parameters(), lr=0.1, nesterov=True), E.HyperParameterError, "momentum=0.0"),
    ("SGD nesterov 'yes'", lambda w: opt_of(w.model.parameters(), lr=0.1, momentum=0.9, nesterov="yes"), E.HyperParameterError, "'yes'"),
    ("Adam betas (1.0, 0.999)", lambda w: mg.optim.Adam(w.model.parameters(), betas=(1.0, 0.999)), E.HyperParameterError, "1.0"),
    ("Adam betas (0.9,)", lambda w: mg.optim.Adam(w.model.parameters(), betas=(0.9,)), E.HyperParameterError, "(0.9,)"),
    ("Adam eps -1", lambda w: mg.optim.Adam(w.model.parameters(), eps=-1.0), E.HyperParameterError, "eps"),
    ("AdamW weight_decay -2", lambda w: mg.optim.AdamW(w.model.parameters(), weight_decay=-2.0), E.HyperParameterError, "-2.0"),
    ("SGD of one Variable", lambda w: opt_of(w.model[0].weight, lr=0.1), E.ArgumentTypeError, "single Variable"),
    ("SGD of torch tensors", lambda w: opt_of([torch.zeros(2, requires_grad=True)], lr=0.1), E.ArgumentTypeError, "mg.tensor"),
    ("SGD of nothing", lambda w: opt_of([], lr=0.1), E.SetupError, "empty"),
    ("SGD of 3", lambda w: opt_of(3, lr=0.1), E.ArgumentTypeError, "int"),
    ("SGD group with 'learning_rate'", lambda w: opt_of([{"params": w.model, "learning_rate": 1}], lr=0.1), E.SetupError, "learning_rate"),
    ("SGD group without params", lambda w: opt_of([{"lr": 0.1}], lr=0.1), E.SetupError, "'params'"),
    ("SGD the same Variable twice", lambda w: opt_of([{"params": [w.model[0].weight]}, {"params": [w.model[0].weight]}], lr=0.1), E.SetupError, "twice"),
    ("opt.lr = -1", lambda w: setattr(w.opt, "lr", -1.0), E.HyperParameterError, "-1.0"),
    ("opt.set_learning_rate('fast')", lambda w: w.opt.set_learning_rate("fast"), E.HyperParameterError, "'fast'"),
    ("opt.set_lrs for 2 groups of 1", lambda w: w.opt.set_lrs([0.1, 0.2]), E.SetupError, "2 learning rates for 1"),
    ("step with a grad of the wrong shape", (lambda w: set_grads(w, lambda v: torch.ones(3)), lambda w: w.opt.step()), E.ShapeError, "no parameter was changed"),
    ("step with a float64 grad", (lambda w: set_grads(w, lambda v: torch.ones_like(v, dtype=torch.float64)), lambda w: w.opt.step()), E.ShapeError, "float64"),
    ("load an Adam state into SGD", lambda w: w.opt.load_state_dict(adam_state(w)), E.CheckpointError, "saved by 'Adam'"),
    ("load {'weights': 1} into SGD", lambda w: w.opt.load_state_dict({"weights": 1}), E.CheckpointError, "'weights'"),
    ("load torch's SGD state", lambda w: w.opt.load_state_dict(torch.optim.SGD([torch.zeros(1)], lr=0.1).state_dict()), E.CheckpointError, "'kind'"),
    ("load momentum '0.9'", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: with_setting(s, "momentum", "0.9"))), E.CheckpointError, "'0.9'"),
    ("load a group without nesterov", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: s["param_groups"][0].pop("nesterov"))), E.CheckpointError, "missing setting(s) ['nesterov']"),
    ("load a momentum buffer of a shape", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: s["state"][0].update(momentum_buffer=torch.ones(2)))), E.CheckpointError, "has shape (2,)"),
    ("load new settings with a bad buffer", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: (with_setting(s, "lr", 0.5), s["state"][1].update(momentum_buffer=torch.ones(2))))), E.CheckpointError, "has shape (2,)"),
    ("load a state at position 9", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: s["state"].update({9: {}}))), E.CheckpointError, "position"),
    ("load 2 saved groups into 1", lambda w: w.opt.load_state_dict(saved_opt(w, lambda s: s["param_groups"].append(dict(s["param_groups"][0])))), E.CheckpointError, "param groups"),
    ("load an Adam step '3'", lambda w: mg.optim.Adam(w.other.parameters()).load_state_dict({"kind": "Adam", "state": {0: {"step": "3"}}, "param_groups": mg.optim.Adam(w.other.parameters()).state_dict()["param_groups"]}), E.CheckpointError, "step count"),
    # -- schedules and schedulers
    ("StepLR step_size 0", lambda w: mg.optim.StepLR(w.opt, 0), E.HyperParameterError, "step_size"),
    ("StepLR gamma 0", lambda w: mg.optim.StepLR(w.opt, 3, 0.0), E.HyperParameterError, "gamma"),
    ("LinearLR epochs 0", lambda w: mg.optim.LinearLR(w.opt, 0, 0.1, 1.0), E.HyperParameterError, "epochs"),
    ("LinearLR start_factor 0", lambda w: mg.optim.LinearLR(w.opt, 5, 0.0, 1.0), E.HyperParameterError, "in (0.0, 1.0], got 0.0"),
    ("LinearLR start_factor 1.5", lambda w: mg.optim.LinearLR(w.opt, 5, 1.5, 1.0), E.HyperParameterError, "1.5"),
    ("LinearLR end_factor 1.5", lambda w: mg.optim.LinearLR(w.opt, 5, 0.5, 1.5), E.HyperParameterError, "end_factor"),
    ("LinearLR end_factor -0.1", lambda w: mg.optim.LinearLR(w.opt, 5, 0.5, -0.1), E.HyperParameterError, "-0.1"),
    ("CosineAnnealingLR t_max 0", lambda w: mg.optim.CosineAnnealingLR(w.opt, 0), E.HyperParameterError, "t_max must be >= 1, got 0"),
    ("CosineAnnealingLR t_max -5", lambda w: mg.optim.CosineAnnealingLR(w.opt, -5), E.HyperParameterError, "-5"),
    ("CosineAnnealingLR lr_min above lr", lambda w: mg.optim.CosineAnnealingLR(w.opt, 10, lr_min=0.5), E.HyperParameterError, "lr_min must be <= the base lr"),
    ("CosineSchedule.lr below lr_min", lambda w: mg.optim.CosineSchedule(10, 0.01).lr(3, base_lr=0.001), E.HyperParameterError, "0.01"),
    ("schedule.lr(-1)", lambda w: mg.optim.StepSchedule(3).lr(-1, 0.1), E.HyperParameterError, "-1"),
    ("schedule.curve(2.5)", lambda w: mg.optim.LinearSchedule(3, 0.5, 1.0).curve(2.5, 0.1), E.HyperParameterError, "2.5"),
    ("Scheduler on torch's SGD", lambda w: mg.optim.StepLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), 3), E.ArgumentTypeError, "minigrad Optimizer"),
    ("Scheduler of a string", lambda w: mg.optim.Scheduler(w.opt, "cosine"), E.ArgumentTypeError, "Schedule"),
    ("ChainedScheduler()", lambda w: chained(w), E.HyperParameterError, "got none"),
    ("ChainedScheduler 1 milestone for 3", lambda w: chained(w, w.opt, mg.optim.StepSchedule(3), mg.optim.StepSchedule(4), mg.optim.StepSchedule(5), milestones=[4]), E.HyperParameterError, "[4]"),
    ("ChainedScheduler milestones [9, 9]", lambda w: chained(w, w.opt, mg.optim.StepSchedule(3), mg.optim.StepSchedule(4), mg.optim.StepSchedule(5), milestones=[9, 9]), E.HyperParameterError, "[9, 9]"),
    ("ChainedScheduler milestone 0", lambda w: chained(w, w.opt, mg.optim.StepSchedule(3), mg.optim.StepSchedule(4), milestones=[0]), E.HyperParameterError, "got 0"),
    ("ChainedScheduler StepLR first", lambda w: chained(w, w.opt, mg.optim.StepSchedule(3), mg.optim.CosineSchedule(4)), E.HyperParameterError, "no natural length"),
    ("ChainedScheduler on two optimisers", lambda w: chained(w, w.sched, mg.optim.StepLR(mg.optim.SGD(w.other.parameters(), lr=0.1), 4), milestones=[3]), E.SetupError, "different optimiser"),
    ("ChainedScheduler of a string", lambda w: chained(w, w.opt, "warmup"), E.ArgumentTypeError, "not a scheduler or a schedule"),
    ("ChainedScheduler without optimiser", lambda w: chained(w, mg.optim.StepSchedule(3)), E.ArgumentTypeError, "optimiser first"),
    ("sched.load_state_dict of a cosine", lambda w: w.sched.load_state_dict(mg.optim.CosineAnnealingLR(mg.optim.SGD(w.other.parameters(), lr=0.1), 5).state_dict()), E.CheckpointError, "'CosineAnnealingLR'"),
    ("sched.load_state_dict epoch -3", lambda w: w.sched.load_state_dict(sched_state(w, epoch=-3)), E.CheckpointError, "-3"),
    ("sched.load_state_dict 2 base_lrs", lambda w: w.sched.load_state_dict(sched_state(w, base_lrs=[0.1, 0.2])), E.CheckpointError, "param groups"),
    ("sched.load_state_dict base_lr 'x'", lambda w: w.sched.load_state_dict(sched_state(w, base_lrs=["x"])), E.CheckpointError, "'x'"),
    ("sched.load_state_dict torch's", lambda w: w.sched.load_state_dict(L.StepLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), 2).state_dict()), E.CheckpointError, "expected a dict with"),
    ("sched.set_epoch(-1)", lambda w: w.sched.set_epoch(-1), E.HyperParameterError, "-1"),
    ("sched.init(1.5)", lambda w: w.sched.init(1.5), E.HyperParameterError, "1.5"),
    # -- the training loop
    ("Trainer with torch's SGD", lambda w: Trainer(w.model, torch.optim.SGD([torch.zeros(1)], lr=0.1)), E.ArgumentTypeError, "tensor.grad"),
    ("Trainer with an optimiser of another model", lambda w: Trainer(w.model, mg.optim.SGD(w.other.parameters(), lr=0.1)), E.SetupError, "holds none of the model's 6 parameters"),
    ("Trainer with a scheduler of another optimiser", lambda w: Trainer(w.model, w.opt, scheduler=mg.optim.StepLR(mg.optim.SGD(w.model.parameters(), lr=0.1), 2)), E.SetupError, "drives another optimiser"),
    ("Trainer with torch's StepLR", lambda w: Trainer(w.model, w.opt, scheduler=L.StepLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), 2)), E.ArgumentTypeError, "minigrad scheduler"),
    ("Trainer with a torch model", lambda w: Trainer(torch.nn.Linear(4, 3, device="meta"), w.opt), E.SetupError, "holds none"),
    ("Trainer loss_fn 'cross_entropy'", lambda w: Trainer(w.model, w.opt, loss_fn="cross_entropy"), E.ArgumentTypeError, "loss_fn"),
    ("Trainer callbacks [42]", lambda w: Trainer(w.model, w.opt, callbacks=[42]), E.ArgumentTypeError, "int"),
    ("Trainer progress 'no'", lambda w: Trainer(w.model, w.opt, progress="no"), E.HyperParameterError, "'no'"),
    ("LambdaCallback on_batch_end=3", lambda w: mg.training.LambdaCallback(on_batch_end=3), E.ArgumentTypeError, "int"),
    ("fit epochs 2.5", lambda w: w.trainer.fit(w.loader, epochs=2.5), E.HyperParameterError, "2.5"),
    ("fit epochs -1", lambda w: w.trainer.fit(w.loader, epochs=-1), E.HyperParameterError, "-1"),
    ("fit epochs True", lambda w: w.trainer.fit(w.loader, epochs=True), E.HyperParameterError, "True"),
    ("fit epochs '3'", lambda w: w.trainer.fit(w.loader, epochs="3"), E.HyperParameterError, "'3'"),
    ("fit on an empty loader", lambda w: w.trainer.fit(DataLoader((w.x[:3], w.y[:3]), 5, drop_last=True)), E.SetupError, "train_loader has no batches"),
    ("fit with an empty test loader", lambda w: w.trainer.fit(w.loader, DataLoader((w.x[:0], w.y[:0]), 5)), E.SetupError, "test_loader has no batches"),
    ("fit on a spent generator", lambda w: fit_exhausted(w), E.SetupError, "generator can be iterated only once"),
    ("fit with reduction='none'", lambda w: fit_with_loss(w, lambda out, y: mg.cross_entropy(out, y, reduction="none")), E.ShapeError, "reduction='none'"),
    ("fit with a torch loss", lambda w: fit_with_loss(w, lambda out, y: torch.nn.functional.cross_entropy(out.value, y)), E.ArgumentTypeError, "Tensor"),
    ("fit after the optimiser was rebuilt", lambda w: swap_optimiser(w), E.SetupError, "holds none"),
    ("accuracy of a regression", lambda w: regression(w), E.ShapeError, "classifiers"),
    ("accuracy on an empty loader", lambda w: accuracy(w.model, DataLoader((w.x[:0], w.y[:0]), 5)), E.SetupError, "no batches"),
    ("evaluate with reduction='none'", lambda w: evaluate(w.model, DataLoader((w.x, w.y), 5), lambda o, y: mg.cross_entropy(o, y, reduction="none")), E.ShapeError, "reduction='none'"),
    ("confusion_matrix num_classes 2", lambda w: confusion_matrix(w.model, DataLoader((w.x, w.y), 20), num_classes=2), E.HyperParameterError, "num_classes"),
    # -- data
    ("DataLoader batch_size 0", lambda w: DataLoader((w.x, w.y), batch_size=0), E.HyperParameterError, "batch_size must be >= 1, got 0"),
    ("DataLoader batch_size 2.5", lambda w: DataLoader((w.x, w.y), batch_size=2.5), E.HyperParameterError, "2.5"),
    ("DataLoader(x, y)", lambda w: DataLoader(w.x, w.y), E.HyperParameterError, "batch_size"),
    ("DataLoader of plain lists", lambda w: DataLoader(([1.0, 2.0, 3.0], [0, 1, 0])), E.ArgumentTypeError, "torch.tensor(values)"),
    ("DataLoader of a list of rows", lambda w: DataLoader([[1.0, 2.0], [3.0, 4.0]]), E.ArgumentTypeError, "plain list"),
    ("DataLoader of (x, y) samples", lambda w: DataLoader([(w.x[0], w.y[0]), (w.x[1], w.y[1])]), E.ArgumentTypeError, "torch.stack"),
    ("DataLoader of a string", lambda w: DataLoader("digits.csv"), E.ArgumentTypeError, "str"),
    ("DataLoader shuffle 'yes'", lambda w: DataLoader((w.x, w.y), shuffle="yes"), E.HyperParameterError, "'yes'"),
    ("DataLoader generator 'seed'", lambda w: DataLoader((w.x, w.y), shuffle=True, generator="seed"), E.ArgumentTypeError, "generator"),
    ("DataLoader generator -1", lambda w: DataLoader((w.x, w.y), shuffle=True, generator=-1), E.HyperParameterError, "-1"),
    ("DataLoader device 'gpu'", lambda w: DataLoader((w.x, w.y), device="gpu"), E.DeviceError, "'gpu'"),
    ("DataLoader lengths 20 and 5", lambda w: DataLoader((w.x, w.y[:5])), E.ShapeError, "same first dimension"),
    ("TensorDataset()", lambda w: TensorDataset(), E.ArgumentTypeError, "none"),
    ("loader state of 100 bytes", lambda w: w.loader.load_state_dict({"generator": torch.zeros(100, dtype=torch.uint8)}), E.CheckpointError, "damaged"),
    ("loader state of an unshuffled loader", lambda w: w.loader.load_state_dict({"generator": None}), E.CheckpointError, "was not shuffled"),
    ("train_test_split fraction 1.0", lambda w: train_test_split(w.x, w.y, test_fraction=1.0), E.HyperParameterError, "1.0"),
    ("train_test_split fraction 0.001", lambda w: train_test_split(w.x, w.y, test_fraction=0.001), E.HyperParameterError, "empty"),
    ("train_test_split 20 and 5", lambda w: train_test_split(w.x, w.y[:5]), E.ShapeError, "20 samples but y has 5"),
    ("load_digits int64", lambda w: mg.data.load_digits(dtype=torch.int64), E.DTypeError, "int64"),
    # -- checkpoints
    ("load a missing file", lambda w: load_checkpoint(w.folder / "nope.ckpt", w.model), E.CheckpointIOError, "no such file or folder while reading"),
    ("load a folder", lambda w: load_checkpoint(w.folder, w.model), E.CheckpointIOError, "while reading"),
    ("load unreadable", lambda w: fail_read(w), E.CheckpointIOError, "permission denied while reading"),
    ("load half a checkpoint", lambda w: load_checkpoint(w.file("half.ckpt", w.path.read_bytes()[:3000]), w.model), E.CheckpointError, "cut short or damaged"),
    ("load random bytes", lambda w: load_checkpoint(w.file("r.ckpt", b"\x01" + bytes(range(255))), w.model), E.CheckpointError, "bytes of unknown data"),
    ("load a CSV", lambda w: load_checkpoint(w.file("a.csv", b"epoch,loss\n1,0.5\n"), w.model), E.CheckpointError, "a text file"),
    ("load an empty file", lambda w: load_checkpoint(w.file("e.ckpt", b""), w.model), E.CheckpointError, "an empty file"),
    ("load a zip", lambda w: load_checkpoint(w.file("a.zip", zip_bytes()), w.model), E.CheckpointError, "a zip archive holding notes.txt"),
    ("load an .npz", lambda w: load_checkpoint(w.file("a.npz", npz_bytes()), w.model), E.CheckpointError, "NumPy .npz archive (arrays x, y)"),
    ("load an .npy", lambda w: load_checkpoint(w.file("a.npy", npy_bytes()), w.model), E.CheckpointError, "NumPy .npy array"),
    ("load a plain pickle", lambda w: load_checkpoint(w.file("a.pkl", pickle.dumps({"epoch": 1})), w.model), E.CheckpointError, "plain Python pickle"),
    ("load a torch file with code", lambda w: code_file(w), E.CheckpointError, "could run code"),
    ("load a plain state dict", lambda w: torch_file(w, dict(w.model.state_dict())), E.CheckpointError, "not a minigrad checkpoint"),
    ("load an Adam run into SGD", lambda w: load_into_sgd_from_adam(w), E.CheckpointError, "saved by 'Adam'"),
    ("load a wider model's run", lambda w: load_checkpoint(save_checkpoint(w.folder / "wide.ckpt", nn.Sequential(fixed_linear(4, 9), nn.BatchNorm(9), nn.ReLU(), nn.Dropout(0.1), fixed_linear(9, 3))), w.model), E.CheckpointError, "shape mismatch"),
    ("load an optimiser the file lacks", lambda w: load_checkpoint(save_checkpoint(w.folder / "m.ckpt", w.other), w.other, mg.optim.SGD(w.other.parameters(), lr=0.3)), E.CheckpointError, "no optimizer state"),
    ("load with torch's DataLoader", lambda w: load_checkpoint(w.path, w.model, w.opt, w.sched, torch.utils.data.DataLoader([1, 2])), E.ArgumentTypeError, "DataLoader"),
    ("damaged version", lambda w: load_checkpoint(w.resaved("v.ckpt", lambda p: p.update(version="2")), w.model), E.CheckpointError, "field 'version' is damaged"),
    ("damaged epoch", lambda w: load_checkpoint(w.resaved("e.ckpt", lambda p: p.update(epoch="5")), w.model), E.CheckpointError, "field 'epoch' is damaged"),
    ("damaged weight", lambda w: load_checkpoint(w.resaved("w.ckpt", lambda p: p["model"].update({"0.weight": "0.5"})), w.model), E.CheckpointError, "field 'model'['0.weight'] is damaged"),
    ("damaged RNG state", lambda w: load_checkpoint(w.resaved("r.ckpt", short_rng), w.model), E.CheckpointError, "field 'rng'['torch'] is damaged"),
    ("damaged checksum", lambda w: load_checkpoint(w.resaved("c.ckpt", lambda p: p.update(checksum=7)), w.model), E.CheckpointError, "field 'checksum' is damaged"),
    ("a value the checksum does not cover", lambda w: load_checkpoint(w.resaved("x.ckpt", other_epoch), w.model, w.opt), E.CheckpointError, "do not match the checksum"),
    ("a missing entry", lambda w: load_checkpoint(w.resaved("l.ckpt", lambda p: p.pop("loader")), w.model), E.CheckpointError, "lacks the entries ['loader']"),
    ("a version 1 file", lambda w: load_checkpoint(w.resaved("1.ckpt", lambda p: p.update(version=1)), w.model), E.CheckpointError, "version 1 files carry no checksum"),
    ("a version 99 file", lambda w: load_checkpoint(w.resaved("99.ckpt", lambda p: p.update(version=99)), w.model), E.CheckpointError, "update minigrad"),
    ("save an object", lambda w: save_checkpoint(w.path, w.model, note=object()), E.CheckpointError, "builtins.object"),
    ("save a numpy float", lambda w: save_checkpoint(w.path, w.model, loss=np.float64(0.5)), E.CheckpointError, "numpy.float64"),
    ("save a dict with a tuple key", lambda w: save_checkpoint(w.path, w.model, table={(1, 2): 3}), E.CheckpointError, "key of type tuple"),
    ("save epoch -1", lambda w: save_checkpoint(w.path, w.model, epoch=-1), E.CheckpointError, "-1"),
    ("save on a full disk", lambda w: fail_write(w, errno.ENOSPC), E.CheckpointIOError, "no space left on device while writing"),
    ("save on a read-only disk", lambda w: fail_write(w, errno.EROFS), E.CheckpointIOError, "read-only"),
    ("save where writing is denied", lambda w: fail_open(w, errno.EACCES), E.CheckpointIOError, "permission denied while writing"),
]  # fmt: skip


@pytest.mark.parametrize("_, call, error, shown", BAD, ids=[row[0] for row in BAD])
def test_a_bad_input_is_a_typed_error_that_changes_nothing(tmp_path, _, call, error, shown):
    world = World(tmp_path)
    if isinstance(call, tuple):  # (what the learner did before, the refused call)
        prepare, call = call
        prepare(world)
    before = world.snapshot()
    with pytest.raises(error) as caught:
        call(world)
    assert type(caught.value) is error, f"got {type(caught.value).__name__}: {caught.value}"
    message = str(caught.value)
    assert shown in message, message
    assert "help:" in message, message
    _changes_nothing(before, world.snapshot())


def test_the_table_covers_the_api():
    kinds = collections.Counter(row[2].__name__ for row in BAD)
    print(f"\n{len(BAD)} bad inputs:", dict(kinds.most_common()))
    assert len(BAD) >= 115 and len({row[0] for row in BAD}) == len(BAD)
    assert all(issubclass(row[2], mg.MinigradError) for row in BAD)
