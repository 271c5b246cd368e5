"""Nested no_grad blocks: leaving an inner block restores the state before it, not "on".

There are two switches: ``ctx.no_grad()`` turns one tape off, ``mg.no_grad()``
every tape (``mg.enable_grad()`` turns them back on inside it). Each block
must put back exactly what it found, as ``torch.no_grad`` does, so an inner
block (or a function such as ``evaluate`` that opens its own) never switches
recording back on inside an outer one. What counts is observed, not a flag:
whether an op on a Variable that requires grad lands on the tape.
"""

from __future__ import annotations

import pytest
import torch

import minigrad as mg
from minigrad import nn, training
from minigrad.data import DataLoader


def records(ctx: mg.Context) -> bool:
    """Does an op on a Variable that requires grad get recorded on ``ctx`` right now?"""
    x = ctx.variable([1.0, 2.0], requires_grad=True)
    before = len(ctx.nodes)
    y = x * 2.0
    recorded = len(ctx.nodes) > before
    assert recorded == y.requires_grad == ctx.is_recording()
    ctx.clear()
    return recorded


@pytest.mark.parametrize(
    "outer, inner",
    [
        ("ctx", "ctx"),
        ("ctx", "global"),
        ("global", "ctx"),
        ("global", "global"),
    ],
)
def test_leaving_an_inner_block_keeps_the_outer_one_off(outer, inner):
    ctx = mg.Context()
    block = {"ctx": ctx.no_grad, "global": mg.no_grad}
    assert records(ctx)
    with block[outer]():
        assert not records(ctx)
        with block[inner]():
            assert not records(ctx)
        assert not records(ctx)  # the outer block still holds
        with pytest.raises(RuntimeError):  # and the same when the inner block fails
            with block[inner]():
                raise RuntimeError("inside")
        assert not records(ctx)
    assert records(ctx)


def test_three_levels_of_mixed_blocks_unwind_one_at_a_time():
    ctx = mg.Context()
    with mg.no_grad():
        with ctx.no_grad():
            with mg.no_grad():
                assert not records(ctx)
            assert not records(ctx)
        assert not records(ctx)
        with ctx.no_grad():
            pass
        assert not records(ctx)
    assert records(ctx)


def test_the_global_switch_leaves_other_tapes_alone_and_a_tape_switch_others_too():
    a, b = mg.Context(), mg.Context()
    with a.no_grad():
        assert not records(a) and records(b)
        with mg.no_grad():
            assert not records(a) and not records(b)
        assert not records(a) and records(b)
    assert records(a) and records(b)


def test_enable_grad_inside_no_grad_restores_no_grad():
    ctx = mg.Context()
    with mg.no_grad():
        with mg.enable_grad():
            assert records(ctx)
            with mg.no_grad():
                assert not records(ctx)
            assert records(ctx)
        assert not records(ctx)
    assert records(ctx)
    with mg.enable_grad():  # on inside on stays on after it
        assert records(ctx)
    assert records(ctx)


def test_evaluate_inside_no_grad_leaves_it_off():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(30, 4, generator=generator)
    y = torch.randint(0, 3, (30,), generator=generator)
    loader = DataLoader((x, y), 8)
    ctx = mg.Context()
    with ctx:  # the model's parameters live on ctx
        model = nn.Sequential(nn.Linear(4, 3))
    for block in (mg.no_grad, ctx.no_grad):
        with block():
            training.evaluate(model, loader, mg.cross_entropy)
            assert not records(ctx)
            training.accuracy(model, loader)
            training.confusion_matrix(model, loader, num_classes=3)
            assert not records(ctx)
            out = model(ctx.variable(x)).sum()
            assert not out.requires_grad and len(ctx.nodes) == 0
        assert records(ctx)
    training.evaluate(model, loader)  # outside any block: on before, on after
    assert records(ctx)
