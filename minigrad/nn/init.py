"""Initialisers: how a layer's weights get their first values.

An initialiser is a function ``init(shape, dtype, generator) -> torch.Tensor``
(nimxla's ``InitFunc``). The factories below make one from its settings, so a
layer takes them as arguments::

    layer = nn.Linear(784, 128, weights=nn.glorot_init(), biases=nn.constant_init(0.0))

Why the scale matters: a layer sums ``fan_in`` products, so with unit-variance
weights the variance of its output grows ``fan_in`` times per layer and a deep
network explodes (or, with weights too small, vanishes). Scaling the weights by
``1/sqrt(fan)`` keeps the variance of the signal about constant.

Fans follow torch (``torch.nn.init._calculate_fan_in_and_fan_out``): for a
weight of shape ``(out, in, *kernel)`` (linear ``(out, in)``, conv
``(out, in/groups, kh, kw)``), with ``r`` the number of kernel elements,

    fan_in = in * r,   fan_out = out * r.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch

from minigrad.errors import HyperParameterError, ShapeError
from minigrad.nn.checks import (
    check_at_least,
    check_count,
    check_flag,
    check_positive,
    check_real,
)
from minigrad.variable import Variable

InitFunc = Callable[[Sequence[int], torch.dtype, torch.Generator], torch.Tensor]
"""An initialiser: ``(shape, dtype, generator) -> torch.Tensor``."""


def init_random(seed: int = 0) -> torch.Generator:
    """A new random generator (CPU) for initialisers; ``seed=0`` picks one from the clock.

    The chosen seed is printed, so a run that went well can be repeated.
    Layers use torch's default generator when none is given, so
    ``torch.manual_seed(n)`` makes a whole model reproducible too.

    >>> g = init_random(42)
    >>> g.initial_seed()
    42
    """
    seed = check_count(
        "init_random", "seed", seed, 0, "any whole number; 0 picks one from the clock"
    )
    if seed == 0:
        seed = time.time_ns() % (2**63 - 1) or 1
        print(f"init_random: seed = {seed}")
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """``generator``, or torch's global CPU generator when it is None."""
    return generator if generator is not None else torch.default_generator


def fans(shape: Sequence[int]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, as torch computes them.

    >>> fans((128, 64))          # linear: (out, in)
    (64, 128)
    >>> fans((16, 3, 5, 5))      # conv: (out, in/groups, kh, kw)
    (75, 400)
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ShapeError(
            f"fans: a weight needs at least 2 dimensions (out, in, ...), got shape {shape}\n"
            "help: fan-based initialisers (he_init, glorot_init) are for weights; "
            "use constant_init, uniform_init or normal_init for a bias"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _empty(shape, dtype) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=dtype if dtype is not None else torch.float32)


def constant_init(value: float) -> InitFunc:
    """Every element equal to ``value`` (the usual choice for biases: 0)."""
    value = check_real("constant_init", "value", value, "e.g. constant_init(0.0) for biases")

    def init(shape, dtype=torch.float32, generator=None):
        return _empty(shape, dtype).fill_(value)

    return init


def uniform_init(min: float = 0.0, max: float = 1.0) -> InitFunc:
    """Values drawn uniformly from ``[min, max)``."""
    low = check_real("uniform_init", "min", min, "the lower end, e.g. -0.1")
    high = check_real("uniform_init", "max", max, "the upper end, e.g. 0.1")
    if not low < high:
        raise HyperParameterError(
            f"uniform_init: min must be < max, got min={min!r}, max={max!r}\n"
            "help: the values are drawn from [min, max), e.g. uniform_init(-0.1, 0.1)"
        )

    def init(shape, dtype=torch.float32, generator=None):
        return _empty(shape, dtype).uniform_(min, max, generator=default_generator(generator))

    return init


def normal_init(mean: float = 0.0, stddev: float = 1.0) -> InitFunc:
    """Values drawn from a normal distribution N(mean, stddev**2)."""
    mean = check_real("normal_init", "mean", mean, "the centre of the values, e.g. 0.0")
    stddev = check_at_least("normal_init", "stddev", stddev, 0.0, "the spread, e.g. 0.02")

    def init(shape, dtype=torch.float32, generator=None):
        out = _empty(shape, dtype)
        return out.normal_(mean, stddev, generator=default_generator(generator))

    return init


def glorot_init(gain: float = 1.0) -> InitFunc:
    """Glorot (Xavier) uniform: values in ``[-a, a]``, a = gain * sqrt(6 / (fan_in + fan_out)).

    A uniform distribution on [-a, a] has variance a**2 / 3 = gain**2 * 2 / (fan_in + fan_out):
    the compromise between keeping the forward signal (1/fan_in) and the
    backward gradient (1/fan_out) at constant variance. Same as
    ``torch.nn.init.xavier_uniform_``.
    """
    gain = check_positive("glorot_init", "gain", gain, "gain scales the bound; 1.0 is usual")

    def init(shape, dtype=torch.float32, generator=None):
        fan_in, fan_out = fans(shape)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return _empty(shape, dtype).uniform_(-bound, bound, generator=default_generator(generator))

    return init


def he_init(mean: float = 0.0, gain: float = 2.0, fan_out: bool = False) -> InitFunc:
    """He (Kaiming) normal: N(mean, std**2) with std = sqrt(gain / fan).

    ``gain`` multiplies the *variance* (nimxla's convention): 2 suits ReLU,
    which zeroes half of its inputs and so halves the variance. ``fan`` is
    fan_in, or fan_out when ``fan_out`` is set. With the defaults this equals
    ``torch.nn.init.kaiming_normal_(w, nonlinearity="relu")``, whose gain is
    sqrt(2) because torch's gain scales the standard deviation.
    """
    hint = "gain is a variance factor: 2 suits ReLU, 1 suits tanh"
    mean = check_real("he_init", "mean", mean, "the centre of the values, usually 0.0")
    gain = check_positive("he_init", "gain", gain, hint)
    fan_out = check_flag("he_init", "fan_out", fan_out, "False uses fan_in, as torch's default")

    def init(shape, dtype=torch.float32, generator=None):
        fan_in, fan_outputs = fans(shape)
        std = math.sqrt(gain / (fan_outputs if fan_out else fan_in))
        return _empty(shape, dtype).normal_(mean, std, generator=default_generator(generator))

    return init


def new_variable(
    name: str,
    shape: Sequence[int],
    init: InitFunc,
    generator: torch.Generator | None = None,
    requires_grad: bool = True,
    dtype: torch.dtype | None = None,
    device=None,
) -> Variable:
    """A new leaf Variable of ``shape`` filled by ``init`` (nimxla's ``newVariable``).

    ``requires_grad`` is nimxla's ``calcGrad``. The values are drawn on the CPU
    (so a seed gives the same numbers everywhere) and then moved to ``device``.
    """
    dtype = dtype if dtype is not None else torch.float32
    value = init(tuple(shape), dtype, default_generator(generator))
    if tuple(value.shape) != tuple(shape) or value.dtype != dtype:
        raise ShapeError(
            f"new_variable {name!r}: the initialiser returned {tuple(value.shape)} {value.dtype}, "
            f"expected {tuple(shape)} {dtype}\n"
            "help: an initialiser must honour the shape and dtype it is given"
        )
    if device is not None:
        value = value.to(device)
    return Variable(value, requires_grad, name=name)
