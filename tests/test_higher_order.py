"""create_graph, mg.grad and the transforms on real uses, against torch.

mg.grad behaves as torch.autograd.grad; ``backward(create_graph=True)``
leaves Variables in ``.grad``; a gradient of a gradient trains a Newton step
on the Rosenbrock function and a gradient penalty (WGAN-GP) exactly as torch
does; jvp, hvp and hessian agree with torch.func on a small MLP; a learner's
gate whose backward cannot be recorded gets a RecordingError that says why.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

import minigrad as mg
from tests.conftest import assert_close

F64 = torch.float64


def _randn(*shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


# -- mg.grad, as torch.autograd.grad ------------------------------------------------------


def test_grad_returns_tensors_and_leaves_dot_grad_alone():
    ctx = mg.Context()
    x = ctx.variable(_randn(3), requires_grad=True)
    y = (x.exp() * x).sum()
    (g,) = mg.grad(y, x)
    assert isinstance(g, torch.Tensor) and x.grad is None
    assert_close(g, x.value.exp() * (x.value + 1), F64, "d/dx x e^x")
    assert len(ctx.nodes) == 0, "without retain_graph the tape is emptied, as by backward"


def test_grad_with_create_graph_gives_variables_that_differentiate_again():
    ctx = mg.Context()
    x = ctx.variable(_randn(4, seed=1), requires_grad=True)
    (g,) = mg.grad((x**4).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x, create_graph=True)
    (third,) = mg.grad(h.sum(), x)
    assert isinstance(g, mg.Variable) and g.requires_grad
    assert_close(g.value, 4 * x.value**3, F64, "first")
    assert_close(h.value, 12 * x.value**2, F64, "second")
    assert_close(third, 24 * x.value, F64, "third")


def test_grad_of_an_intermediate_and_of_several_outputs_as_torch():
    values = _randn(2, 3, seed=2)

    def run(ns, leaf):
        hidden = ns.tanh(leaf)
        return hidden, (hidden * hidden).sum(), (leaf * 2.0).sum()

    ctx = mg.Context()
    x = ctx.variable(values, requires_grad=True)
    hidden, a, b = run(mg, x)
    ours = mg.grad([a, b], [hidden, x], [torch.tensor(2.0, dtype=F64), None])
    t = values.clone().requires_grad_(True)
    t_hidden, t_a, t_b = run(torch, t)
    theirs = torch.autograd.grad([t_a, t_b], [t_hidden, t], [torch.tensor(2.0, dtype=F64), None])
    for i, (o, e) in enumerate(zip(ours, theirs)):
        assert_close(o, e, F64, f"input {i}")


def test_grad_refuses_an_unused_input_unless_allowed():
    ctx = mg.Context()
    x = ctx.variable(_randn(3), requires_grad=True)
    unused = ctx.variable(_randn(2), requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(mg.TapeError, match="(?s)input 1 was not used.*allow_unused=True"):
        mg.grad(y, [x, unused], retain_graph=True)
    g, none = mg.grad(y, [x, unused], retain_graph=True, allow_unused=True)
    assert none is None and g is not None
    _, zeros = mg.grad(y, [x, unused], materialize_grads=True)
    assert torch.equal(zeros, torch.zeros(2, dtype=F64))


def test_grad_refuses_an_input_that_needs_no_gradient():
    x = mg.tensor(_randn(3), requires_grad=True)
    data = mg.tensor(_randn(3))
    with pytest.raises(mg.TapeError, match="input 1 does not require grad"):
        mg.grad((x * data).sum(), [x, data])


@pytest.mark.parametrize("shape", [(), (3,)], ids=["0-d", "vector"])
def test_grad_of_a_plain_tensor_says_it_has_no_history(shape):
    x = mg.tensor(_randn(3), requires_grad=True)
    (g,) = mg.grad((x * x).sum(), x)  # without create_graph: a plain tensor
    plain = g.sum() if shape == () else g
    with pytest.raises(mg.ArgumentTypeError, match="plain torch tensor") as raised:
        mg.grad(plain, x, grad_outputs=None if shape == () else torch.ones(3, dtype=F64))
    assert "create_graph=True" in str(raised.value) and "help:" in str(raised.value)


def test_create_graph_keeps_the_tape_and_refuses_retain_graph_false():
    ctx = mg.Context()
    x = ctx.variable(_randn(3), requires_grad=True)
    y = (x.sin() if hasattr(x, "sin") else x.exp()).sum()
    with pytest.raises(mg.ArgumentError, match="retain_graph=True"):
        mg.grad(y, x, create_graph=True, retain_graph=False)
    before = len(ctx.nodes)
    mg.grad(y, x, create_graph=True)
    assert len(ctx.nodes) > before, "the backward was recorded after the forward"
    assert all(n.backward_of is None for n in ctx.nodes[:before])
    assert all(n.backward_of is not None for n in ctx.nodes[before:])


def test_backward_with_create_graph_leaves_variables_in_dot_grad():
    values = _randn(3, seed=3)
    x = mg.tensor(values, requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, mg.Variable)
    first = x.grad
    x.grad = None
    (first * first).sum().backward()  # d/dx sum((3x^2)^2) = 36 x^3
    assert isinstance(x.grad, torch.Tensor)
    assert_close(x.grad, 36 * values**3, F64, "d/dx |grad|^2")


def test_an_optimiser_steps_on_a_gradient_recorded_with_create_graph():
    w = mg.tensor(_randn(3, seed=4), requires_grad=True)
    reference = w.value.clone()
    (w * w).sum().backward(create_graph=True)
    mg.optim.SGD([w], lr=0.1).step()
    assert_close(w.value, reference - 0.1 * 2 * reference, F64, "one SGD step")


def test_a_failed_recorded_backward_takes_its_nodes_back_and_writes_nothing():
    class Refuses(mg.Gate):
        def forward(self, x):
            self.x = x
            return x * 1.0

        def backward(self, grad_output):
            return (torch.sigmoid(grad_output),)  # a torch function: cannot run on a Variable

    ctx = mg.Context()
    x = ctx.variable(_randn(3), requires_grad=True)
    y = (Refuses()(x).exp() * 2.0).sum()  # exp's and mul's backward are recorded first
    length = len(ctx.nodes)
    with pytest.raises(mg.RecordingError):
        y.backward(create_graph=True)
    assert len(ctx.nodes) == length, "the nodes the failed walk recorded are gone"
    assert x.grad is None
    y.backward()  # the tape is whole: a plain backward still works
    assert x.grad is not None


# -- a learner's gate --------------------------------------------------------------------


class SigmoidWithTorch(mg.Gate):
    """y = sigmoid(x), its backward written with torch.sigmoid: first order only."""

    def forward(self, x):
        self.x = x
        return torch.sigmoid(x)

    def backward(self, grad_output):
        s = torch.sigmoid(self.x)
        return (grad_output * s * (1 - s),)


class SigmoidSavingIt(mg.Gate):
    """y = 2 sigmoid(x), keeping sigmoid(x), which is neither its input nor its output."""

    def forward(self, x):
        self.s = torch.sigmoid(x)
        return 2 * self.s

    def backward(self, grad_output):
        return (grad_output * 2 * self.s * (1 - self.s),)


class SigmoidRecordable(mg.Gate):
    """y = 2 sigmoid(x), written with methods on the saved input: recordable."""

    def forward(self, x):
        self.x = x
        return 2 * torch.sigmoid(x)

    def backward(self, grad_output):
        s = self.x.sigmoid()
        return (grad_output * 2 * s * (1 - s),)


def _second_derivative(gate_class, values):
    x = mg.tensor(values, requires_grad=True)
    (g,) = mg.grad(gate_class()(x).sum(), x, create_graph=True)
    return mg.grad(g.sum(), x)[0]


def test_a_learners_gate_that_calls_torch_on_a_variable_gets_a_recording_error():
    values = _randn(4, seed=5)
    x = mg.tensor(values, requires_grad=True)
    SigmoidWithTorch()(x).sum().backward()  # first order: fine
    with pytest.raises(mg.RecordingError) as caught:
        _second_derivative(SigmoidWithTorch, values)
    text = str(caught.value)
    assert "SigmoidWithTorch's backward cannot be recorded" in text
    assert "help:" in text and "x.sigmoid()" in text and "piecewise_linear" in text


def test_a_learners_gate_that_saved_a_computed_tensor_gets_a_recording_error_naming_it():
    with pytest.raises(mg.RecordingError) as caught:
        _second_derivative(SigmoidSavingIt, _randn(4, seed=6))
    text = str(caught.value)
    assert "self.s" in text and "constants = ('s',)" in text and "self.x = x" in text
    assert isinstance(caught.value, mg.GateError)


def test_a_learners_gate_written_with_methods_records_its_backward():
    values = _randn(5, seed=7)
    t = values.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((2 * torch.sigmoid(t)).sum(), t, create_graph=True)
    (expected,) = torch.autograd.grad(g.sum(), t)
    assert_close(_second_derivative(SigmoidRecordable, values), expected, F64, "d2/dx2")
    report = mg.gradgradcheck(lambda v: SigmoidRecordable()(v), mg.tensor(values, True))
    assert report, str(report)


def test_forward_mode_covers_a_learners_gate_without_a_jvp_by_double_vjp():
    values, tangent = _randn(5, seed=8), _randn(5, seed=9)
    out, moved = mg.jvp(lambda v: SigmoidRecordable()(v), (values,), (tangent,))
    expected = torch.func.jvp(lambda v: 2 * torch.sigmoid(v), (values,), (tangent,))[1]
    assert_close(moved, expected, F64, "J t of a gate without a rule")
    # torch.sigmoid on a saved tensor is fine here: only grad_output is a Variable
    _, moved = mg.jvp(lambda v: SigmoidWithTorch()(v), (values,), (tangent,))
    assert_close(moved, expected / 2, F64, "J t through torch functions of the saved x")
    with pytest.raises(mg.RecordingError, match="(?s)has no jvp rule.*double-VJP"):
        mg.jvp(lambda v: ScalesWithTorch()(v), (values,), (tangent,))


class ScalesWithTorch(mg.Gate):
    """y = 3 x, with torch.mul on grad_output: forward mode cannot get its tangent."""

    def forward(self, x):
        return 3 * x

    def backward(self, grad_output):
        return (torch.mul(grad_output, 3.0),)


# -- the transforms on a small MLP --------------------------------------------------------

X, Y = _randn(6, 4, seed=10), torch.tensor([0, 2, 1, 1, 0, 2])
PARAMS = (_randn(8, 4, seed=11), _randn(8, seed=12), _randn(3, 8, seed=13), _randn(3, seed=14))


def mlp_loss(ns, w1, b1, w2, b2):
    hidden = ns.tanh(ns.linear(X, w1, b1))  # tanh: a Hessian that is not zero in w1
    return ns.cross_entropy(ns.linear(hidden, w2, b2), Y)


def test_hvp_on_an_mlp_matches_torch_func():
    vs = tuple(_randn(*p.shape, seed=20 + i) for i, p in enumerate(PARAMS))
    value, ours = mg.hvp(lambda *p: mlp_loss(mg, *p), PARAMS, vs)
    loss = lambda *p: mlp_loss(F, *p)  # noqa: E731
    theirs = torch.func.jvp(lambda *p: torch.func.grad(loss, argnums=(0, 1, 2, 3))(*p), PARAMS, vs)
    assert_close(value, loss(*PARAMS), F64, "loss")
    for i, (o, e) in enumerate(zip(ours, theirs[1])):
        assert_close(o, e, F64, f"H v for parameter {i}")


def test_hessian_of_an_mlp_matches_torch_func():
    small = (PARAMS[2], PARAMS[3])  # the last layer: a 27 x 27 Hessian
    first = (PARAMS[0], PARAMS[1])
    ours = mg.hessian(lambda w2, b2: mlp_loss(mg, *first, w2, b2), small)
    theirs = torch.func.hessian(lambda w2, b2: mlp_loss(F, *first, w2, b2), argnums=(0, 1))(*small)
    for i in range(2):
        for j in range(2):
            assert_close(ours[i][j], theirs[i][j], F64, f"H[{i}][{j}]")


def test_jvp_of_an_mlp_matches_torch_func():
    vs = tuple(_randn(*p.shape, seed=30 + i) for i, p in enumerate(PARAMS))
    out, ours = mg.jvp(lambda *p: mlp_loss(mg, *p), PARAMS, vs)
    expected_out, theirs = torch.func.jvp(lambda *p: mlp_loss(F, *p), PARAMS, vs)
    assert_close(out, expected_out, F64, "loss")
    assert_close(ours, theirs, F64, "directional derivative")


def test_the_transforms_leave_the_tape_as_they_found_it():
    with mg.Context() as ctx:
        scale = mg.tensor(_randn(3, seed=40), requires_grad=True)  # a closure on the same tape
        pending = (scale * scale).sum()  # the learner's own forward pass, not walked yet
        length = len(ctx.nodes)
        x, v = _randn(3, seed=41), _randn(3, seed=42)
        mg.jvp(lambda a: (a * scale).exp(), (x,), (v,))
        mg.hvp(lambda a: ((a * scale).exp()).sum(), (x,), (v,))
        mg.hessian(lambda a: ((a * scale).exp()).sum(), x)
        assert len(ctx.nodes) == length
        pending.backward()
        assert_close(scale.grad, 2 * scale.value, F64, "the learner's own backward")


# -- trained with second derivatives ------------------------------------------------------


def rosenbrock(ns, p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def test_newton_on_rosenbrock_matches_torch_and_converges():
    ours = theirs = torch.tensor([-1.2, 1.0], dtype=F64)
    for _ in range(8):
        p = mg.tensor(ours, requires_grad=True)
        (g,) = mg.grad(rosenbrock(mg, p), p)
        h = mg.hessian(lambda q: rosenbrock(mg, q), ours)
        ours = ours - torch.linalg.solve(h, g)
        t = theirs.clone().requires_grad_(True)
        (tg,) = torch.autograd.grad(rosenbrock(torch, t), t)
        th = torch.func.hessian(lambda q: rosenbrock(torch, q))(theirs)
        theirs = theirs - torch.linalg.solve(th, tg)
        assert_close(ours, theirs, F64, "the Newton iterates")
    assert_close(ours, torch.tensor([1.0, 1.0], dtype=F64), F64, "the minimum (1, 1)")


CRITIC = (_randn(8, 2, seed=50) * 0.5, _randn(8, seed=51) * 0.1, _randn(1, 8, seed=52) * 0.5)
REAL, FAKE = _randn(16, 2, seed=53) + 2.0, _randn(16, 2, seed=54)
MIX = torch.rand(16, 1, generator=torch.Generator().manual_seed(55), dtype=F64)


def critic(ns, x, w1, b1, w2):
    return ns.linear(ns.tanh(ns.linear(x, w1, b1)), w2)


def wgan_gp_loss(ns, w1, b1, w2, penalty_weight=10.0, make_leaf=None, grad=None):  # noqa: PLR0913
    """WGAN-GP's critic loss: D(fake) - D(real) + lambda (|dD/dx at x_hat| - 1)^2."""
    x_hat = make_leaf(MIX * REAL + (1 - MIX) * FAKE)
    scores = critic(ns, x_hat, w1, b1, w2)
    (dx,) = grad(scores.sum(), x_hat)
    penalty = (((dx * dx).sum(1) + 1e-12) ** 0.5 - 1) ** 2
    wasserstein = critic(ns, FAKE, w1, b1, w2).mean() - critic(ns, REAL, w1, b1, w2).mean()
    return wasserstein + penalty_weight * penalty.mean(), penalty.mean()


def test_a_gradient_penalty_trains_as_torchs():
    ours = [mg.tensor(p.clone(), requires_grad=True) for p in CRITIC]
    theirs = [p.clone().requires_grad_(True) for p in CRITIC]
    opt = mg.optim.SGD(ours, lr=0.05)
    torch_opt = torch.optim.SGD(theirs, lr=0.05)
    penalties = []
    for _ in range(25):
        loss, penalty = wgan_gp_loss(
            mg, *ours, make_leaf=lambda v: mg.tensor(v, requires_grad=True),
            grad=lambda y, x: mg.grad(y, x, create_graph=True),
        )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
        penalties.append(penalty.item())
        t_loss, _ = wgan_gp_loss(
            F, *theirs, make_leaf=lambda v: v.clone().requires_grad_(True),
            grad=lambda y, x: torch.autograd.grad(y, x, create_graph=True),
        )  # fmt: skip
        torch_opt.zero_grad()
        t_loss.backward()
        torch_opt.step()
        assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        assert_close(o.value, t.detach(), F64, f"critic parameter {i} after 25 steps")
    assert penalties[-1] < 0.5 * penalties[0], "the penalty pulls the gradient norm towards 1"


def test_a_checkpointed_segment_under_create_graph_is_refused_and_changes_nothing():
    ctx = mg.Context()
    x = ctx.variable(_randn(3), requires_grad=True)
    w = ctx.variable(_randn(3, seed=1), requires_grad=True)
    y = mg.recompute(lambda a, b: (a * b).tanh(), x, w).sum()
    nodes = len(ctx.nodes)
    with pytest.raises(mg.RecordingError, match="recompute") as raised:
        mg.grad(y, x, create_graph=True)
    assert "without mg.recompute" in str(raised.value) and "help:" in str(raised.value)
    assert len(ctx.nodes) == nodes and x.grad is None
    (g,) = mg.grad(y, x)  # the first-order walk still works, on the same tape
    tx, tw = _randn(3).requires_grad_(), _randn(3, seed=1)
    (expected,) = torch.autograd.grad((tx * tw).tanh().sum(), tx)
    assert_close(g, expected, F64, "recompute's first-order gradient")
