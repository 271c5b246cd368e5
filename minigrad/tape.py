"""The tape (Wengert list): a Context records every op as a Node, in order.

A Context is a plain Python list of nodes. Each :class:`Node` says

* ``gate``: the op that ran, which also keeps what its backward needs;
* ``parents``: one entry per input, the edge its gradient travels back
  along: ``(source, slot)`` for output ``slot`` of ``source``, or ``None``
  for an input that needs no gradient (the data, a constant). ``source`` is
  the Node of the op that made the input, or, for a Variable the learner
  made, its :class:`Leaf`: the place its gradient collects. So every edge
  has one form, and backprop never asks what kind of thing it points at;
* ``payload``: the op's output, one Variable or several (the node keeps
  their ``shapes``, which backprop reads directly).

Backprop (``minigrad/backprop.py``) is a loop over ``ctx.nodes`` in reverse.
Whether an op is recorded at all is grad mode's business
(``minigrad/grad_mode.py``): ``mg.no_grad()``, ``ctx.no_grad()``, per thread.

Memory matters: a node links to the *nodes* that made its inputs, never to
their Variables, so forward values live only as long as the learner's own
code holds them, or as long as a gate saved them for its backward. The
payload holds its outputs through weak references for the same reason,
unless the Context was made with ``keep_outputs=True`` (the TapeViewer
widget does this to show every value).

Three methods of Context come from later files, because they make or
describe Variables: ``ctx.variable(...)`` (``minigrad/variable.py``),
``ctx.records()`` and ``print(ctx)`` (``minigrad/inspect.py``). They are
attached in ``minigrad/methods.py``.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterator

from minigrad.errors import TapeError, TapeGrowthWarning
from minigrad.grad_mode import (  # no_grad and enable_grad: older code imports them from here
    current_context,
    enable_grad,  # noqa: F401
    no_grad,  # noqa: F401
    paused,
    state,
)

# A tape longer than this was never walked back: no single forward pass of a
# normal training step records anywhere near this many ops (a CNN step: tens).
GROWTH_WARNING_AT = 100_000


class Payload:
    """What a node produced: one Variable (``kind == "variable"``) or several
    (``kind == "sequence"``, for ops such as split and chunk).

    The outputs are held weakly unless the tape keeps them (``keep_outputs``),
    so a Variable the learner dropped is freed even though the tape still
    describes it; ``variable`` and ``sequence`` then give ``None`` in its place.

    A payload is a view of what its node holds, made when ``node.payload`` is
    read: the node itself keeps the shapes and the (weak) references, so that
    recording an op makes one object fewer (this runs for every op).
    """

    __slots__ = ("shapes", "_held", "_weak")

    def __init__(self, shapes: tuple, held: tuple, weak: bool):
        self.shapes = shapes
        self._held = held
        self._weak = weak

    @property
    def kind(self) -> str:
        return "variable" if len(self.shapes) == 1 else "sequence"

    def outputs(self) -> list:
        """The output Variables, ``None`` for those already freed."""
        return _outputs(self._held, self._weak)

    @property
    def variable(self):
        """The single output Variable (or ``None`` if it was freed)."""
        if len(self.shapes) != 1:
            raise TapeError(
                f"payload.variable: expected a payload with one output, got one with "
                f"{len(self.shapes)}\nhelp: use payload.sequence (or payload.outputs()) for an "
                "op with several outputs, such as split or chunk"
            )
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


def _outputs(held: tuple, weak: bool) -> list:
    """The Variables in ``held`` (weak references if ``weak``), ``None`` for those freed."""
    if not weak:
        return list(held)
    if len(held) == 1:
        return [held[0]()]
    return [ref() for ref in held]


class Node:
    """One recorded op: ``gate``, ``parents`` (its input edges), ``payload``.

    After backprop has used a node it is *released*: the gate (and with it
    every saved tensor) is dropped, unless the graph is retained.

    ``inputs`` is ``None``, except on a ``keep_outputs`` tape: there it holds
    what the op was called with, so that a viewer can also show the inputs
    that need no gradient (the data ``x``, a constant ``2.0``).

    ``output_ids`` remembers, by ``id``, the tensors the gate returned, and
    ``constant_ids`` those of its tensor inputs that need no gradient (or
    ``None``). Ids keep no tensor alive, yet tell which of the tensors a gate
    saved *are* its outputs, its constants, or the outputs of the nodes its
    inputs came from, which a backward recorded with ``create_graph`` needs
    (``minigrad/higher_order.py``).
    ``backward_of`` is ``None`` for
    an op of the program itself, and for an op recorded while a backward ran
    with ``create_graph=True`` the index of the node whose backward it is part
    of: the tape then holds a second program, the backward of the first.
    """

    __slots__ = (
        "gate",
        "parents",
        "shapes",
        "held",
        "weak",
        "index",
        "inputs",
        "output_ids",
        "constant_ids",
        "backward_of",
        "__weakref__",
    )
    is_leaf = False

    def __init__(
        self,
        gate,
        parents: tuple,
        outputs: tuple,
        index: int,
        keep: bool = False,
        inputs=None,
        output_ids=(),
        constant_ids=None,
    ):
        self.gate = gate
        self.parents = parents
        # What node.payload shows, kept here (see Payload): the outputs' shapes, and
        # the outputs themselves, weakly unless the tape keeps them.
        if len(outputs) == 1:  # the usual case, written out: this runs for every op
            v = outputs[0]
            self.shapes = (v.value.shape,)
            self.held = (v,) if keep else (weakref.ref(v),)
        else:
            self.shapes = tuple([v.value.shape for v in outputs])
            self.held = outputs if keep else tuple([weakref.ref(v) for v in outputs])
        self.weak = not keep
        self.index = index
        self.inputs = inputs
        self.output_ids = output_ids
        self.constant_ids = constant_ids
        self.backward_of = None

    @property
    def payload(self) -> Payload:
        """What the op produced (its output Variables and their shapes)."""
        return Payload(self.shapes, self.held, self.weak)

    def outputs(self) -> list:
        """The output Variables, ``None`` for those already freed (``payload.outputs()``)."""
        return _outputs(self.held, self.weak)

    @property
    def released(self) -> bool:
        """True once backprop has used the node and dropped its gate (see ``release``)."""
        return self.gate is None

    @property
    def op(self) -> str:
        """The op's name, e.g. ``"MatMul"``."""
        return self.gate.name if self.gate is not None else "<released>"

    def release(self) -> None:
        """Drop the gate and its saved tensors: backprop through this node is over."""
        self.gate = None
        self.parents = ()
        self.inputs = None

    def __repr__(self) -> str:
        return f"Node({self.index}: {self.op} -> {self.payload!r})"


class Leaf:
    """Where the gradient of a leaf Variable (one the learner made, not an op) collects.

    An input edge made by an earlier op points at that op's Node; one the
    learner made points at the Variable's Leaf (torch calls it
    AccumulateGrad). A Leaf is a node with no gate and no parents whose
    payload is the Variable itself; it is not on the tape. Backprop sums
    every gradient that reaches it and, once the walk has finished, adds the
    total to ``variable.grad``.

    A Variable keeps the edge to its Leaf (``variable.leaf_edge``, made by
    :func:`leaf_edge` when an op first uses it) for as long as it lives, so
    every node that uses it, in this step and the next, sends its gradient to
    the same place. The Leaf holds the Variable only weakly, as every payload
    on a plain tape does: the tape keeps no Variable alive, a leaf included
    (a ``keep_outputs`` tape keeps them through ``node.inputs``).
    """

    __slots__ = ("shapes", "ref", "value_id")
    is_leaf = True
    index = None  # not on the tape
    op = "Leaf"

    def __init__(self, variable):
        self.shapes = (variable.value.shape,)
        self.ref = weakref.ref(variable)  # weakly, as on a plain tape
        self.value_id = id(variable.value)  # as a node's output_ids, for a leaf the learner dropped

    @property
    def payload(self) -> Payload:
        """The leaf Variable, as a node's payload shows its outputs."""
        return Payload(self.shapes, (self.ref,), True)

    @property
    def output_ids(self) -> tuple:
        """``(id of the leaf's value,)``: the tensor an op that uses the leaf receives."""
        variable = self.ref()
        return (self.value_id if variable is None else id(variable.value),)

    @property
    def variable(self):
        """The leaf Variable, or ``None`` once the learner has dropped it."""
        return self.ref()

    def __repr__(self) -> str:
        variable = self.variable
        return f"Leaf({variable.name or 'unnamed'})" if variable is not None else "Leaf(freed)"


def leaf_edge(variable) -> tuple:
    """``(Leaf, 0)``: the edge a node that uses the leaf ``variable`` points along.

    Made the first time an op uses the Variable, then kept on it.
    """
    edge = variable.leaf_edge
    if edge is None:
        edge = variable.leaf_edge = (Leaf(variable), 0)
    return edge


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
    Variables); ``ctx.no_grad()`` switches recording off inside a block. Both
    hold for the thread that opens the block only.
    """

    def __init__(self, keep_outputs: bool = False, name: str | None = None):
        self.nodes: list[Node] = []
        self.keep_outputs = keep_outputs
        self.name = name
        # Warn (once) when the tape grows past this many nodes; None: never.
        self.growth_warning_at: int | None = GROWTH_WARNING_AT

    # -- recording ----------------------------------------------------------
    def is_recording(self) -> bool:
        """True when ops on this tape are recorded in this thread (no ``no_grad`` block is open)."""
        return state.grad_enabled and self not in state.paused

    @property
    def recording(self) -> bool:
        """This tape's own switch, as this thread sees it: False inside ``ctx.no_grad()``.

        (Arraymancer's ``Context.no_grad`` flag, negated; ``is_recording()``
        also asks the global ``mg.no_grad()``.)
        """
        return self not in state.paused

    def no_grad(self):
        """Record nothing on this tape inside the block, in this thread.

        The previous state comes back when the block ends, even on error.
        """
        return paused(self)

    # Arraymancer's name for the same block.
    no_grad_mode = no_grad

    def record(
        self,
        gate,
        parents: tuple,
        outputs: tuple,
        inputs: tuple = (),
        output_ids=(),
        constant_ids=None,
    ) -> Node:
        """Append a node for ``gate`` (called by Gate.__call__ with what it was called on)."""
        keep = self.keep_outputs
        nodes = self.nodes
        index = len(nodes)
        node = Node(
            gate, parents, outputs, index, keep, inputs if keep else None, output_ids, constant_ids
        )
        nodes.append(node)
        if index == self.growth_warning_at:
            self._warn_growth()
        return node

    def _warn_growth(self) -> None:
        """Say once that the tape keeps growing: it is the first sign of a memory leak."""
        self.growth_warning_at = None  # once per tape
        title = f"Context {self.name!r}" if self.name else "a Context"
        warnings.warn(
            f"{title} holds {len(self.nodes):,} recorded ops and no backward has emptied it; "
            "a tape that is never walked back keeps every node, and what its gates saved, "
            "until memory runs out\n"
            "likely cause: forward passes that need no gradient (evaluation, predictions, "
            "plots) recorded outside no_grad\n"
            "help: run them inside `with mg.no_grad():` (or `with ctx.no_grad():`), or call "
            "ctx.clear() to drop a tape you do not need",
            TapeGrowthWarning,
            stacklevel=5,  # the learner's line that ran the op
        )

    def clear(self) -> None:
        """Empty the tape, releasing every node and what it saved."""
        for node in self.nodes:
            if node.gate is not None:  # not released yet (node.released, without the call)
                node.release()
        self.nodes.clear()

    def rewind(self, length: int) -> None:
        """Release and remove every node recorded after the first ``length``.

        How a function that records a scratch computation (``mg.jvp``,
        ``mg.hvp``, a failed ``create_graph`` backward) leaves the tape as it
        found it: the nodes before ``length`` are not touched.
        """
        nodes = self.nodes
        for node in nodes[length:]:
            if node.gate is not None:  # not released yet
                node.release()
        del nodes[length:]

    # -- the current context ------------------------------------------------
    def __enter__(self) -> Context:
        state.contexts.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        contexts = state.contexts
        if contexts and contexts[-1] is self:  # blocks nest: this is the innermost
            contexts.pop()
        elif self in contexts:
            contexts.remove(self)

    # -- looking at the tape ------------------------------------------------
    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __getitem__(self, index: int) -> Node:
        return self.nodes[index]

    def __repr__(self) -> str:
        return f"<minigrad.Context with {len(self.nodes)} nodes>"


_DEFAULT = Context(name="default")


def default_context() -> Context:
    """Where ``mg.tensor`` records: this thread's innermost ``with ctx:``, else a global one.

    The global one is shared by every thread.
    """
    current = current_context()
    return _DEFAULT if current is None else current
