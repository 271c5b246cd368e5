"""Schedules are pure; a scheduler only binds one to an optimiser and writes through its setter.

The numbers of every schedule against torch are in test_schedulers.py; here:
the schedule objects on their own, what binding writes (and when), the
optimiser knowing nothing of schedulers, and the ranges torch refuses.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import minigrad as mg
from tests.test_schedulers import ALL, EPOCHS, mg_optimizer, torch_lrs

O = mg.optim
L = torch.optim.lr_scheduler


@pytest.mark.parametrize("_, make_mg, make_torch", ALL, ids=[c[0] for c in ALL])
def test_a_schedule_alone_gives_torch_s_rates(_, make_mg, make_torch):
    schedule = make_mg(mg_optimizer(1.0)).schedule  # only its settings are used
    curve = schedule.curve(EPOCHS, base_lr=0.3)
    theirs = [row[0] for row in torch_lrs(make_torch, lr=0.3)]
    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15) for a, b in zip(curve, theirs))
    # pure: any order of questions gives the same answers
    backwards = [schedule.lr(e, 0.3) for e in reversed(range(EPOCHS))][::-1]
    assert backwards == curve == schedule.curve(EPOCHS, base_lr=0.3)


def test_schedules_need_no_optimiser(monkeypatch):
    def no_optimisers(*args, **kwargs):
        raise AssertionError("a schedule built an optimiser")

    monkeypatch.setattr(O.Optimizer, "__init__", no_optimisers)
    warm = O.LinearSchedule(5, 0.1, 1.0)
    chain = O.SequentialSchedule([warm, O.CosineSchedule(20, 0.001)])
    assert chain.length == 25 and chain.milestones == [5]
    assert chain.curve(3, base_lr=1.0) == pytest.approx([0.1, 0.28, 0.46], rel=1e-12)
    assert str(chain) == (
        "SequentialSchedule(LinearSchedule(epochs=5 start_factor=0.1 end_factor=1.0) -> "
        "CosineSchedule(t_max=20 lr_min=0.001) milestones=[5])"
    )


def test_the_lr_explorer_draws_without_an_optimiser(monkeypatch):
    pytest.importorskip("ipywidgets")
    from widgets.lr_explorer import LRScheduleExplorer

    def no_optimisers(*args, **kwargs):
        raise AssertionError("the explorer built a minigrad optimiser")

    monkeypatch.setattr(O.Optimizer, "__init__", no_optimisers)
    explorer = LRScheduleExplorer(scheduler="CosineAnnealingLR", epochs=30)
    s = explorer.settings()
    expected = torch_lrs(lambda o: L.CosineAnnealingLR(o, s["t_max"], s["lr_min"]), s["lr"], 30)
    assert explorer.lrs == pytest.approx([row[0] for row in expected], rel=1e-12)
    assert explorer.max_difference < 1e-12


class Spy:
    """Records every rate written through Optimizer.set_lrs."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = O.Optimizer.set_lrs

        def spy(opt, lrs):
            self.calls.append(list(lrs))
            real(opt, lrs)

        monkeypatch.setattr(O.Optimizer, "set_lrs", spy)


def test_a_scheduler_writes_through_the_optimisers_checking_setter(monkeypatch):
    opt = mg_optimizer(0.5)
    spy = Spy(monkeypatch)
    sched = O.StepLR(opt, 1, 0.5)
    sched.step()
    sched.set_epoch(3)
    assert spy.calls == [[0.5], [0.25], [0.0625]]
    # and the setter's refusal is the scheduler's refusal: nothing moves
    with pytest.raises(mg.HyperParameterError, match="lr must be >= 0.0, got -1.0"):
        O.Scheduler(opt, O.StepSchedule(1, -1.0 + 2.0), base_lrs=[-1.0])
    assert opt.lr == 0.0625 and sched.epoch == 3


def test_a_chain_of_schedules_writes_the_rate_once(monkeypatch):
    opt = mg_optimizer(0.5)
    spy = Spy(monkeypatch)
    warm, decay = O.LinearSchedule(4, 0.1, 1.0), O.CosineSchedule(10)
    assert opt.lr == 0.5 and spy.calls == []  # building schedules touches nothing
    chain = O.ChainedScheduler(opt, warm, decay)
    assert spy.calls == [[0.05]] and opt.lr == pytest.approx(0.05)
    assert chain.milestones == [4] and chain.base_lrs == [0.5]
    with pytest.raises(mg.HyperParameterError, match="milestones"):
        O.ChainedScheduler(opt, warm, decay, milestones=[3, 4])
    assert spy.calls == [[0.05]]  # a refused chain writes nothing


def test_chained_schedulers_start_from_the_first_rate_as_torch():
    """The seed's way: parts bound one after another to one optimiser."""
    opt = mg_optimizer(0.5)
    warm = O.LinearLR(opt, 4, 0.1, 1.0)
    decay = O.CosineAnnealingLR(opt, 10, lr_min=0.01)  # 0.01 > 0.05 * 0.1: not refused
    chain = O.ChainedScheduler(warm, decay)
    assert decay.base_lrs == [0.5] and chain.base_lrs == [0.5]
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    parts = [
        L.LinearLR(torch_opt, 0.1, 1.0, total_iters=4),
        L.CosineAnnealingLR(torch_opt, 10, 0.01),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = L.SequentialLR(torch_opt, parts, milestones=[4])
        for epoch in range(20):
            assert math.isclose(opt.lr, torch_opt.param_groups[0]["lr"], rel_tol=1e-12), epoch
            torch_opt.step()
            seq.step()
            chain.step()


def test_a_rate_changed_by_hand_is_the_next_schedulers_base():
    opt = mg_optimizer(0.5)
    O.LinearLR(opt, 4, 0.1, 1.0)
    opt.lr = 0.2  # the learner's own choice, after the first scheduler
    assert O.StepLR(opt, 3).base_lrs == [0.2]


def test_the_optimiser_knows_nothing_of_schedulers():
    opt = mg_optimizer(0.5)
    O.ChainedScheduler(O.LinearLR(opt, 4, 0.1, 1.0), O.CosineAnnealingLR(opt, 10))
    keys = {k for group in opt.param_groups for k in group}
    assert keys == {"params", "lr", "momentum", "weight_decay", "nesterov"}
    saved = opt.state_dict()
    assert set(saved["param_groups"][0]) == {"params", "lr", "momentum", "weight_decay", "nesterov"}
    with pytest.raises(mg.SetupError, match="initial_lr"):
        O.SGD([{"params": [mg.tensor([1.0], requires_grad=True)], "initial_lr": 0.1}], lr=0.1)


@pytest.mark.parametrize(
    "start, end", [(0.0, 1.0), (1.5, 1.0), (0.5, 1.5), (0.5, -0.1), (-0.2, 1.0)]
)
def test_linear_factors_outside_torch_s_range_are_refused_as_torch_refuses_them(start, end):
    with pytest.raises(ValueError):  # torch is the oracle for the range
        L.LinearLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), start, end, total_iters=5)
    with pytest.raises(mg.HyperParameterError, match="torch's LinearLR takes"):
        O.LinearSchedule(5, start, end)


@pytest.mark.parametrize("start, end", [(1.0, 0.0), (1e-3, 1.0), (1.0, 1.0), (0.25, 0.75)])
def test_linear_factors_torch_accepts_are_accepted(start, end):
    L.LinearLR(torch.optim.SGD([torch.zeros(1)], lr=0.1), start, end, total_iters=5)
    assert O.LinearSchedule(5, start, end).lr(0, 1.0) == start


def test_lr_min_above_the_base_rate_and_t_max_below_one_are_refused():
    opt = mg_optimizer(0.1)
    with pytest.raises(mg.HyperParameterError, match="lr_min must be <= the base lr 0.1, got 0.5"):
        O.CosineAnnealingLR(opt, 10, lr_min=0.5)
    assert opt.lr == 0.1
    assert O.CosineAnnealingLR(opt, 10, lr_min=0.1).lr_at(5) == pytest.approx(0.1)  # equal: flat
    for t_max in (0, -3, 2.5):
        with pytest.raises(mg.HyperParameterError, match="t_max"):
            O.CosineSchedule(t_max)
