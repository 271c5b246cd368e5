"""What the tape keeps alive, in bytes: per node, per tape, and at its peak during backward.

Forward values die as soon as nobody holds them, except the tensors a gate
saved for its backward (``gate.saved_tensors()``). Those stay until backprop
has walked the node, so they are the memory a tape costs::

    bytes of a tensor = the bytes of the storage it keeps alive
                      = numel * element_size          (an ordinary tensor)

A view (a slice, a transpose) keeps its whole storage alive, so that is
what it costs; a float16 number is 2 bytes, a float32 one 4, a float64 one 8.

Several gates often save the *same* tensor: ``Tanh`` saves its output, and
the ``Linear`` that reads it saves it again as its input. Memory holds it
once, so a node's figure counts each storage once, and so does a tape's
total (:func:`saved_bytes`), however many nodes saved it. ``besides`` leaves
out tensors that live anyway, such as a model's parameters (a ``Linear``
saves its weight, which costs nothing more than the parameter itself).

During backward the tape only shrinks (each node drops what it saved once
walked), with one exception: a :func:`minigrad.recompute` gate runs its
segment again and records it on a tape of its own. It reports that moment
to every :class:`SavedBytesMeter` that is running, so a meter's ``peak``
is the true high-water mark of saved bytes over the whole step.
"""

from __future__ import annotations

import torch

from minigrad.backprop import backprop

# The tapes a recompute gate is re-running right now, outermost first (they nest).
_recomputing: list = []
# The meters that are running.
_meters: list = []


def storage_key(tensor: torch.Tensor) -> int:
    """One number per storage: two views of one tensor give the same key."""
    return tensor.untyped_storage()._cdata


def tensor_bytes(tensor: torch.Tensor) -> int:
    """The bytes ``tensor`` keeps alive: its storage's (numel * element_size, for most)."""
    return tensor.untyped_storage().nbytes()


def gate_storages(gate) -> dict[int, int]:
    """Storage key -> bytes, for what one gate saved (each storage once)."""
    if gate is None:  # a released node has dropped everything
        return {}
    return {storage_key(t): tensor_bytes(t) for t in gate.saved_tensors().values()}


def node_saved_bytes(node) -> int:
    """The bytes a node's gate saved for its backward (0 once backprop has released it)."""
    return sum(gate_storages(node.gate).values())


def _storages(contexts, besides) -> dict[int, int]:
    held: dict[int, int] = {}
    for context in contexts:
        for node in context.nodes:
            held.update(gate_storages(node.gate))
    for item in besides:
        tensor = getattr(item, "value", item)  # a Variable or a tensor
        if isinstance(tensor, torch.Tensor):
            held.pop(storage_key(tensor), None)
    return held


def saved_bytes(context, besides=()) -> int:
    """The bytes the tape's saved tensors hold now, each storage counted once.

    ``besides``: Variables or tensors that live anyway (a model's
    parameters, the input batch), left out of the count.
    """
    return sum(_storages([context], list(besides)).values())


def format_bytes(count: int) -> str:
    """``96 B``, ``1.5 KiB``, ``12.0 MiB``: a byte count as a person reads it."""
    if count < 1024:
        return f"{count} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}"
    raise AssertionError("unreachable")


class SavedBytesMeter:
    """The most bytes a tape's saved tensors held at once, over the samples taken.

    ``sample(what)`` measures now: the tape's saved bytes (each storage once,
    ``besides`` left out). While the meter runs (``with meter:``), every
    recompute gate also samples at its peak, with its own tape added. So::

        with mg.SavedBytesMeter(ctx, besides=params) as meter:
            loss = model(x)
            meter.sample("end of forward")   # the tape is at its fullest here
            loss.backward()                  # recomputed segments sample themselves
        meter.peak, meter.samples

    Only saved tensors count: the gradients in flight during backward (about
    one activation's worth at a time, plus the parameters' gradients) do not.
    Meters and recompute gates report to each other through this module, so
    measure one computation at a time (in one thread).
    """

    def __init__(self, context, besides=()):
        self.context = context
        self.besides = list(besides)
        self.samples: list[tuple[str, int]] = []

    @property
    def peak(self) -> int:
        """The largest sample so far (0 before the first)."""
        return max((count for _, count in self.samples), default=0)

    def sample(self, what: str = "sample") -> int:
        """Measure the saved bytes now (and those of any segment being recomputed)."""
        count = sum(_storages([self.context, *_recomputing], self.besides).values())
        self.samples.append((what, count))
        return count

    def __enter__(self) -> SavedBytesMeter:
        _meters.append(self)
        return self

    def __exit__(self, *exc_info) -> None:
        if self in _meters:
            _meters.remove(self)

    def __repr__(self) -> str:
        return f"<SavedBytesMeter: peak {format_bytes(self.peak)} over {len(self.samples)} samples>"


def recomputing(context):
    """Tell the running meters that ``context`` holds a recomputed segment (a with-block)."""
    return _Recomputing(context)


class _Recomputing:
    def __init__(self, context):
        self.context = context

    def __enter__(self) -> None:
        _recomputing.append(self.context)
        for meter in list(_meters):
            meter.sample(f"recomputing {self.context.name or 'a segment'}")

    def __exit__(self, *exc_info) -> None:
        _recomputing.remove(self.context)


def peak_saved_bytes(loss, besides=()) -> int:
    """Run ``loss.backward()`` and return the most bytes the saved tensors held at once.

    That is the larger of the tape's total when backward starts and the
    totals while each recomputed segment is on its own tape.
    """
    with SavedBytesMeter(loss.context, besides) as meter:
        meter.sample("end of forward")
        backprop(loss)
    return meter.peak
