"""Initialisers against torch.nn.init: fans, exact values from the same generator, statistics."""

from __future__ import annotations

import math

import pytest
import torch

import minigrad as mg
from minigrad import nn

SHAPES = [(128, 64), (10, 3), (16, 3, 5, 5), (32, 4, 3, 1), (7, 2, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert nn.fans(shape) == expected


def test_fans_of_a_vector_is_an_error():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.fans((5,))


def test_conv_layer_fans_match_torch_conv_weight():
    conv = torch.nn.Conv2d(6, 9, (3, 2), groups=3)
    layer = nn.Conv2d(6, 9, (3, 2), groups=3)
    assert tuple(layer.weight.shape) == tuple(conv.weight.shape)
    expected = torch.nn.init._calculate_fan_in_and_fan_out(conv.weight)
    assert nn.fans(layer.weight.shape) == expected


@pytest.mark.parametrize("shape", [(64, 32), (8, 4, 3, 3)])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_he_init_equals_kaiming_normal_relu(shape, mode):
    ours = nn.he_init(fan_out=(mode == "fan_out"))(shape, torch.float64, nn.init_random(7))
    theirs = torch.empty(shape, dtype=torch.float64)
    torch.nn.init.kaiming_normal_(
        theirs, mode=mode, nonlinearity="relu", generator=nn.init_random(7)
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_glorot_init_equals_xavier_uniform(gain):
    shape = (16, 3, 5, 5)
    ours = nn.glorot_init(gain)(shape, torch.float64, nn.init_random(11))
    theirs = torch.empty(shape, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(theirs, gain=gain, generator=nn.init_random(11))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("gain, fan_out, mean", [(2.0, False, 0.0), (1.0, True, 0.5)])
def test_he_init_statistics(gain, fan_out, mean):
    shape = (400, 250, 3, 3)  # fan_in 2250, fan_out 3600, 900k samples
    w = nn.he_init(mean=mean, gain=gain, fan_out=fan_out)(shape, torch.float64, nn.init_random(1))
    fan = (400 if fan_out else 250) * 9
    std = math.sqrt(gain / fan)
    assert abs(w.mean().item() - mean) < 5 * std / math.sqrt(w.numel())
    assert w.std().item() == pytest.approx(std, rel=0.01)


def test_glorot_init_statistics_and_bounds():
    shape = (300, 500)
    w = nn.glorot_init(gain=1.5)(shape, torch.float32, nn.init_random(2))
    bound = 1.5 * math.sqrt(6 / 800)
    assert w.abs().max().item() <= bound
    assert w.abs().max().item() > 0.99 * bound
    assert w.var().item() == pytest.approx(bound**2 / 3, rel=0.01)
    assert abs(w.mean().item()) < 0.01 * bound


def test_uniform_normal_constant_statistics():
    g = nn.init_random(3)
    u = nn.uniform_init(-2.0, 4.0)((200_000,), torch.float64, g)
    assert u.min().item() >= -2.0 and u.max().item() < 4.0
    assert u.mean().item() == pytest.approx(1.0, abs=0.02)
    assert u.var().item() == pytest.approx(36 / 12, rel=0.02)
    n = nn.normal_init(mean=3.0, stddev=0.5)((200_000,), torch.float64, g)
    assert n.mean().item() == pytest.approx(3.0, abs=0.005)
    assert n.std().item() == pytest.approx(0.5, rel=0.01)
    c = nn.constant_init(0.25)((3, 4), torch.float64, g)
    assert c.dtype == torch.float64 and torch.equal(c, torch.full((3, 4), 0.25, dtype=c.dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_initialisers_honour_shape_and_dtype(dtype):
    for init in (nn.he_init(), nn.glorot_init(), nn.uniform_init(), nn.normal_init()):
        out = init((5, 4, 3), dtype, None)
        assert out.shape == (5, 4, 3) and out.dtype == dtype


def test_bad_settings_are_errors():
    with pytest.raises(mg.HyperParameterError, match="min must be < max"):
        nn.uniform_init(1.0, 1.0)
    with pytest.raises(mg.HyperParameterError, match="variance factor"):
        nn.he_init(gain=0.0)
    with pytest.raises(mg.HyperParameterError, match="stddev"):
        nn.normal_init(stddev=-1.0)


def test_init_random_is_repeatable_and_seed_zero_prints_the_seed(capsys):
    a = nn.normal_init()((50,), torch.float32, nn.init_random(5))
    b = nn.normal_init()((50,), torch.float32, nn.init_random(5))
    c = nn.normal_init()((50,), torch.float32, nn.init_random(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = nn.init_random(0)
    printed = capsys.readouterr().out
    assert str(g.initial_seed()) in printed and g.initial_seed() != 0


def test_layers_use_the_given_generator_or_torchs_default():
    a = nn.Linear(8, 4, generator=nn.init_random(9))
    b = nn.Linear(8, 4, generator=nn.init_random(9))
    assert torch.equal(a.weight.value, b.weight.value)
    torch.manual_seed(123)
    c = nn.Conv2d(3, 4, 3)
    torch.manual_seed(123)
    d = nn.Conv2d(3, 4, 3)
    assert torch.equal(c.weight.value, d.weight.value)
    # Defaults as the seed: He normal weights (gain 2 on fan_in), zero biases.
    torch.manual_seed(123)
    expected = torch.empty(4, 3, 3, 3)
    torch.nn.init.kaiming_normal_(expected, nonlinearity="relu")
    assert torch.equal(c.weight.value, expected)
    assert torch.equal(c.bias.value, torch.zeros(4))


def test_new_variable_is_a_named_leaf_with_calc_grad():
    v = nn.new_variable("w", (3, 2), nn.constant_init(1.0), requires_grad=False)
    assert isinstance(v, mg.Variable) and v.name == "w" and v.is_leaf and not v.requires_grad
    assert torch.equal(v.value, torch.ones(3, 2))

    def wrong(shape, dtype, generator):
        return torch.zeros(2)

    with pytest.raises(ValueError, match="initialiser returned"):
        nn.new_variable("w", (3, 2), wrong)
