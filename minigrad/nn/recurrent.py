"""Recurrent cells: one step of a GRU or an LSTM, with torch's gate order and layout.

A recurrent network reads a sequence one step at a time and carries a state
h from step to step. A plain RNN squashes h through tanh at every step, so
the gradient that flows back through T steps is a product of T Jacobians,
which shrinks (or explodes) geometrically. The gated cells add a path on
which the state is mostly *copied*, scaled by a learned gate near 1, so
gradients survive many more steps.

Both cells hold, as torch's, ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H),
``bias_ih`` and ``bias_hh`` (G*H,), the G gates' rows one under the other,
all drawn from U(-1/sqrt(H), 1/sqrt(H)). With sigma the sigmoid and * element-wise:

GRU (gates r, z, n):
    r = sigma(W_ir x + b_ir + W_hr h + b_hr)          reset: how much of h the candidate sees
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)          update: how much of h to keep
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     the candidate state
    h' = (1 - z) * n + z * h

LSTM (gates i, f, g, o), with a cell state c beside h:
    i, f, o = sigma(...), g = tanh(...)               each W_i? x + b_i? + W_h? h + b_h?
    c' = f * c + i * g                                forget some, write some
    h' = o * tanh(c')
"""

from __future__ import annotations

import math

import torch

from minigrad import ops
from minigrad.errors import ShapeError, message
from minigrad.nn.checks import check_count, check_flag
from minigrad.nn.init import new_variable, uniform_init
from minigrad.nn.module import Module


class _Cell(Module):
    """What the two cells share: the parameters, and the two gate pre-activations."""

    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, dtype=None, device=None, generator=None):
        super().__init__()
        name = type(self).__name__
        hint = f"e.g. {name}(10, 20): 10 input features, a state of 20"
        self.input_size = check_count(name, "input_size", input_size, 1, hint)
        self.hidden_size = check_count(name, "hidden_size", hidden_size, 1, hint)
        check_flag(name, "bias", bias, "bias=False leaves out both biases")
        bound = 1.0 / math.sqrt(hidden_size)
        init = uniform_init(-bound, bound)
        common = {"generator": generator, "dtype": dtype, "device": device}
        rows = self.gates * hidden_size
        self.weight_ih = new_variable("weight_ih", (rows, input_size), init, **common)
        self.weight_hh = new_variable("weight_hh", (rows, hidden_size), init, **common)
        if bias:
            self.bias_ih = new_variable("bias_ih", (rows,), init, **common)
            self.bias_hh = new_variable("bias_hh", (rows,), init, **common)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _check(self, input, state, what: str):
        name = type(self).__name__
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(
                message(
                    name,
                    f"an input (batch, {self.input_size}) or ({self.input_size},)",
                    f"shape {tuple(input.shape)}",
                    "one step at a time: x[:, t] of a (batch, time, features) batch",
                )
            )
        want = tuple(input.shape[:-1]) + (self.hidden_size,)
        if state is not None and tuple(state.shape) != want:
            raise ShapeError(
                message(name, f"{what} of shape {want}", f"shape {tuple(state.shape)}",
                        f"{what} holds one state of {self.hidden_size} per sample")
            )  # fmt: skip

    def _zeros(self, input):
        shape = tuple(input.shape[:-1]) + (self.hidden_size,)
        value = getattr(input, "value", input)
        return torch.zeros(shape, dtype=self.weight_ih.dtype, device=value.device)

    def _projections(self, x, h):
        """(W_ih x + b_ih, W_hh h + b_hh): every gate's two halves, side by side."""
        return ops.linear(x, self.weight_ih, self.bias_ih), ops.linear(
            h, self.weight_hh, self.bias_hh
        )

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class GRUCell(_Cell):
    """One step of a gated recurrent unit, as torch.nn.GRUCell: ``h' = cell(x, h)``.

    ``h`` defaults to zeros. See the module docstring for the gates.
    """

    gates = 3

    def forward(self, input, hx=None):
        self._check(input, hx, "hx")
        h = self._zeros(input) if hx is None else hx
        from_x, from_h = self._projections(input, h)
        x_r, x_z, x_n = ops.chunk(from_x, 3, -1)
        h_r, h_z, h_n = ops.chunk(from_h, 3, -1)
        reset = ops.sigmoid(x_r + h_r)
        update = ops.sigmoid(x_z + h_z)
        candidate = ops.tanh(x_n + reset * h_n)
        return (1 - update) * candidate + update * h


class LSTMCell(_Cell):
    """One step of a long short-term memory, as torch.nn.LSTMCell: ``(h', c') = cell(x, (h, c))``.

    ``(h, c)`` defaults to zeros. See the module docstring for the gates.
    """

    gates = 4

    def forward(self, input, hx=None):
        h, c = (None, None) if hx is None else hx
        self._check(input, h, "h")
        self._check(input, c, "c")
        h = self._zeros(input) if h is None else h
        c = self._zeros(input) if c is None else c
        from_x, from_h = self._projections(input, h)
        i, f, g, o = ops.chunk(from_x + from_h, 4, -1)
        c_next = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return ops.sigmoid(o) * ops.tanh(c_next), c_next
