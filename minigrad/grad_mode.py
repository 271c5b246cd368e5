"""Grad mode: whether an op is recorded right now, in this thread.

An op on a Variable that requires grad is recorded on its tape unless one of
two switches is off:

* ``mg.no_grad()`` switches every tape off (``mg.enable_grad()`` switches
  them back on inside it), as ``torch.no_grad()`` does;
* ``ctx.no_grad()`` switches one tape off (see :class:`minigrad.Context`).

And ``with ctx:`` makes ``ctx`` the current context, the one ``mg.tensor``
creates Variables on.

All three belong to the thread that opened the block, as torch's grad mode
does: a model training in a background thread keeps recording while the main
thread evaluates under ``no_grad``, and a ``with ctx:`` in one thread does
not move another thread's new Variables onto ``ctx``. Each block puts back
exactly what it found, even when the block raises, so an inner block never
switches recording on inside an outer one.

>>> import minigrad as mg
>>> mg.is_grad_enabled()
True
>>> with mg.no_grad():
...     mg.is_grad_enabled()
False
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ThreadState(threading.local):
    """What each thread switched: one instance, ``state``, seen with its own values per thread.

    * ``grad_enabled``: False inside ``mg.no_grad()``;
    * ``paused``: the contexts this thread switched off with ``ctx.no_grad()``
      (a tuple, usually empty, so that checking it costs almost nothing);
    * ``contexts``: this thread's ``with ctx:`` blocks, innermost last;
    * ``all_on``: ``grad_enabled`` and nothing paused, the usual case: an op
      reads this one flag (one thread-local look-up on the per-op path).
    """

    def __init__(self) -> None:
        self.grad_enabled = True
        self.paused: tuple = ()
        self.contexts: list = []
        self.all_on = True


state = ThreadState()


def is_grad_enabled() -> bool:
    """False inside ``mg.no_grad()`` (in this thread), True otherwise."""
    return state.grad_enabled


@contextmanager
def set_grad_enabled(enabled: bool) -> Iterator[None]:
    """Record (``True``) or not (``False``) on every tape inside the block, in this thread."""
    previous = state.grad_enabled
    _switch(enabled, state.paused)
    try:
        yield
    finally:
        _switch(previous, state.paused)


def no_grad():
    """Record nothing on any tape inside the block, in this thread (like ``torch.no_grad()``).

    Use it for evaluation: without it every forward pass is recorded, and a
    tape that is never walked back only grows.
    """
    return set_grad_enabled(False)


def enable_grad():
    """Record again inside a ``no_grad`` block (like ``torch.enable_grad()``)."""
    return set_grad_enabled(True)


@contextmanager
def paused(context) -> Iterator[None]:
    """Record nothing on ``context`` inside the block, in this thread (``ctx.no_grad()``)."""
    previous = state.paused
    _switch(state.grad_enabled, previous + (context,))
    try:
        yield
    finally:
        _switch(state.grad_enabled, previous)


def _switch(grad_enabled: bool, paused: tuple) -> None:
    state.grad_enabled = grad_enabled
    state.paused = paused
    state.all_on = grad_enabled and not paused


def current_context():
    """This thread's innermost ``with ctx:`` context, or ``None`` outside every such block."""
    contexts = state.contexts
    return contexts[-1] if contexts else None
