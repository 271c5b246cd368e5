"""TrainResult: what one compiled training step returns (see ``minigrad/nn/compile.py``).

nimxla's compileTrain returns the prediction, the loss, the new state and
every gradient by name; so does ``step(x, y)``, as one object.
"""

from __future__ import annotations

import torch


class TrainResult:
    """What one training step returns: ``pred``, ``loss``, ``outputs`` and ``grads``.

    ``outputs`` maps each state name (``"bn.running_mean"``) to its new value,
    ``grads`` each ``"<variable>_grad"`` to its gradient (nimxla's names).
    ``result["loss"]``, ``result["fc1.weight_grad"]`` also work. (The two
    tables are made when first read: a training loop that reads only the
    loss does not pay for them on every step.)
    """

    __slots__ = ("pred", "loss", "_named", "_tables")

    def __init__(self, pred, loss, outputs: tuple, grads: tuple):
        """``outputs`` and ``grads``: each a pair (names, values)."""
        self.pred, self.loss = pred, loss
        self._named, self._tables = (outputs, grads), None

    def _made(self) -> tuple[dict, dict]:
        if self._tables is None:
            self._tables = tuple(dict(zip(names, values)) for names, values in self._named)
        return self._tables

    @property
    def outputs(self) -> dict:
        return self._made()[0]

    @property
    def grads(self) -> dict:
        return self._made()[1]

    def __getitem__(self, name: str) -> torch.Tensor:
        if name in ("pred", "loss"):
            return getattr(self, name)
        for table in (self.grads, self.outputs):
            if name in table:
                return table[name]
        raise KeyError(
            f"{name!r}: a train step returns 'pred', 'loss', the outputs {list(self.outputs)} "
            f"and the gradients {list(self.grads)}"
        )

    def keys(self) -> list[str]:
        return ["pred", "loss", *self.outputs, *self.grads]

    def __repr__(self) -> str:
        return (
            f"TrainResult(loss={self.loss.item():.6g}, pred {tuple(self.pred.shape)}, "
            f"{len(self.outputs)} outputs, {len(self.grads)} grads)"
        )
