"""The exercise checks: they accept right answers and reject wrong ones with a useful FAIL.

Right answers are written here with plain torch formulas; every "received" value a FAIL
message quotes is compared with torch.autograd (the oracle), never with minigrad itself.
"""

from __future__ import annotations

import math
import re

import torch

import minigrad as mg
from minigrad import exercises


def torch_softplus_grad(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    torch.nn.functional.softplus(x).backward(g)
    return x.grad


# -- matmul_grad --------------------------------------------------------------------


def test_matmul_grad_accepts_the_right_formulas(capsys):
    result = exercises.check_matmul_grad(lambda a, b, g: (g @ b.T, a.T @ g))
    assert result and "PASS matmul_grad" in capsys.readouterr().out


def test_matmul_grad_names_the_wrong_element_and_values(capsys):
    def off_by_two(a, b, g):
        grad_b = a.T @ g
        return 2 * (g @ b.T), grad_b

    result = exercises.check_matmul_grad(off_by_two)
    out = capsys.readouterr().out
    assert not result
    assert "FAIL matmul_grad: grad_a" in out and "index (0, 0)" in out and "hint:" in out
    # The expected value quoted is torch.autograd's gradient at that element.
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(2, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    g = torch.randn(2, 4, generator=generator, dtype=torch.float64)
    (a @ b).backward(g)
    expected = float(re.search(r"expected (\S+),", out).group(1))
    received = float(re.search(r"received (\S+)", out).group(1))
    assert math.isclose(expected, a.grad[0, 0].item(), rel_tol=1e-5)
    assert math.isclose(received, 2 * a.grad[0, 0].item(), rel_tol=1e-5)


def test_matmul_grad_reports_a_wrong_shape_and_an_unfinished_gap(capsys):
    assert not exercises.check_matmul_grad(lambda a, b, g: (g @ b.T, (a.T @ g).T))
    assert "should have shape (3, 4), received shape (4, 3)" in capsys.readouterr().out

    def unfinished(a, b, g):
        raise NotImplementedError

    assert not exercises.check_matmul_grad(unfinished)
    assert "the gap is still empty" in capsys.readouterr().out
    assert not exercises.check_matmul_grad(lambda a, b, g: None)
    assert "expected a pair" in capsys.readouterr().out


# -- softplus_gate ------------------------------------------------------------------


class SoftplusForward(mg.Gate):
    def forward(self, x):
        self.x = x
        return torch.nn.functional.softplus(x)


def test_softplus_gate_accepts_a_correct_gate(capsys):
    class Right(SoftplusForward):
        def backward(self, grad_output):
            return (grad_output * torch.sigmoid(self.x),)

    assert exercises.check_softplus_gate(Right)
    assert "PASS softplus_gate" in capsys.readouterr().out


def test_softplus_gate_quotes_torchs_gradient_for_a_wrong_backward(capsys):
    class Wrong(SoftplusForward):
        def backward(self, grad_output):
            return (grad_output * torch.exp(self.x),)

    assert not exercises.check_softplus_gate(Wrong)
    out = capsys.readouterr().out
    assert "FAIL softplus_gate: x.grad for x of shape (5,) is wrong at index (0,)" in out
    assert "sigmoid" in out
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(5, generator=generator, dtype=torch.float64) * 3
    g = torch.randn(5, generator=generator, dtype=torch.float64)
    expected = float(re.search(r"expected (\S+),", out).group(1))
    assert math.isclose(expected, torch_softplus_grad(x, g)[0].item(), rel_tol=1e-5)


def test_softplus_gate_fails_without_crashing_on_common_slips(capsys):
    class Gap(SoftplusForward):
        def backward(self, grad_output):
            raise NotImplementedError

    class NoTuple(SoftplusForward):
        def backward(self, grad_output):
            return grad_output * torch.sigmoid(self.x)

    assert not exercises.check_softplus_gate(Gap)
    assert "the gap is still empty" in capsys.readouterr().out
    assert not exercises.check_softplus_gate(NoTuple)
    assert "GradientError" in capsys.readouterr().out
    assert not exercises.check_softplus_gate(lambda x: x)
    assert "expected a subclass of mg.Gate" in capsys.readouterr().out


# -- central_difference ---------------------------------------------------------------


def test_central_difference_accepts_the_central_formula(capsys):
    assert exercises.check_central_difference(lambda f, x, e: (f(x + e) - f(x - e)) / (2 * e))
    assert "PASS central_difference" in capsys.readouterr().out


def test_central_difference_recognises_the_one_sided_formula(capsys):
    assert not exercises.check_central_difference(lambda f, x, e: (f(x + e) - f(x)) / e)
    out = capsys.readouterr().out
    assert "FAIL central_difference" in out and "one-sided" in out
    # The expected slope quoted is torch.autograd's derivative of sin at 0.7.
    x = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    torch.sin(x).backward()
    assert f"expected {x.grad.item():.8f}" in out


def test_central_difference_rejects_non_numbers(capsys):
    assert not exercises.check_central_difference(lambda f, x, e: None)
    assert "expected a float" in capsys.readouterr().out


# -- wrong_node ----------------------------------------------------------------------


def test_the_mystery_model_has_exactly_one_wrong_gate_by_torch():
    """Swish's backward disagrees with torch.autograd; every other gate agrees."""
    values = exercises.mystery_inputs(0)
    leaves = [mg.tensor(v, requires_grad=True) for v in values]
    exercises.mystery_forward(*leaves).sum().backward()
    ours = [v.grad for v in leaves]
    ref = [v.clone().requires_grad_(True) for v in values]
    x, w1, b1, w2 = ref
    h = torch.nn.functional.linear(x, w1, b1)
    a = h / (1 + h.abs())
    z = a @ w2.T
    s = z * torch.sigmoid(z)
    (s * s).mean(1).sum().backward()
    assert not all(torch.allclose(o, r.grad) for o, r in zip(ours, ref))
    ctx, _ = exercises.mystery_model(0)
    failing = [node.op for node in ctx if not exercises.gradcheck_node(node)]
    assert failing == ["Swish"]


def test_wrong_node_accepts_the_right_index_and_rejects_others(capsys):
    def right(ctx):
        return next(n.index for n in ctx if not exercises.gradcheck_node(n))

    assert exercises.check_wrong_node(right)
    assert "PASS wrong_node" in capsys.readouterr().out
    assert not exercises.check_wrong_node(lambda ctx: 1)
    out = capsys.readouterr().out
    assert "node 1 (Softsign) passes its own gradcheck: expected 4 (Swish), received 1" in out
    assert not exercises.check_wrong_node(lambda ctx: None)
    assert "hint:" in capsys.readouterr().out


def test_gradcheck_node_leaves_the_tape_alone():
    ctx, loss = exercises.mystery_model(0)
    before = len(ctx)
    assert exercises.gradcheck_node(ctx[0])
    assert len(ctx) == before
    loss.backward()  # the tape is still whole: backprop still runs
    assert len(ctx) == 0
