"""Grad mode, ``ctx.no_grad()`` and ``with ctx:`` belong to the thread that opened them.

Real threads, forced to overlap in the order each test needs with events and
barriers (never sleeps), so that every interleaving below happens on every
run. What counts is observed: whether an op lands on the tape.
"""

from __future__ import annotations

import threading

import pytest
import torch

import minigrad as mg

TIMEOUT = 30  # seconds: only reached if a thread is stuck, which fails the test


def run_in_thread(target) -> dict:
    """Start ``target(result)`` in a thread and return the dict it fills (and any error)."""
    result: dict = {}

    def body():
        try:
            target(result)
        except BaseException as error:  # reported to the main thread, not lost
            result["error"] = error

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def finish(result: dict) -> dict:
    result["thread"].join(TIMEOUT)
    assert not result["thread"].is_alive(), "the thread did not finish"
    if "error" in result:
        raise result["error"]
    return result


def recorded(ctx: mg.Context, x: mg.Variable) -> bool:
    """Does an op on ``x`` (which requires grad) land on ``ctx`` in this thread, right now?

    (Read from the op's own output, not from the tape's length, which the
    other thread may be growing at the same moment.)
    """
    y = x * 2.0
    return y.node is not None and y.node in ctx.nodes


def test_no_grad_in_one_thread_does_not_stop_recording_in_another():
    ctx = mg.Context()
    x = ctx.variable([1.0, 2.0], requires_grad=True)
    inside, done = threading.Event(), threading.Event()

    def evaluate(result):
        with mg.no_grad():
            inside.set()
            result["recorded"] = recorded(ctx, x)
            assert done.wait(TIMEOUT)

    other = run_in_thread(evaluate)
    assert inside.wait(TIMEOUT)
    assert recorded(ctx, x)  # this thread still records while the other is inside no_grad
    assert mg.is_grad_enabled()
    done.set()
    assert finish(other)["recorded"] is False


def test_overlapping_no_grad_blocks_leave_recording_on_in_both_threads():
    """A enters, B enters, A leaves, B leaves: with one process-wide flag, B put back "off"."""
    ctx = mg.Context()
    x = ctx.variable([1.0], requires_grad=True)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def thread_a(result):
        with mg.no_grad():
            a_in.set()
            assert b_in.wait(TIMEOUT)
        a_out.set()
        result["recorded"] = recorded(ctx, x)

    a = run_in_thread(thread_a)
    assert a_in.wait(TIMEOUT)
    with mg.no_grad():
        b_in.set()
        assert a_out.wait(TIMEOUT)
    finish(a)
    assert a["recorded"] is True
    assert recorded(ctx, x) and mg.is_grad_enabled() and ctx.is_recording()


def test_ctx_no_grad_switches_the_tape_off_for_its_own_thread_only():
    ctx = mg.Context()
    x = ctx.variable([1.0], requires_grad=True)
    inside, done = threading.Event(), threading.Event()

    def paused(result):
        with ctx.no_grad():
            inside.set()
            result["recording"] = ctx.is_recording()
            result["recorded"] = recorded(ctx, x)
            assert done.wait(TIMEOUT)

    other = run_in_thread(paused)
    assert inside.wait(TIMEOUT)
    assert ctx.is_recording() and recorded(ctx, x)
    done.set()
    finish(other)
    assert other["recording"] is False and other["recorded"] is False


def test_with_ctx_in_one_thread_does_not_move_another_threads_variables():
    ctx = mg.Context(name="thread A's")
    inside, done = threading.Event(), threading.Event()

    def thread_a(result):
        with ctx:
            inside.set()
            result["mine"] = mg.tensor([1.0])
            result["current"] = mg.default_context()
            assert done.wait(TIMEOUT)

    a = run_in_thread(thread_a)
    assert inside.wait(TIMEOUT)
    here = mg.tensor([2.0])  # made while the other thread is inside `with ctx:`
    assert mg.default_context() is not ctx and here.context is not ctx
    done.set()
    finish(a)
    assert a["mine"].context is ctx and a["current"] is ctx


def test_a_model_trains_in_a_background_thread_while_the_main_thread_evaluates():
    """The trainer's every step overlaps an evaluation under no_grad in the main thread."""
    steps = 5
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(3, 4, generator=g, dtype=torch.float64)
    data = torch.randn(8, 4, generator=g, dtype=torch.float64)
    ctx = mg.Context(name="training")
    w = ctx.variable(w0.clone(), requires_grad=True)
    x = ctx.variable(data)
    both = threading.Barrier(2, timeout=TIMEOUT)

    def train(result):
        grads = []
        for _ in range(steps):
            both.wait()  # the main thread is inside no_grad now
            loss = (mg.tanh(x @ w.T) ** 2).mean()
            loss.backward()
            grads.append(w.grad.clone())
            w.value.sub_(0.1 * w.grad)
            w.grad = None
            both.wait()
        result["grads"] = grads

    trainer = run_in_thread(train)
    for _ in range(steps):
        with mg.no_grad():
            both.wait()
            (mg.tanh(x @ w.T) ** 2).mean()  # evaluation: recorded nowhere
            both.wait()
    finish(trainer)
    tw = w0.clone()
    for step in range(steps):  # torch, step for step
        t = tw.clone().requires_grad_()
        (torch.tanh(data @ t.T) ** 2).mean().backward()
        torch.testing.assert_close(trainer["grads"][step], t.grad, rtol=1e-12, atol=1e-12)
        tw -= 0.1 * t.grad
    assert ctx.nodes == []  # every step's tape was walked and emptied; evaluation added none


def test_a_new_thread_starts_with_grad_mode_on_and_no_current_context():
    ctx = mg.Context()

    def look(result):
        result["enabled"] = mg.is_grad_enabled()
        result["default"] = mg.default_context()

    with ctx, mg.no_grad():
        other = finish(run_in_thread(look))
    assert other["enabled"] is True and other["default"] is not ctx


# -- a tape that only grows ----------------------------------------------------------


def test_a_tape_that_only_grows_warns_once_and_names_the_fix():
    from minigrad.tape import GROWTH_WARNING_AT

    ctx = mg.Context(name="eval")
    x = ctx.variable([1.0], requires_grad=True)
    with pytest.warns(mg.TapeGrowthWarning) as caught:
        for _ in range(GROWTH_WARNING_AT + 1000):  # forwards that are never walked back
            x * 2.0
    assert len(caught) == 1  # once, not on every op past the threshold
    message = str(caught[0].message)
    assert "'eval'" in message and f"{GROWTH_WARNING_AT + 1:,}" in message  # just past it
    assert "outside no_grad" in message and "help:" in message and "mg.no_grad()" in message
    assert issubclass(mg.TapeGrowthWarning, mg.MinigradWarning)
    ctx.clear()


def test_the_warning_counts_the_tape_not_the_ops_ever_recorded():
    import warnings

    ctx = mg.Context()
    ctx.growth_warning_at = 20  # this tape's threshold, low to keep the test short
    w = ctx.variable(torch.randn(16, 8), requires_grad=True)
    x = ctx.variable(torch.randn(4, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", mg.TapeGrowthWarning)
        for _ in range(50):  # 200 ops in all, but never more than 4 on the tape
            (x @ w.T).relu().sum().backward()
            w.grad = None
        with mg.no_grad():
            for _ in range(50):
                (x @ w.T).relu().sum()
    assert ctx.nodes == []
    with pytest.warns(mg.TapeGrowthWarning):
        for _ in range(6):  # 24 nodes, never walked back
            (x @ w.T).relu().sum()


def test_no_training_step_comes_near_the_threshold():
    from minigrad.tape import GROWTH_WARNING_AT

    model = mg.nn.Sequential(
        mg.nn.Conv2d(1, 8, 3), mg.nn.ReLU(), mg.nn.MaxPool2d(2), mg.nn.Flatten(),
        mg.nn.Linear(8 * 3 * 3, 10),
    )  # fmt: skip
    ctx = mg.default_context()
    before = len(ctx.nodes)
    loss = mg.cross_entropy(model(mg.tensor(torch.randn(2, 1, 8, 8))), torch.tensor([1, 2]))
    nodes_per_step = len(ctx.nodes) - before
    loss.backward()
    assert 0 < nodes_per_step * 1000 < GROWTH_WARNING_AT
