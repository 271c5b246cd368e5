"""minigrad's LR schedulers against torch.optim.lr_scheduler, epoch by epoch.

The LR "used during epoch e" is the optimiser's lr while epoch e trains, with
``scheduler.step()`` called after each epoch, on both sides.
"""

import io
import math
import warnings

import pytest
import torch

import minigrad as mg

EPOCHS = 50
L = torch.optim.lr_scheduler


def mg_optimizer(lr=0.1, groups=None):
    if groups:
        return mg.optim.SGD(
            [{"params": [mg.tensor([0.0], requires_grad=True)], "lr": g} for g in groups], lr=lr
        )
    return mg.optim.SGD([mg.tensor([0.0], requires_grad=True)], lr=lr)


def torch_optimizer(lr=0.1, groups=None):
    if groups:
        return torch.optim.SGD(
            [{"params": [torch.zeros(1, requires_grad=True)], "lr": g} for g in groups], lr=lr
        )
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def torch_lrs(make, lr=0.1, epochs=EPOCHS, groups=None):
    """torch's lr in every param group during each epoch."""
    opt = torch_optimizer(lr, groups)
    sched = make(opt)
    used = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "step() before optimizer.step()": no training here
        for _ in range(epochs):
            used.append([g["lr"] for g in opt.param_groups])
            opt.step()
            sched.step()
    return used


def mg_lrs(make, lr=0.1, epochs=EPOCHS, groups=None):
    opt = mg_optimizer(lr, groups)
    sched = make(opt)
    used = []
    for epoch in range(epochs):
        assert sched.epoch == epoch
        used.append([g["lr"] for g in opt.param_groups])
        sched.step()
    assert sched.history == [row[0] for row in used]
    return used, sched


def assert_same_lrs(ours, theirs):
    assert len(ours) == len(theirs)
    for epoch, (a, b) in enumerate(zip(ours, theirs)):
        for group, (x, y) in enumerate(zip(a, b)):
            # torch multiplies the previous lr by a ratio each epoch; the
            # closed form here differs from it by rounding only.
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15), (
                f"epoch {epoch} group {group}: minigrad {x!r}, torch {y!r}"
            )


# (id, minigrad constructor, torch constructor)
SINGLE = [
    ("step-10-0.1", lambda o: mg.optim.StepLR(o, 10, 0.1), lambda o: L.StepLR(o, 10, 0.1)),
    ("step-3-0.5", lambda o: mg.optim.StepLR(o, 3, gamma=0.5), lambda o: L.StepLR(o, 3, 0.5)),
    ("step-7-0.9", lambda o: mg.optim.StepLR(o, 7, 0.9), lambda o: L.StepLR(o, 7, 0.9)),
    ("step-1-0.95", lambda o: mg.optim.StepLR(o, 1, 0.95), lambda o: L.StepLR(o, 1, 0.95)),
    ("step-60", lambda o: mg.optim.StepLR(o, 60), lambda o: L.StepLR(o, 60)),
    (
        "linear-warmup",
        lambda o: mg.optim.LinearLR(o, 5, 0.1, 1.0),
        lambda o: L.LinearLR(o, 0.1, 1.0, total_iters=5),
    ),
    (
        "linear-decay",
        lambda o: mg.optim.LinearLR(o, epochs=10, start_factor=1.0, end_factor=0.0),
        lambda o: L.LinearLR(o, 1.0, 0.0, total_iters=10),
    ),
    (
        "linear-20",
        lambda o: mg.optim.LinearLR(o, 20, 0.5, 0.25),
        lambda o: L.LinearLR(o, 0.5, 0.25, total_iters=20),
    ),
    (
        "linear-third",
        lambda o: mg.optim.LinearLR(o, 3, 1 / 3, 1.0),
        lambda o: L.LinearLR(o, 1 / 3, 1.0, total_iters=3),
    ),
    (
        "linear-longer-than-run",
        lambda o: mg.optim.LinearLR(o, 60, 0.2, 1.0),
        lambda o: L.LinearLR(o, 0.2, 1.0, total_iters=60),
    ),
    (
        "linear-1",
        lambda o: mg.optim.LinearLR(o, 1, 0.5, 1.0),
        lambda o: L.LinearLR(o, 0.5, 1.0, total_iters=1),
    ),
    *[
        (
            f"cosine-{t}-{m}",
            lambda o, t=t, m=m: mg.optim.CosineAnnealingLR(o, t, m),
            lambda o, t=t, m=m: L.CosineAnnealingLR(o, T_max=t, eta_min=m),
        )
        # t_max < 50: the run goes past t_max and the cosine comes back up.
        for t, m in [(7, 0.0), (10, 0.001), (13, 0.05), (1, 0.0), (49, 0.0), (50, 0.01)]
        + [(100, 0.0), (10, 0.09)]
    ],
]

CHAINED = [
    (
        "warmup-cosine-default-milestone",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.LinearLR(o, 5, 0.1, 1.0), mg.optim.CosineAnnealingLR(o, 45)
        ),
        lambda o: L.SequentialLR(
            o, [L.LinearLR(o, 0.1, 1.0, total_iters=5), L.CosineAnnealingLR(o, 45)], [5]
        ),
    ),
    (
        "linear-cosine-step",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.LinearLR(o, 5, 0.1, 1.0),
            mg.optim.CosineAnnealingLR(o, 20, 0.001),
            mg.optim.StepLR(o, 5, 0.5),
        ),
        lambda o: L.SequentialLR(
            o,
            [
                L.LinearLR(o, 0.1, 1.0, total_iters=5),
                L.CosineAnnealingLR(o, 20, 0.001),
                L.StepLR(o, 5, 0.5),
            ],
            [5, 25],
        ),
    ),
    (
        "step-first-explicit-milestone",
        lambda o: mg.optim.ChainedScheduler(
            [mg.optim.StepLR(o, 4, 0.5), mg.optim.CosineAnnealingLR(o, 10)], milestones=[15]
        ),
        lambda o: L.SequentialLR(o, [L.StepLR(o, 4, 0.5), L.CosineAnnealingLR(o, 10)], [15]),
    ),
    (
        "cosine-cosine-linear",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.CosineAnnealingLR(o, 10),
            mg.optim.CosineAnnealingLR(o, 10, 0.01),
            mg.optim.LinearLR(o, 10, 1.0, 0.1),
        ),
        lambda o: L.SequentialLR(
            o,
            [
                L.CosineAnnealingLR(o, 10),
                L.CosineAnnealingLR(o, 10, 0.01),
                L.LinearLR(o, 1.0, 0.1, total_iters=10),
            ],
            [10, 20],
        ),
    ),
    (
        "milestones-shorter-than-natural",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.LinearLR(o, 10, 0.2, 1.0),
            mg.optim.CosineAnnealingLR(o, 8),
            milestones=[4],
        ),
        lambda o: L.SequentialLR(
            o, [L.LinearLR(o, 0.2, 1.0, total_iters=10), L.CosineAnnealingLR(o, 8)], [4]
        ),
    ),
    (
        "single",
        lambda o: mg.optim.ChainedScheduler(mg.optim.CosineAnnealingLR(o, 30)),
        lambda o: L.SequentialLR(o, [L.CosineAnnealingLR(o, 30)], []),
    ),
]
ALL = SINGLE + CHAINED


def pick(*names):
    """A few cases of ALL by id, for the slower tests."""
    chosen = [case for case in ALL if case[0] in names]
    assert len(chosen) == len(names)
    return pytest.mark.parametrize("_, make_mg, make_torch", chosen, ids=names)


@pytest.mark.parametrize("lr", [0.1, 1.0])
@pytest.mark.parametrize("_, make_mg, make_torch", ALL, ids=[c[0] for c in ALL])
def test_lr_each_epoch_matches_torch(_, make_mg, make_torch, lr):
    ours, _sched = mg_lrs(make_mg, lr)
    assert_same_lrs(ours, torch_lrs(make_torch, lr))


@pick("step-3-0.5", "linear-decay", "cosine-13-0.05", "linear-cosine-step")
def test_every_param_group_matches_torch(_, make_mg, make_torch):
    groups = [0.1, 0.06, 0.5]
    ours, _sched = mg_lrs(make_mg, groups=groups)
    assert_same_lrs(ours, torch_lrs(make_torch, groups=groups))


@pytest.mark.parametrize("_, make_mg, make_torch", ALL, ids=[c[0] for c in ALL])
def test_lr_at_equals_the_stepped_value_without_side_effects(_, make_mg, make_torch):
    ours, sched = mg_lrs(make_mg)
    opt = sched.optimizer
    before = (opt.lr, sched.epoch, list(sched.history), opt.state_dict())
    curve = [sched.lr_at(e) for e in range(EPOCHS)]
    assert curve == [row[0] for row in ours]
    assert sched.lr_curve(EPOCHS) == curve
    assert (opt.lr, sched.epoch, list(sched.history), opt.state_dict()) == before

    # On a fresh scheduler too: asking about the future changes nothing.
    fresh_opt = mg_optimizer()
    fresh = make_mg(fresh_opt)
    lr0 = fresh_opt.lr
    assert [fresh.lr_at(e) for e in range(EPOCHS)] == curve
    assert fresh_opt.lr == lr0 and fresh.epoch == 0 and fresh.history == []


@pytest.mark.parametrize("start", [0, 1, 17, 49])
@pick("step-10-0.1", "linear-decay", "cosine-13-0.05", "linear-cosine-step")
def test_init_restores_the_schedule_at_any_epoch(_, make_mg, make_torch, start):
    theirs = torch_lrs(make_torch)
    opt = mg_optimizer()
    sched = make_mg(opt)
    sched.step()
    sched.step()  # somewhere else first: init must not depend on it
    sched.init(start)
    assert sched.epoch == start
    assert_same_lrs([[lr] for lr in sched.history], theirs[:start])
    used = []
    for _ in range(start, EPOCHS):
        used.append([opt.lr])
        sched.step()
    assert_same_lrs(used, theirs[start:])


@pick("step-7-0.9", "linear-20", "cosine-10-0.001", "step-first-explicit-milestone")
def test_state_dict_round_trip_continues_the_schedule(_, make_mg, make_torch):
    theirs = torch_lrs(make_torch)
    opt = mg_optimizer()
    sched = make_mg(opt)
    for _ in range(12):
        sched.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    # A restarted process: new optimiser (at its original lr), new scheduler, then load.
    new_opt = mg_optimizer()
    new_sched = make_mg(new_opt)
    new_opt.load_state_dict(saved["optimizer"])
    new_sched.load_state_dict(saved["scheduler"])
    assert new_sched.epoch == 12
    assert new_sched.history == sched.history
    used = []
    for _ in range(12, EPOCHS):
        used.append([new_opt.lr])
        new_sched.step()
    assert_same_lrs(used, theirs[12:])


def test_schedulers_built_on_one_optimiser_share_its_first_lr():
    opt = mg_optimizer(lr=0.5)
    warmup = mg.optim.LinearLR(opt, 4, 0.1, 1.0)
    assert opt.lr == pytest.approx(0.05)
    cosine = mg.optim.CosineAnnealingLR(opt, 10)
    # The second scheduler starts from 0.5, not from the 0.05 the first one set.
    assert cosine.base_lrs == [0.5] and warmup.base_lrs == [0.5]
    torch_opt = torch_optimizer(lr=0.5)
    L.LinearLR(torch_opt, 0.1, 1.0, total_iters=4)
    assert L.CosineAnnealingLR(torch_opt, 10).base_lrs == [0.5]


def test_str_like_the_seed():
    opt = mg_optimizer()
    step = mg.optim.StepLR(opt, 10)
    linear = mg.optim.LinearLR(opt, 5, 0.1, 1.0)
    cosine = mg.optim.CosineAnnealingLR(opt, 45, lr_min=1e-5)
    assert str(step) == "StepLR(step_size=10 gamma=0.1)"
    assert str(linear) == "LinearLR(epochs=5 start_factor=0.1 end_factor=1.0)"
    assert str(cosine) == "CosineAnnealingLR(t_max=45 lr_min=1e-05)"
    chained = mg.optim.ChainedScheduler(linear, cosine, step, milestones=[5, 50])
    assert str(chained) == (
        "ChainedScheduler(LinearLR(epochs=5 start_factor=0.1 end_factor=1.0) -> "
        "CosineAnnealingLR(t_max=45 lr_min=1e-05) -> StepLR(step_size=10 gamma=0.1) "
        "milestones=[5, 50])"
    )


def test_chained_length_and_default_milestones():
    opt = mg_optimizer()
    chained = mg.optim.ChainedScheduler(
        mg.optim.LinearLR(opt, 5, 0.1, 1.0), mg.optim.CosineAnnealingLR(opt, 20)
    )
    assert chained.milestones == [5]
    assert chained.length == 25
    assert mg.optim.ChainedScheduler(mg.optim.StepLR(opt, 3)).length is None


BAD = [
    ("StepLR step_size=0", lambda o: mg.optim.StepLR(o, 0), "0"),
    ("StepLR step_size=-3", lambda o: mg.optim.StepLR(o, -3), "-3"),
    ("StepLR step_size=2.5", lambda o: mg.optim.StepLR(o, 2.5), "2.5"),
    ("StepLR gamma=0", lambda o: mg.optim.StepLR(o, 10, 0.0), "0.0"),
    ("StepLR gamma=-0.5", lambda o: mg.optim.StepLR(o, 10, -0.5), "-0.5"),
    ("LinearLR epochs=0", lambda o: mg.optim.LinearLR(o, 0, 0.1, 1.0), "0"),
    ("LinearLR start=-0.1", lambda o: mg.optim.LinearLR(o, 5, -0.1, 1.0), "-0.1"),
    ("LinearLR end=-2", lambda o: mg.optim.LinearLR(o, 5, 0.1, -2.0), "-2.0"),
    ("LinearLR end=inf", lambda o: mg.optim.LinearLR(o, 5, 0.1, math.inf), "inf"),
    ("Cosine t_max=0", lambda o: mg.optim.CosineAnnealingLR(o, 0), "0"),
    ("Cosine lr_min=-1e-3", lambda o: mg.optim.CosineAnnealingLR(o, 10, -1e-3), "-0.001"),
    ("Chained none", lambda o: mg.optim.ChainedScheduler(), "none"),
    (
        "Chained step first",
        lambda o: mg.optim.ChainedScheduler(mg.optim.StepLR(o, 3), mg.optim.StepLR(o, 5)),
        "StepLR(step_size=3 gamma=0.1)",
    ),
    (
        "Chained wrong count",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.StepLR(o, 3), mg.optim.StepLR(o, 5), milestones=[5, 10]
        ),
        "[5, 10]",
    ),
    (
        "Chained not increasing",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.StepLR(o, 3), mg.optim.StepLR(o, 5), mg.optim.StepLR(o, 7), milestones=[9, 9]
        ),
        "[9, 9]",
    ),
    (
        "Chained milestone 0",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.StepLR(o, 3), mg.optim.StepLR(o, 5), milestones=[0]
        ),
        "0",
    ),
    (
        "Chained two optimisers",
        lambda o: mg.optim.ChainedScheduler(
            mg.optim.LinearLR(o, 5, 0.1, 1.0), mg.optim.StepLR(mg_optimizer(), 5)
        ),
        "different optimiser",
    ),
    ("lr_at(-1)", lambda o: mg.optim.StepLR(o, 3).lr_at(-1), "-1"),
    ("init(-2)", lambda o: mg.optim.StepLR(o, 3).init(-2), "-2"),
    ("lr_at(1.5)", lambda o: mg.optim.CosineAnnealingLR(o, 3).lr_at(1.5), "1.5"),
]


@pytest.mark.parametrize("_, make, shown", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_raise_with_the_value(_, make, shown):
    opt = mg_optimizer()
    with pytest.raises(ValueError) as info:
        make(opt)
    assert shown in str(info.value) and "help:" in str(info.value)


def test_wrong_kinds_are_type_errors():
    with pytest.raises(TypeError, match="minigrad Optimizer"):
        mg.optim.StepLR(torch_optimizer(), 10)
    with pytest.raises(TypeError, match="not a scheduler"):
        mg.optim.ChainedScheduler(mg.optim.StepLR(mg_optimizer(), 2), "cosine", milestones=[3])


def test_load_state_dict_rejects_a_foreign_state():
    sched = mg.optim.StepLR(mg_optimizer(), 3)
    with pytest.raises(mg.CheckpointError, match="help:"):
        sched.load_state_dict({"last_epoch": 3})
    with pytest.raises(mg.CheckpointError, match="param groups"):
        sched.load_state_dict({"kind": "StepLR", "epoch": 3, "base_lrs": [0.1, 0.2], "history": []})
