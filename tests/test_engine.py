"""The tape's behaviour: recording, backprop, no_grad, hooks, and every error a learner can hit."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import minigrad as mg


def leaf(values, ctx=None, **kwargs):
    ctx = ctx if ctx is not None else mg.Context()
    return ctx.variable(torch.tensor(values, dtype=torch.float64), requires_grad=True, **kwargs)


# -- external truth -------------------------------------------------------------


def test_micrograd_readme_example():
    """The example from micrograd's README, with its published values."""
    ctx = mg.Context()
    a = ctx.variable(-4.0, requires_grad=True, dtype=torch.float64)
    b = ctx.variable(2.0, requires_grad=True, dtype=torch.float64)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    assert g.item() == pytest.approx(24.7041, abs=1e-4)
    assert a.grad.item() == pytest.approx(138.8338, abs=1e-4)
    assert b.grad.item() == pytest.approx(645.5773, abs=1e-4)


# -- the tape ---------------------------------------------------------------------


def test_ops_are_recorded_and_the_tape_prints_as_a_table():
    ctx = mg.Context()
    x = ctx.variable(torch.ones(2, 3), requires_grad=True, name="x")
    w = ctx.variable(torch.ones(3, 4), requires_grad=True, name="w")
    y = (x @ w).relu().sum()
    assert [node.op for node in ctx.nodes] == ["MatMul", "ReLU", "Sum"]
    assert ctx.nodes[1].parents[0] == (ctx.nodes[0], 0)
    (leaf_x, slot_x), (leaf_w, slot_w) = ctx.nodes[0].parents  # leaves: edges to their Leaf
    assert leaf_x.is_leaf and leaf_x.variable is x and leaf_w.variable is w
    assert slot_x == slot_w == 0
    assert y.node is ctx.nodes[2]
    table = str(ctx)
    assert "3 nodes" in table
    assert "MatMul  x, w" in table
    assert "(2, 4)" in table
    assert "out (2, 4)" in table  # ReLU saves its output
    records = ctx.records()
    assert records[1]["inputs"][0] == {"kind": "node", "label": "#0", "index": 0, "slot": 0}
    assert records[0]["formula"].startswith("Y = A @ B")


def test_nothing_is_recorded_when_no_input_requires_grad():
    ctx = mg.Context()
    x = ctx.variable([1.0, 2.0])
    y = (x * 2).exp()
    assert ctx.nodes == []
    assert not y.requires_grad


def test_tape_is_empty_after_backprop_and_nodes_are_released():
    ctx = mg.Context()
    x = leaf([1.0, 2.0], ctx)
    y = (x * x).sum()
    nodes = list(ctx.nodes)
    y.backward()
    assert ctx.nodes == []
    assert all(node.released and node.gate is None for node in nodes)


def test_retain_graph_allows_a_second_backward_that_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    assert len(y.context.nodes) == 2
    y.backward()
    assert x.grad.tolist() == [4.0, 8.0]  # 2x, twice


def test_reused_values_accumulate_gradients():
    x = leaf([3.0])
    y = x * x + x  # x is used three times
    y.backward()
    assert x.grad.tolist() == [7.0]  # 2x + 1
    z = leaf([2.0])
    w = z + z
    v = w * w  # w used twice: dv/dz = 2w * 2
    v.backward()
    assert z.grad.tolist() == [16.0]


def test_intermediate_variables_that_are_alive_get_their_gradient():
    x = leaf([1.0, -2.0])
    h = x * 3
    y = (h * h).sum()
    y.backward()
    assert h.grad.tolist() == [6.0, -12.0]
    assert y.grad.item() == 1.0


def test_ten_thousand_chained_ops_backprop_without_recursion():
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    expected = 1.0001**10_000
    assert x.grad.item() == pytest.approx(expected, rel=1e-9)
    assert len(x.context.nodes) == 0


def test_the_tape_does_not_keep_forward_values_alive():
    ctx = mg.Context()
    x = leaf([1.0] * 4, ctx)
    h = x + 1.0  # Add saves nothing
    import weakref

    ref = weakref.ref(h)
    y = (h + 2.0).sum()
    del h
    assert ref() is None  # only the tape describes h now
    assert ctx.nodes[0].payload.variable is None
    y.backward()
    assert x.grad.tolist() == [1.0] * 4


def test_keep_outputs_context_keeps_every_output():
    ctx = mg.Context(keep_outputs=True)
    x = leaf([1.0], ctx)
    (x + 1.0).sum()
    assert ctx.nodes[0].payload.variable is not None
    assert ctx.nodes[0].payload.variable.tolist() == [2.0]


def test_several_outputs_make_a_sequence_payload():
    ctx = mg.Context()
    x = leaf([1.0, 2.0, 3.0, 4.0], ctx)
    a, b = mg.split(x, 2)
    payload = ctx.nodes[0].payload
    assert payload.kind == "sequence"
    assert [v.tolist() for v in payload.sequence] == [[1.0, 2.0], [3.0, 4.0]]
    (a * 2).sum().backward()  # b unused: its slice gets zeros
    assert x.grad.tolist() == [2.0, 2.0, 0.0, 0.0]


def test_no_grad_records_nothing_and_survives_an_exception():
    ctx = mg.Context()
    x = leaf([1.0], ctx)
    with ctx.no_grad():
        y = x * 2
    assert ctx.nodes == [] and not y.requires_grad
    with pytest.raises(ZeroDivisionError):
        with ctx.no_grad():
            raise ZeroDivisionError
    assert ctx.is_recording()
    with pytest.raises(KeyError):
        with mg.no_grad():
            assert not x.is_grad_needed()
            raise KeyError("boom")
    assert x.is_grad_needed()
    (x * 2).sum()
    assert len(ctx.nodes) == 2


def test_with_context_makes_it_current():
    ctx = mg.Context()
    with ctx:
        v = mg.tensor([1.0])
        assert mg.default_context() is ctx
    assert v.context is ctx
    assert mg.default_context() is not ctx


def test_hooks_see_and_may_replace_gradients():
    x = leaf([1.0, 2.0])
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.clone()))
    x.register_hook(lambda g: g * 10)
    h.sum().backward()
    assert seen[0].tolist() == [1.0, 1.0]
    assert x.grad.tolist() == [20.0, 20.0]


def test_a_learner_defined_gate_works_like_a_builtin():
    class Cube(mg.Gate):
        """y = x**3,  dy/dx = 3 x**2"""

        def forward(self, x):
            self.x = x
            return x**3

        def backward(self, grad_output):
            return (grad_output * 3 * self.x**2,)

    x = leaf([1.0, 2.0])
    y = Cube()(x).sum()
    assert "Cube" in str(x.context)
    y.backward()
    assert x.grad.tolist() == [3.0, 12.0]
    assert mg.gradcheck_gate(Cube, (3, 2))


def test_variable_basics():
    v = mg.tensor([[1.0, 2.0]], requires_grad=True, name="v")
    assert v.shape == (1, 2) and v.dtype == torch.float32 and v.device.type == "cpu"
    assert v.numpy().tolist() == [[1.0, 2.0]]
    assert mg.tensor(3.0).item() == 3.0
    assert v.is_grad_needed()
    d = v.detach()
    assert not d.requires_grad and d.value is v.value
    assert "requires_grad=True" in repr(v) and "'v'" in repr(v)
    import numpy as np

    assert mg.tensor(np.zeros(3)).dtype == torch.float64


# -- errors -----------------------------------------------------------------------


def test_shapes_that_do_not_broadcast_name_both_shapes():
    a, b = leaf([[1.0, 2.0, 3.0]]), leaf([1.0, 2.0])
    b = b.context is a.context and b or a.context.variable(b.value, requires_grad=True)
    with pytest.raises(mg.ShapeError, match=r"Add: shapes \(1, 3\) and \(2,\) do not broadcast"):
        a + b


def test_matmul_shapes_that_do_not_line_up():
    ctx = mg.Context()
    a = ctx.variable(torch.ones(3, 4))
    b = ctx.variable(torch.ones(5, 2))
    with pytest.raises(mg.ShapeError, match=r"the 4 in the first must equal the 5 in the second"):
        a @ b


def test_mixed_dtypes_are_refused():
    ctx = mg.Context()
    a = ctx.variable(torch.ones(2, dtype=torch.float32))
    b = ctx.variable(torch.ones(2, dtype=torch.float64))
    with pytest.raises(mg.DTypeError, match=r"torch.float32 and torch.float64.*\nhelp:"):
        a * b


def test_mixed_devices_are_refused():
    ctx = mg.Context()
    a = ctx.variable(torch.ones(2))
    b = ctx.variable(torch.ones(2, device="meta"))
    with pytest.raises(mg.DeviceError, match=r"different devices: cpu and meta"):
        a + b


def test_variables_from_two_contexts_are_refused():
    a = leaf([1.0], mg.Context())
    b = leaf([1.0], mg.Context())
    with pytest.raises(mg.ContextError, match=r"two different contexts.*\nhelp:"):
        a + b


def test_backward_through_an_emptied_tape():
    x = leaf([1.0])
    y = (x * 2).sum()
    y.backward()
    with pytest.raises(mg.TapeError, match=r"(?s)tape .* has been emptied.*retain_graph=True"):
        y.backward()


def test_backward_on_a_non_scalar_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(mg.TapeError, match=r"shape \(2,\), not a single number"):
        (x * 2).backward()
    with pytest.raises(mg.TapeError, match=r"grad has shape \(3,\)"):
        (x * 2).backward(torch.ones(3))


def test_backward_on_something_that_needs_no_grad():
    with pytest.raises(mg.TapeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


class TooFew(mg.Gate):
    def forward(self, a, b):
        return a + b

    def backward(self, grad_output):
        return (grad_output,)


class WrongShape(mg.Gate):
    def forward(self, a):
        return a.sum()

    def backward(self, grad_output):
        return (grad_output,)  # forgot to expand to a's shape


class BareTensor(mg.Gate):
    def forward(self, a):
        return a * 2

    def backward(self, grad_output):
        return grad_output * 2  # not a tuple


def test_a_gate_returning_the_wrong_number_of_gradients():
    x = leaf([1.0])
    y = TooFew()(x, x)
    with pytest.raises(mg.GradientError, match=r"TooFew.backward \(node 0\) returned 1 gradient"):
        y.backward()


def test_a_gate_returning_a_gradient_of_the_wrong_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(mg.GradientError, match=r"shape \(\) for input 0, whose shape is \(2,\)"):
        WrongShape()(x).backward()


def test_a_gate_returning_a_bare_tensor():
    x = leaf([1.0])
    with pytest.raises(mg.GradientError, match=r"(?s)a bare Tensor.*return a tuple"):
        BareTensor()(x).sum().backward()


class LearnersSum(mg.ops.reductions.Sum):
    """A learner's subclass of one of minigrad's ops, with a backward of their own."""

    def backward(self, grad_output):
        return (grad_output,)  # forgot to expand to the input's shape


def test_only_minigrads_own_ops_are_trusted_with_their_gradients_shapes():
    """The walk skips the shape check for minigrad's ops (tested against torch), and only
    for them: a learner's gate, or a learner's subclass of an op, is still checked."""
    assert mg.ops.reductions.Sum.gradients_tested and mg.ops.linalg.Linear.gradients_tested
    assert not WrongShape.gradients_tested and not LearnersSum.gradients_tested
    assert not mg.Gate.gradients_tested
    x = leaf([1.0, 2.0])
    with pytest.raises(mg.GradientError, match=r"shape \(\) for input 0, whose shape is \(2,\)"):
        LearnersSum(None, False)(x).backward()


def test_cross_entropy_refuses_bad_targets():
    logits = leaf([[1.0, 2.0, 3.0]])
    with pytest.raises(TypeError, match="integer class indices"):
        mg.cross_entropy(logits, torch.tensor([1.0]))
    with pytest.raises(mg.ShapeError, match=r"class index in \[0, 3\), got values from 5 to 5"):
        mg.cross_entropy(logits, torch.tensor([5]))


def test_reshape_error_says_how_many_elements():
    with pytest.raises(mg.ShapeError, match=r"cannot view 6 elements of shape \(2, 3\)"):
        leaf([[1.0] * 3] * 2).reshape(4, 2)


# -- gradcheck and anomaly detection ----------------------------------------------


class WrongSigmoid(mg.Gate):
    """A sigmoid with a backward that forgot the (1 - y) factor."""

    def forward(self, x):
        self.out = torch.sigmoid(x)
        return self.out

    def backward(self, grad_output):
        return (grad_output * self.out,)


def test_gradcheck_fails_for_a_wrong_gate_and_says_where():
    report = mg.gradcheck_gate(WrongSigmoid, (2, 3))
    assert not report
    text = str(report)
    assert text.startswith("gradcheck failed for input 0 (x0) at index (")
    assert "analytic" in text and "numeric" in text and "help:" in text
    worst = report.mismatches[0]
    assert worst.error > 1e-3
    assert mg.gradcheck_gate(mg.Sigmoid, (2, 3))


def test_gradcheck_warns_about_float32():
    x = mg.tensor([0.5, 1.5], requires_grad=True)
    with pytest.warns(UserWarning, match="float32"):
        report = mg.gradcheck(lambda v: (v * v).sum(), x)
    assert report


def test_detect_anomaly_names_the_gate_in_forward():
    ctx = mg.Context()
    x = ctx.variable(torch.tensor([1.0, -1.0]), requires_grad=True)
    y = x * 2
    with mg.detect_anomaly():
        with pytest.raises(
            mg.AnomalyError,
            match=r"forward: Log \(node 1 on the tape\) "
            r"produced 1 NaN",
        ):
            mg.log(y)
    mg.log(y)  # off again outside the block: no error


def test_detect_anomaly_names_the_gate_in_backward():
    ctx = mg.Context()
    x = ctx.variable(torch.tensor([0.0, 4.0]), requires_grad=True)
    with mg.detect_anomaly():
        y = mg.sqrt(x).sum()
        with pytest.raises(
            mg.AnomalyError,
            match=r"backward: Sqrt \(node 0 on the tape\) "
            r"produced 0 NaN and 1 Inf",
        ):
            y.backward()


# -- the core stays free of the UI ------------------------------------------------


def test_importing_minigrad_imports_no_ui_library():
    code = (
        "import sys, minigrad\n"
        "ui = [m for m in ('ipywidgets', 'matplotlib', 'graphviz', 'IPython', 'widgets') "
        "if m in sys.modules]\n"
        "print(ui)\n"
        "sys.exit(1 if ui else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_float64_numbers_keep_their_precision():
    value = 6.8813735870195432
    assert mg.tensor(value, dtype=torch.float64).item() == value
    assert mg.tensor([value], dtype=torch.float64).tolist() == [value]


def test_gradcheck_accepts_non_contiguous_inputs():
    base = torch.randn(3, 4, dtype=torch.float64)
    x = mg.tensor(base.t(), requires_grad=True)  # a transposed view
    assert not x.value.is_contiguous()
    assert mg.gradcheck(lambda v: (v * v).sum(), x)


def test_an_unfinished_forward_keeps_its_own_error():
    class Unfinished(mg.Gate):
        def forward(self, x):
            raise NotImplementedError("write Unfinished.forward")

    with pytest.raises(NotImplementedError, match="write Unfinished.forward"):
        Unfinished()(leaf([1.0]))


def test_a_keep_outputs_tape_names_the_inputs_that_need_no_gradient():
    ctx = mg.Context(keep_outputs=True)
    x = ctx.variable(torch.ones(2, 3), name="x")
    w = ctx.variable(torch.ones(3), requires_grad=True, name="w")
    (x * w * 2.0).sum()
    first, second = ctx.records()[0]["inputs"], ctx.records()[1]["inputs"]
    assert first[0] == {"kind": "input", "label": "x", "id": id(x), "name": "x", "shape": (2, 3)}
    assert second[1] == {"kind": "constant", "label": "2"}
    assert "Mul  x, w" in str(ctx)
    plain = mg.Context()  # an ordinary tape keeps nothing it does not need
    xp = plain.variable(torch.ones(2), name="x")
    (xp * plain.variable(torch.ones(2), requires_grad=True)).sum()
    assert plain.nodes[0].inputs is None
    assert plain.records()[0]["inputs"][0] == {"kind": "constant", "label": "-"}


# -- one form for every edge ----------------------------------------------------


def test_every_parent_is_an_edge_to_a_node_or_a_leaf_or_none():
    ctx = mg.Context()
    x = ctx.variable(torch.ones(2, 3), name="x")  # needs no gradient
    w = ctx.variable(torch.ones(3), requires_grad=True, name="w")
    a, b = mg.split(x * w, 2, dim=1)
    (a.sum() + b.sum() * w.sum()).backward(retain_graph=True)
    for node in ctx.nodes:
        for parent in node.parents:
            if parent is None:
                continue
            source, slot = parent
            assert 0 <= slot < len(source.payload.shapes)
            if source.is_leaf:
                assert source.variable is w and slot == 0
            else:
                assert source in ctx.nodes and source.index < node.index
    mul = ctx.nodes[0]
    assert mul.parents[0] is None and mul.parents[1][0].is_leaf
    w_sum = next(n for n in ctx.nodes if n.op == "Sum" and n.parents[0][0].is_leaf)
    assert mul.parents[1] is w_sum.parents[0]  # every use of w points at its one Leaf


def test_the_tape_keeps_no_leaf_alive_unless_it_keeps_outputs():
    import gc
    import weakref

    ctx = mg.Context()
    w = ctx.variable([1.0, 2.0], requires_grad=True)
    y = (w * 2.0).sum()
    ref = weakref.ref(w)
    del w
    gc.collect()
    assert ref() is None  # only the tape pointed at it
    assert "leaf(2,)" in str(ctx)  # still described, by its shape
    y.backward()  # its gradient has nowhere to go: nothing breaks
    kept = mg.Context(keep_outputs=True)
    v = kept.variable([1.0], requires_grad=True)
    (v * 2.0).sum()
    ref = weakref.ref(v)
    del v
    gc.collect()
    assert ref() is not None


# -- Variable's methods are the ops ---------------------------------------------

METHOD_CALLS = [
    ("sum", (1,), {"keepdim": True}),
    ("sum", (), {"dim": (0, 1)}),
    ("mean", (0,), {}),
    ("var", (1,), {"correction": 0}),
    ("max", (1,), {"keepdim": False}),
    ("logsumexp", (), {"dim": 1}),
    ("clamp", (), {"min": -0.5, "max": 0.5}),
    ("softmax", (1,), {}),
    ("reshape", (4, 3), {}),
    ("view", (-1,), {}),
    ("transpose", (0, 1), {}),
    ("permute", (1, 0), {}),
    ("unsqueeze", (0,), {}),
    ("flatten", (), {"start_dim": 0}),
    ("pow", (3,), {}),
    ("exp", (), {}),
    ("tanh", (), {}),
]


@pytest.mark.parametrize("method, args, kwargs", METHOD_CALLS)
def test_a_method_passes_every_argument_to_its_op(method, args, kwargs):
    x = leaf(torch.randn(3, 4, dtype=torch.float64).tolist())
    by_method = getattr(x, method)(*args, **kwargs)
    by_function = getattr(mg, method)(x, *args, **kwargs)
    if hasattr(by_method, "values"):  # max(dim): (values, indices), as torch
        by_method, by_function = by_method.values, by_function.values
    assert torch.equal(by_method.value, by_function.value)
    assert getattr(mg.Variable, method) is getattr(mg, method)  # the method *is* the op


def test_operators_and_their_reflections_run_the_ops():
    x = leaf([1.0, 2.0, 4.0])
    assert (2.0 - x).tolist() == mg.sub(2.0, x).tolist() == [1.0, 0.0, -2.0]
    assert (8.0 / x).tolist() == [8.0, 4.0, 2.0]
    assert (2.0**x).tolist() == [2.0, 4.0, 16.0]
    assert (-x).tolist() == [-1.0, -2.0, -4.0] and x[1:].tolist() == [2.0, 4.0]
    assert (torch.ones(3) @ x.float()).item() == 7.0
    assert x.T.shape == x.shape and leaf([[1.0, 2.0]]).T.shape == (2, 1)


def test_to_float_and_double_hand_their_arguments_to_ops_to():
    x = leaf([1.0, 2.0])  # float64
    assert x.float().dtype == torch.float32 and x.float().double().dtype == torch.float64
    assert x.to(torch.float32).dtype == torch.float32
    assert x.to("cpu", torch.float32).dtype == torch.float32
    assert x.to(dtype=torch.float32, device="cpu").dtype == torch.float32
    y = (x.float() * 3.0).sum()
    y.backward()  # the cast is recorded: gradients flow back through it
    assert x.grad.dtype == torch.float64 and x.grad.tolist() == [3.0, 3.0]


# -- typed errors from the core ---------------------------------------------------


def test_errors_in_the_core_are_typed_and_still_the_builtin_kind():
    cases = [
        (lambda: mg.tensor(object()), mg.ArgumentTypeError, TypeError, "numpy array"),
        (
            lambda: mg.tensor([1, 2], requires_grad=True),
            mg.DTypeError,
            TypeError,
            "only floating-point",
        ),
        (lambda: mg.tensor([1.0]).register_hook(3), mg.ArgumentTypeError, TypeError, "function"),
        (lambda: mg.backprop(torch.ones(1)), mg.ArgumentTypeError, TypeError, "Variable"),
        (lambda: mg.tensor([1.0, 2.0]).item(), mg.ShapeError, ValueError, r"shape \(2,\)"),
        (lambda: bool(mg.tensor([1.0, 2.0])), mg.ShapeError, ValueError, "single element"),
        (lambda: len(mg.tensor(1.0)), mg.ArgumentTypeError, TypeError, "0-dim"),
    ]
    for call, kind, builtin, text in cases:
        with pytest.raises(kind, match=text) as caught:
            call()
        assert isinstance(caught.value, builtin)
        assert "help:" in str(caught.value)


def test_a_gate_whose_forward_returns_no_tensor_gets_a_gate_error():
    class ReturnsAFloat(mg.Gate):
        def forward(self, x):
            return float(x.sum())

    with pytest.raises(mg.GateError, match=r"(?s)must return a torch tensor.*got float.*help:"):
        ReturnsAFloat()(leaf([1.0]))


def test_trace_refuses_what_is_not_a_variable():
    from minigrad.trace import trace

    with pytest.raises(mg.ArgumentTypeError, match="trace: expected a minigrad Variable"):
        trace(torch.ones(1))


def test_a_gate_without_forward_or_backward_says_which_is_missing():
    class OnlyForward(mg.Gate):
        def forward(self, x):
            return x * 2

    class Nothing(mg.Gate):
        pass

    with pytest.raises(mg.UnfinishedGateError, match=r"(?s)Nothing: expected a forward.*help:"):
        Nothing()(leaf([1.0]))
    y = OnlyForward()(leaf([1.0])).sum()
    with pytest.raises(NotImplementedError, match=r"(?s)OnlyForward has no backward.*help:"):
        y.backward()


def test_asking_one_output_of_a_node_that_made_several():
    ctx = mg.Context()
    mg.split(leaf([1.0, 2.0], ctx), 1)
    with pytest.raises(mg.TapeError, match=r"(?s)expected a payload with one output.*sequence"):
        _ = ctx.nodes[0].payload.variable
