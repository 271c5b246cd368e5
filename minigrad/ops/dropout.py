"""Dropout: zero a random fraction of the values while training.

The values kept are scaled up by 1/(1 - p), so that the expected output
equals the input and evaluation (no dropout) needs no correction.
"""

from __future__ import annotations

import numbers

import torch

from minigrad.errors import HyperParameterError
from minigrad.gate import Gate
from minigrad.ops.arguments import refuse_inplace


def check_dropout_p(p, *, allow_all: bool = False) -> float:
    """Dropout's ``p`` as a float: the fraction of values zeroed, in [0, 1).

    The one check of p, with one message: ``nn.Dropout`` calls it when it is
    built, the op when it runs. The op, as torch's, also takes p = 1
    (``allow_all``: every value zeroed); a layer that drops everything is
    refused as a mistake.
    """
    number = isinstance(p, numbers.Real) and not isinstance(p, bool)
    if not number or not (0.0 <= p <= 1.0 if allow_all else 0.0 <= p < 1.0):
        raise HyperParameterError(
            f"dropout: expected p in [0, 1), got {p!r}\n"
            "help: p is the fraction of values set to zero while training, e.g. 0.5 (the "
            "function dropout() also takes p = 1, as torch's: every value zeroed)"
        )
    return float(p)


class Dropout(Gate):
    """y = x * m / (1 - p), m ~ Bernoulli(1 - p) per element.   dL/dx = G * m / (1 - p).

    Scaling by 1/(1-p) keeps the expected value of y equal to x, so nothing
    changes at evaluation time, when dropout is the identity. ``normalize=False``
    (nimxla's option) leaves out the scaling. p = 1 drops everything (y = 0).
    """

    piecewise_linear = True  # linear in x: the mask is drawn once, in forward

    def __init__(self, p: float = 0.5, normalize: bool = True):
        self.p, self.normalize = p, normalize

    def forward(self, x):
        if self.p == 1.0:
            self.mask = torch.zeros_like(x)
        else:
            # The scaling in place: one tensor the size of x fewer (torch does the same).
            keep = torch.empty_like(x).bernoulli_(1.0 - self.p)
            self.mask = keep.div_(1.0 - self.p) if self.normalize else keep
        return x * self.mask

    def backward(self, grad_output):
        return (grad_output * self.mask,)

    def jvp(self, t):
        return t * self.mask


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, normalize=True):
    """Zero a fraction ``p`` of values while training; the identity otherwise."""
    if inplace:
        refuse_inplace("dropout", inplace)
    p = check_dropout_p(p, allow_all=True)
    if not training or p == 0.0:
        return input
    return Dropout(p, normalize)(input)
