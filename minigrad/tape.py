"""The tape (Wengert list): a Context records every op as a Node, in order.

A Context is a plain Python list of nodes plus a switch that turns recording
off. Each :class:`Node` says

* ``gate``: the op that ran, which also keeps what its backward needs;
* ``parents``: where each input's gradient must go: the node (and output
  slot) that produced it, a leaf Variable, or ``None`` when no gradient is
  needed for it;
* ``payload``: the op's output, one Variable or several.

Backprop (``minigrad/backprop.py``) is a loop over ``ctx.nodes`` in reverse.

Memory matters: a node links to the *nodes* that made its inputs, never to
their Variables, so forward values live only as long as the learner's own
code holds them, or as long as a gate saved them for its backward. The
payload holds its outputs through weak references for the same reason,
unless the Context was made with ``keep_outputs=True`` (the TapeViewer
widget does this to show every value).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager


class GradMode:
    """The process-wide switch behind ``mg.no_grad()``.

    ``ctx.no_grad()`` turns one tape off; ``mg.no_grad()`` turns every tape off.
    """

    enabled = True


class Payload:
    """What a node produced: one Variable (``kind == "variable"``) or several
    (``kind == "sequence"``, for ops such as split and chunk).

    The outputs are held weakly unless ``keep`` is set, so a Variable the
    learner dropped is freed even though the tape still describes it;
    ``variable`` and ``sequence`` then give ``None`` in its place.
    """

    __slots__ = ("kind", "shapes", "_held", "_weak")

    def __init__(self, outputs: tuple, keep: bool = False):
        if len(outputs) == 1:  # the usual case, written out: this runs for every op
            v = outputs[0]
            self.kind = "variable"
            self.shapes = (v.value.shape,)
            self._held = (v if keep else weakref.ref(v),)
        else:
            self.kind = "sequence"
            self.shapes = tuple([v.value.shape for v in outputs])
            self._held = tuple([v if keep else weakref.ref(v) for v in outputs])
        self._weak = not keep

    def outputs(self) -> list:
        """The output Variables, ``None`` for those already freed."""
        if not self._weak:
            return list(self._held)
        if len(self._held) == 1:
            return [self._held[0]()]
        return [ref() for ref in self._held]

    @property
    def variable(self):
        """The single output Variable (or ``None`` if it was freed)."""
        if self.kind != "variable":
            raise AttributeError("this payload holds several outputs: use .sequence")
        return self.outputs()[0]

    @property
    def sequence(self) -> list:
        """All output Variables, in order."""
        return self.outputs()

    def __len__(self) -> int:
        return len(self.shapes)

    def __repr__(self) -> str:
        shapes = ", ".join(str(s) for s in self.shapes)
        return f"Payload({self.kind}: {shapes})"


class Node:
    """One recorded op: ``gate``, ``parents``, ``payload``.

    ``output_grads`` collects, during backprop, the gradient that flows into
    each output of this node (summed when an output was used several times).
    After backprop has used a node it is *released*: the gate (and with it
    every saved tensor) is dropped, unless the graph is retained.

    ``inputs`` is ``None``, except on a ``keep_outputs`` tape: there it holds
    what the op was called with, so that a viewer can also show the inputs
    that need no gradient (the data ``x``, a constant ``2.0``).
    """

    __slots__ = (
        "gate", "parents", "payload", "index", "output_grads", "released", "inputs", "__weakref__"
    )  # fmt: skip

    def __init__(self, gate, parents: tuple, payload: Payload, index: int, inputs=None):
        self.gate = gate
        self.parents = parents
        self.payload = payload
        self.index = index
        self.output_grads = None
        self.released = False
        self.inputs = inputs

    @property
    def op(self) -> str:
        """The op's name, e.g. ``"MatMul"``."""
        return self.gate.name if self.gate is not None else "<released>"

    def release(self) -> None:
        """Drop the gate and its saved tensors: backprop through this node is over."""
        self.gate = None
        self.parents = ()
        self.inputs = None
        self.output_grads = None
        self.released = True

    def __repr__(self) -> str:
        return f"Node({self.index}: {self.op} -> {self.payload!r})"


class Context:
    """A tape of operations, also called a Wengert list.

    >>> import minigrad as mg
    >>> ctx = mg.Context()
    >>> x = ctx.variable([1.0, 2.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> len(ctx.nodes)
    2
    >>> y.backward()
    >>> x.grad.tolist(), len(ctx.nodes)
    ([2.0, 4.0], 0)

    ``with ctx:`` makes this the current context (where ``mg.tensor`` creates
    Variables); ``ctx.no_grad()`` switches recording off inside a block.
    """

    def __init__(self, keep_outputs: bool = False, name: str | None = None):
        self.nodes: list[Node] = []
        self.recording = True
        self.keep_outputs = keep_outputs
        self.name = name

    # -- creating variables -------------------------------------------------
    def variable(
        self, value, requires_grad: bool = False, name: str | None = None, dtype=None, device=None
    ):
        """A new leaf Variable on this tape, from a tensor, array, list or number."""
        from minigrad.variable import Variable, as_tensor

        return Variable(as_tensor(value, dtype=dtype, device=device), requires_grad, self, name)

    # -- recording ----------------------------------------------------------
    def is_recording(self) -> bool:
        """True when ops on this tape are being recorded."""
        return self.recording and GradMode.enabled

    @contextmanager
    def no_grad(self) -> Iterator[None]:
        """Record nothing inside the block; the previous state comes back even on error."""
        previous = self.recording
        self.recording = False
        try:
            yield
        finally:
            self.recording = previous

    # Arraymancer's name for the same block.
    no_grad_mode = no_grad

    def record(self, gate, parents: tuple, outputs: tuple, inputs: tuple = ()) -> Node:
        """Append a node for ``gate`` (called by Gate.__call__ with what it was called on)."""
        keep = self.keep_outputs
        node = Node(
            gate, parents, Payload(outputs, keep), len(self.nodes), inputs if keep else None
        )
        self.nodes.append(node)
        return node

    def clear(self) -> None:
        """Empty the tape, releasing every node and what it saved."""
        for node in self.nodes:
            node.release()
        self.nodes.clear()

    # -- the current context ------------------------------------------------
    def __enter__(self) -> Context:
        _CURRENT.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        _CURRENT.remove(self)

    # -- looking at the tape ------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def records(self) -> list[dict]:
        """The tape as plain data, one dict a node (what ``print`` and the widgets show)."""
        from minigrad.inspect import node_record

        return [node_record(node) for node in self.nodes]

    def __str__(self) -> str:
        from minigrad.inspect import format_table

        title = f"Context {self.name!r}" if self.name else "Context"
        state = "" if self.is_recording() else ", not recording"
        header = f"{title}: {len(self.nodes)} nodes{state}"
        return header + ("\n" + format_table(self.records()) if self.nodes else "")

    def __repr__(self) -> str:
        return f"<minigrad.Context with {len(self.nodes)} nodes>"


_DEFAULT = Context(name="default")
_CURRENT: list[Context] = []


def default_context() -> Context:
    """The context ``mg.tensor`` records on: the innermost ``with ctx:``, else a global one."""
    return _CURRENT[-1] if _CURRENT else _DEFAULT


@contextmanager
def no_grad() -> Iterator[None]:
    """Record nothing on any tape inside the block (like ``torch.no_grad()``)."""
    previous = GradMode.enabled
    GradMode.enabled = False
    try:
        yield
    finally:
        GradMode.enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record again inside a ``no_grad`` block."""
    previous = GradMode.enabled
    GradMode.enabled = True
    try:
        yield
    finally:
        GradMode.enabled = previous
