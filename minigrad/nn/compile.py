"""compile_train and compile_test: a model and a loss turned into one step function.

nimxla compiles the forward and backward graph of a model into an XLA
executable that returns the prediction, the loss, the new state and every
gradient. minigrad runs eagerly on its own tape, so "compiling" here means
bundling the same step into one function with the same results::

    step = nn.compile_train(model, mg.cross_entropy)
    result = step(x, y)
    result.loss, result.pred, result.grads["fc1.weight_grad"], result.outputs

With ``compile=True`` the step is also handed to ``torch.compile``, which
traces the Python tape (Gate calls, the backprop loop) into one graph and
fuses its kernels: a speed-up for small models whose time goes into Python
overhead. The first call pays for compilation (seconds).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from minigrad.nn.module import Module
from minigrad.ops import softmax as _softmax
from minigrad.tape import no_grad
from minigrad.variable import Variable, as_tensor


class TrainResult:
    """What one training step returns: ``pred``, ``loss``, ``outputs`` and ``grads``.

    ``outputs`` maps each state name (``"bn.running_mean"``) to its new value,
    ``grads`` each ``"<variable>_grad"`` to its gradient (nimxla's names).
    ``result["loss"]``, ``result["fc1.weight_grad"]`` also work.
    """

    __slots__ = ("pred", "loss", "outputs", "grads")

    def __init__(self, pred, loss, outputs: dict, grads: dict):
        self.pred, self.loss, self.outputs, self.grads = pred, loss, outputs, grads

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


def _maybe_compile(function: Callable, compile: bool | dict) -> Callable:
    """``function`` itself, or ``torch.compile(function, **options)`` (a dict gives options)."""
    if not compile:
        return function
    return torch.compile(function, **(compile if isinstance(compile, dict) else {}))


def _tensor(x) -> torch.Tensor:
    return x.value if isinstance(x, Variable) else as_tensor(x)


def compile_train(
    model: Module, loss_fn: Callable, compile: bool | dict = False
) -> Callable[..., TrainResult]:
    """A function ``step(x, y) -> TrainResult`` that runs one training forward and backward.

    ``loss_fn(pred, y)`` must return a scalar Variable (e.g. ``mg.cross_entropy``).
    Each step forgets the previous gradients, so after it every learnable
    Variable's ``.grad`` holds this batch's gradient, ready for ``opt.step()``.
    The learnable Variables are listed once, here: freeze or add parameters
    before calling compile_train. ``compile=True`` (or a dict of ``torch.compile`` options, e.g.
    ``{"fullgraph": True}``) compiles the step.
    The model runs in training mode for the step. minigrad is eager, so batch
    norm's running statistics are already updated in place when the step
    returns; ``model.update(result.outputs)`` (the nimxla way) is harmless.
    """
    names = model.var_names()
    variables = model.learnable_vars()
    output_names = model.outputs
    table = model.variables
    state = [table[name] for name in output_names]
    context = variables[0].context if variables else None

    def run(x: torch.Tensor, y):
        for variable in variables:
            variable.grad = None
        pred = model(Variable(x, False, context), training=True)
        loss = loss_fn(pred, y)
        loss.backward()
        grads = [v.grad if v.grad is not None else torch.zeros_like(v.value) for v in variables]
        return pred.value, loss.value, grads, [s.value.clone() for s in state]

    runner = _maybe_compile(run, compile)

    def step(x, y) -> TrainResult:
        pred, loss, grads, outputs = runner(_tensor(x), _tensor(y))
        return TrainResult(
            pred,
            loss,
            dict(zip(output_names, outputs)),
            {f"{name}_grad": g for name, g in zip(names, grads)},
        )

    return step


def compile_test(
    model: Module, softmax: bool = False, compile: bool | dict = False
) -> Callable[..., torch.Tensor]:
    """A function ``predict(x) -> tensor``: the model in evaluation mode, recording nothing.

    With ``softmax`` the outputs become probabilities over dimension 1 (the classes).
    """
    context = next(iter(model.variables.values())).context if model.variables else None

    def run(x: torch.Tensor) -> torch.Tensor:
        with no_grad():
            pred = model(Variable(x, False, context), training=False)
            if softmax:
                pred = _softmax(pred, 1)
        return pred.value

    runner = _maybe_compile(run, compile)

    def predict(x) -> torch.Tensor:
        return runner(_tensor(x))

    return predict
