"""compile_train and compile_test: a model's step built once, as a straight-line program.

nimxla compiles a model's forward and backward graph into one executable
that returns the prediction, the loss, the new state and every gradient.
minigrad does the same in its own terms. The first call runs one step
eagerly, on the tape, and records every kernel it runs
(``minigrad/recording.py``): the forward kernels in tape order, then the
backward kernels in reverse tape order. That recording is written out as a
Python function, one line per kernel (``minigrad/program.py``). Every later
call runs that function: the same kernels in the same order, so the same
numbers bit for bit, but no Variable, Node or Payload is made and nothing
walks a tape::

    step = nn.compile_train(model, mg.cross_entropy, optimizer=opt)
    result = step(x, y)              # the first call records; later ones run the program
    print(step.program)              # the tape, compiled, is just this code
    result.loss, result.pred, result.grads["fc1.weight_grad"], result.outputs

A batch of another shape, dtype, device or layout (the smaller last batch of
an epoch) is *retraced*: recorded again into a second program, kept beside
the first (up to 8). ``retrace=False`` refuses it with a ShapeError (or
DTypeError, DeviceError) instead. A step whose Python reads a tensor's
values (``.item()``, an ``if`` on a tensor) cannot be a straight line: it is
refused with a CompileError naming the gate.

What the program does not see: Python choices made while recording stay
fixed (a layer's ``p`` changed later, a module swapped in). Rebuild the step
after changing the model's structure.

With ``compile=True`` (or a dict of ``torch.compile`` options, e.g.
``{"fullgraph": True}``) the program is handed to ``torch.compile``, which
fuses its kernels; the first program call pays for compilation (seconds).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch

from minigrad.nn.module import Module
from minigrad.nn.step_program import ProgramCache, identifier, record_step, signature_of
from minigrad.nn.train_result import TrainResult
from minigrad.ops import softmax as _softmax
from minigrad.tape import no_grad
from minigrad.variable import Variable, as_tensor


def _tensor(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and not x.requires_grad:
        return x
    return x.value if isinstance(x, Variable) else as_tensor(x)


def _context(model: Module):
    variables = list(model.variables.values())
    return variables[0].context if variables else None


class CompiledStep:
    """What compile_train and compile_test return: call it; ``.program`` is its code.

    ``programs`` lists every program built so far, one per input signature.
    """

    def __init__(self, caller: str, model: Module, input_names: list[str], retrace, compile):
        self.caller, self.model = caller, model
        self.state = model.named_state()  # every Variable: the program's other arguments
        self.values = [v for _, v in self.state]
        self.context = _context(model)
        names = input_names + [name for name, _ in self.state]
        self.cache = ProgramCache(caller, names, retrace, compile)
        self._last_values, self._values_signature = None, ()

    @property
    def program(self):
        """The program built last (``print(step.program)`` shows its code)."""
        if self.cache.latest is None:
            raise AttributeError(
                f"{self.caller}: no program yet: the first call records the step\n"
                "help: call the step once on a batch, then print(step.program)"
            )
        return self.cache.latest

    @property
    def programs(self) -> list:
        return list(self.cache.programs.values())

    def _arguments(self, batch: list[torch.Tensor]) -> tuple[tuple, list]:
        """The signature of this call (batch and model values) and the values themselves."""
        values = [v.value for v in self.values]
        last = self._last_values
        if last is None or not all(map(operator.is_, values, last)):  # model.to(...) and such
            self._last_values, self._values_signature = values, signature_of(values)
        return signature_of(batch) + self._values_signature, values


class TrainStep(CompiledStep):
    """``step(x, y) -> TrainResult``: see :func:`compile_train`."""

    def __init__(self, model, loss_fn, optimizer, retrace, compile):
        super().__init__("compile_train", model, ["x", "y"], retrace, compile)
        self.loss_fn, self.optimizer = loss_fn, optimizer
        self.update = None if optimizer is None else update_of(optimizer, model.learnable_vars())
        self.learnable = model.learnable_vars()
        self.grad_names = [f"{name}_grad" for name in model.var_names()]
        self.output_names = model.outputs
        table = model.variables
        self.outputs = [table[name] for name in self.output_names]

    def __call__(self, x, y) -> TrainResult:
        x, y = _tensor(x), _tensor(y)
        key, values = self._arguments([x, y])
        runner = self.cache.runners.get(key) or self.cache.find(key)
        if runner is None:
            results = self._record(x, y, key)
        else:
            results = runner(x, y, *values)
        count = len(self.learnable)
        grads = results[2 : 2 + count]
        for variable, grad in zip(self.learnable, grads):
            variable.grad = grad
        if self.update is not None:
            self.update()
        return TrainResult(
            results[0],
            results[1],
            (self.output_names, results[2 + count :]),
            (self.grad_names, grads),
        )

    def _record(self, x, y, key) -> tuple:
        def run(recorder):
            for variable in self.learnable:
                variable.grad = None
            recorder.section = "forward: the tape's nodes, in order"
            pred = self.model(Variable(x, False, self.context), training=True)
            loss = self.loss_fn(pred, y)
            recorder.note_tape()
            recorder.section = "backward: the same nodes, in reverse order"
            loss.backward()
            recorder.section = "results: the gradients, and a copy of the state forward updated"
            results = {"pred": pred.value, "loss": loss.value}
            for name, variable in zip(self.grad_names, self.learnable):
                grad = variable.grad
                results[identifier(name)] = (
                    grad if grad is not None else torch.zeros_like(variable.value)
                )
            for name, variable in zip(self.output_names, self.outputs):
                results[identifier(name) + "_out"] = variable.value.clone()
            return results

        header = [f"{type(self.model).__name__}: one training step, built for {_shapes(x, y)}"]
        if self.optimizer is not None:
            header.append(f"after it, each .grad is set and {self.optimizer}.step() runs")
        results, program = record_step(
            self.caller, "train_step", run, {"x": x, "y": y}, self.state, self.context, header
        )
        self.cache.add(key, program)
        return tuple(results.values())


def update_of(optimizer, learnable: list[Variable]) -> Callable[[], None]:
    """``optimizer.step()``, less the checks of each gradient that the program makes true.

    The program made every gradient of ``learnable`` and its signature check
    guarantees their shapes, dtypes and devices, so what is left of
    ``step()`` is its last part: the optimiser's own ``update`` rule, group by
    group, on each parameter with its state. An optimiser that also holds
    parameters the step does not make gradients for runs its full ``step()``.
    """
    made = {id(v) for v in learnable}
    work, position = [], 0
    for group in optimizer.param_groups:
        todo = []
        for p in group["params"]:
            if id(p) not in made:
                return optimizer.step
            todo.append((p, position))
            position += 1
        work.append((group, todo))

    def update() -> None:
        state = optimizer.state  # (looked up each time: load_state_dict replaces it)
        tracked = False  # a value with torch's requires_grad (see run_updates)
        for p in learnable:
            tracked = tracked or p.value.requires_grad
        now = []
        for group, todo in work:
            now.append((group, [(p, state.setdefault(i, {})) for p, i in todo if p.requires_grad]))
        optimizer.run_updates(now, tracked)

    return update


class PredictStep(CompiledStep):
    """``predict(x) -> tensor``: see :func:`compile_test`."""

    def __init__(self, model, softmax, retrace, compile):
        super().__init__("compile_test", model, ["x"], retrace, compile)
        self.softmax = softmax

    def __call__(self, x) -> torch.Tensor:
        x = _tensor(x)
        key, values = self._arguments([x])
        runner = self.cache.find(key)
        if runner is None:
            return self._record(x, key)
        return runner(x, *values)[0]

    def _record(self, x, key) -> torch.Tensor:
        def run(recorder):
            recorder.section = "forward, in evaluation mode, recording nothing"
            with no_grad():
                pred = self.model(Variable(x, False, self.context), training=False)
                if self.softmax:
                    pred = _softmax(pred, 1)
            recorder.note_tape()
            return {"pred": pred.value}

        header = [f"{type(self.model).__name__}: a prediction, built for x {_shape(x)}"]
        results, program = record_step(
            self.caller, "predict", run, {"x": x}, self.state, self.context, header
        )
        self.cache.add(key, program)
        return results["pred"]


def _shape(t: torch.Tensor) -> str:
    return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"


def _shapes(x, y) -> str:
    return f"x {_shape(x)}, y {_shape(y)}"


def compile_train(
    model: Module,
    loss_fn: Callable,
    compile: bool | dict = False,
    *,
    optimizer=None,
    retrace: bool = True,
) -> TrainStep:
    """A function ``step(x, y) -> TrainResult`` that runs one training forward and backward.

    ``loss_fn(pred, y)`` must return a scalar Variable (e.g. ``mg.cross_entropy``).
    Each step forgets the previous gradients, so after it every learnable
    Variable's ``.grad`` holds this batch's gradient; with ``optimizer`` the
    step also runs ``optimizer.step()``. The learnable Variables are listed
    once, here: freeze or add parameters before calling compile_train. The
    model runs in training mode for the step; batch norm's running
    statistics are updated in place, and ``result.outputs`` holds copies, so
    ``model.update(result.outputs)`` (the nimxla way) is harmless.

    The step is built once, as a straight-line program (see the module
    docstring): ``print(step.program)``. ``retrace=False`` refuses a batch
    of another signature instead of building a second program;
    ``compile=True`` (or a dict of torch.compile options) hands each program
    to ``torch.compile``.
    """
    return TrainStep(model, loss_fn, optimizer, retrace, compile)


def compile_test(
    model: Module, softmax: bool = False, compile: bool | dict = False, *, retrace: bool = True
) -> PredictStep:
    """A function ``predict(x) -> tensor``: the model in evaluation mode, recording nothing.

    With ``softmax`` the outputs become probabilities over dimension 1 (the
    classes). Built once as a straight-line program, as compile_train's step.
    """
    return PredictStep(model, softmax, retrace, compile)
