"""gradcheck itself: its finite differences against derivatives known in closed form.

gradcheck compares a tape's gradient with a numeric estimate; if the estimate
were wrong (a one-sided difference, a step other than ``eps``, a wrong
divisor) every op test built on it could pass or fail for the wrong reason.
So here the judge is calculus, not minigrad: for f(x) = x**3 the derivative
is 3 x**2, and the central difference of a cubic is known exactly,
(f(x + e) - f(x - e)) / 2e = 3 x**2 + e**2.

gradcheck checks the gradient of S = sum(f(x) * r) for a fixed random r (its
module docstring says how r is drawn), so dS/dx = f'(x) * r for an
element-wise f. :func:`gradcheck_weights` rebuilds r, and the first test
proves it is the r gradcheck used.
"""

from __future__ import annotations

import math

import pytest
import torch

import minigrad as mg


def gradcheck_weights(shape, seed: int = 0) -> torch.Tensor:
    """The r of sum(f(x) * r) that ``mg.gradcheck(..., seed=seed)`` uses for an output shape."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=generator, dtype=torch.float64)


class Elementwise(mg.Gate):
    """y = f(x) with a given derivative, both plain torch: no minigrad op in the way."""

    def __init__(self, f, derivative):
        self.f, self.derivative = f, derivative

    def forward(self, x):
        self.x = x
        return self.f(x)

    def backward(self, grad_output):
        return (grad_output * self.derivative(self.x),)


CLOSED_FORMS = {
    "cube": (lambda x: x**3, lambda x: 3 * x**2),
    "sin": (torch.sin, torch.cos),
    "exp": (torch.exp, torch.exp),
    "log": (torch.log, lambda x: 1 / x),
    "atan": (torch.atan, lambda x: 1 / (1 + x**2)),
}


def positive_input(shape=(3, 4), seed: int = 0) -> mg.Variable:
    generator = torch.Generator().manual_seed(seed)
    value = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5
    return mg.tensor(value, requires_grad=True, name="x")


def test_the_weights_are_rebuilt_exactly():
    x = positive_input()
    for seed in (0, 7):
        report = mg.gradcheck(lambda v: v * 1.0, x, seed=seed)  # dS/dx = r
        assert torch.equal(report.analytic[0], gradcheck_weights(x.shape, seed))


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_numeric_estimates_equal_the_exact_derivative(name):
    f, derivative = CLOSED_FORMS[name]
    x = positive_input()
    report = mg.gradcheck(lambda v: Elementwise(f, derivative)(v), x)
    exact = derivative(x.value) * gradcheck_weights(x.shape)
    assert report, str(report)
    # Central differences with eps = 1e-6 are off by about eps**2 = 1e-12 plus rounding
    # (1e-16 / 1e-6); a one-sided difference would be off by about eps = 1e-6.
    torch.testing.assert_close(report.numeric[0], exact, rtol=0, atol=1e-8)
    torch.testing.assert_close(report.analytic[0], exact, rtol=1e-12, atol=0)


@pytest.mark.parametrize("eps", [1e-2, 1e-3])
def test_the_difference_is_central_and_uses_the_step_given(eps):
    # For x**3 the central difference is exactly 3 x**2 + eps**2; a forward difference
    # would give 3 x**2 + 3 x eps + eps**2, a backward one 3 x**2 - 3 x eps + eps**2.
    f, derivative = CLOSED_FORMS["cube"]
    x = positive_input(seed=1)
    report = mg.gradcheck(lambda v: Elementwise(f, derivative)(v), x, eps=eps, atol=1.0)
    r = gradcheck_weights(x.shape)
    expected = (3 * x.value**2 + eps**2) * r
    torch.testing.assert_close(report.numeric[0], expected, rtol=0, atol=1e-10)
    # For x**2 the central difference has no error at all: exactly 2 x.
    square = mg.gradcheck(lambda v: Elementwise(torch.square, lambda t: 2 * t)(v), x, eps=eps)
    torch.testing.assert_close(square.numeric[0], 2 * x.value * r, rtol=0, atol=1e-11)


def test_a_scalar_output_and_two_inputs_against_their_closed_forms():
    # S = r * sum((A @ B) * C) for a scalar output: dS/dA = r C B^T, dS/dB = r A^T C.
    generator = torch.Generator().manual_seed(2)
    a = mg.tensor(torch.randn(3, 4, generator=generator, dtype=torch.float64), requires_grad=True)
    b = mg.tensor(torch.randn(4, 2, generator=generator, dtype=torch.float64), requires_grad=True)
    c = torch.randn(3, 2, generator=generator, dtype=torch.float64)  # a constant: not checked
    report = mg.gradcheck(lambda p, q, k: ((p @ q) * k).sum(), a, b, c, seed=5)
    r = gradcheck_weights((), seed=5)
    assert report and report.numeric[2] is None and report.analytic[2] is None
    torch.testing.assert_close(report.numeric[0], r * c @ b.value.T, rtol=0, atol=1e-8)
    torch.testing.assert_close(report.numeric[1], r * a.value.T @ c, rtol=0, atol=1e-8)


def test_the_inputs_are_left_alone():
    x = mg.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)  # float32
    before = x.value.clone()
    with pytest.warns(UserWarning, match="float32"):
        report = mg.gradcheck(lambda v: (v * v * v).sum(), x)
    assert torch.equal(x.value, before) and x.value.dtype == torch.float32 and x.grad is None
    assert report.numeric[0].dtype == torch.float64  # checked on a float64 copy


def test_the_tolerance_is_atol_plus_rtol_times_the_numeric_value():
    f, derivative = CLOSED_FORMS["exp"]
    x = positive_input(seed=3)

    def off_by(factor):
        return mg.gradcheck(lambda v: Elementwise(f, lambda t: factor * derivative(t))(v), x)

    assert off_by(1 + 1e-4)  # inside rtol = 1e-3
    report = off_by(1 + 1e-2)
    assert not report and len(report.mismatches) == x.value.numel()
    # The worst element is where |0.01 f'(x) r| is largest, with the values at that place.
    error = 1e-2 * (derivative(x.value) * gradcheck_weights(x.shape)).abs()
    worst = report.mismatches[0]
    assert worst.index == tuple(int(i) for i in torch.unravel_index(error.argmax(), x.shape))
    exact = float((derivative(x.value) * gradcheck_weights(x.shape))[worst.index])
    assert worst.numeric == pytest.approx(exact, abs=1e-8)
    assert worst.analytic == pytest.approx((1 + 1e-2) * exact, rel=1e-12)
    assert math.isclose(worst.error, abs(worst.analytic - worst.numeric))
