"""One step of a model, recorded once and written out as a Program; and the cache of them.

:func:`record_step` runs one step for real, eagerly, on the tape, under a
:class:`~minigrad.recording.KernelRecorder`, and turns what it recorded into
a :class:`~minigrad.program.Program` whose arguments are the batch and every
Variable of the model (read afresh on each call, so in-place updates and
``model.to`` are seen). While it records, the tape keeps its outputs
(``keep_outputs``), so that the program can name each node's output after
the node (``relu1``) and each saved tensor after what its gate called it.

If the step fails or is refused, everything it touched is put back: the
model's values and gradients, the random generator, the tape. A refused
step changes nothing.

:class:`ProgramCache` holds one program per input signature (shapes,
dtypes, devices and strides of the batch and of the model's values). A new
signature is *retraced*: recorded again as an eager step, which is also
that call's result. With ``retrace=False`` a new signature is refused with
a ShapeError, DTypeError or DeviceError instead.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

import torch

from minigrad.anomaly import AnomalyMode
from minigrad.errors import CompileError, DeviceError, DTypeError, ShapeError, format_shape
from minigrad.program import Program
from minigrad.recording import KernelRecorder
from minigrad.variable import Variable

MAX_PROGRAMS = 8  # as torch.compile's cache: more signatures than this is a sign of a mistake


def identifier(name: str) -> str:
    """``fc1.weight`` -> ``fc1_weight``; ``0.weight`` (a Sequential's) -> ``layer0_weight``.

    A name the program needs for itself (``torch``, ``F``) or a Python keyword gets a ``_``.
    """
    text = "".join(ch if ch.isalnum() else "_" for ch in name)
    text = f"layer{text}" if text[:1].isdigit() else text
    return f"{text}_" if keyword.iskeyword(text) or text in ("torch", "F") else text


class Snapshot:
    """What a recorded step may change, taken before it, to put back if it fails."""

    def __init__(self, variables: list[Variable], context):
        with torch.no_grad():
            self.values = [(v, v.value, v.value.clone(), v.grad) for v in variables]
        self.rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        self.context, self.length = context, len(context.nodes)
        self.keep_outputs = context.keep_outputs

    def restore(self) -> None:
        with torch.no_grad():
            for variable, tensor, copy, grad in self.values:
                tensor.copy_(copy)
                variable.value, variable.grad = tensor, grad
        torch.set_rng_state(self.rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        nodes = self.context.nodes
        for node in nodes[self.length :]:
            node.release()
        del nodes[self.length :]


def record_step(
    caller: str,
    name: str,
    run: Callable,
    batch: dict[str, torch.Tensor],
    state: list[tuple[str, Variable]],
    context,
    header: list[str],
):
    """Run ``run(recorder)`` once, eagerly and recorded; return ``(its results, the Program)``.

    ``run`` calls the model (``recorder.section`` may label its phases; it
    calls ``recorder.note_tape()`` right after the forward pass) and returns
    a dict: result name -> tensor, what the program will return.
    """
    if AnomalyMode.enabled:
        raise CompileError(
            f"{caller}: detect_anomaly() is on; its checks read every value into Python, which "
            "a straight-line program cannot replay\n"
            "help: build and run the compiled step outside the detect_anomaly() block"
        )
    for variable_name, variable in state:
        if variable.hooks:
            raise _hook_refusal(caller, variable_name)
    snapshot = Snapshot([v for _, v in state], context)
    recorder = KernelRecorder(caller)
    tape = TapeNames(caller, context, snapshot.length)
    recorder.note_tape = tape.note
    context.keep_outputs = True  # so that each node's output can be named (and checked for hooks)
    try:
        with recorder:
            results = run(recorder)
    except BaseException:
        snapshot.restore()
        raise
    finally:
        context.keep_outputs = snapshot.keep_outputs
    arguments = {**batch, **{identifier(n): v.value for n, v in state}}
    hints = tape.hints(recorder, results)
    program = Program(name, arguments, recorder.kernels, results, hints, tape.labels, header)
    return results, program


class TapeNames:
    """After the forward pass: a label for each node, names for its output and saved tensors."""

    def __init__(self, caller: str, context, start: int):
        self.caller, self.context, self.start = caller, context, start
        self.labels: dict[int, str] = {}
        self.outputs: list[tuple[torch.Tensor, str, int, int]] = []
        self.saved: list[tuple[torch.Tensor, str]] = []

    def note(self) -> None:
        for node in self.context.nodes[self.start :]:
            op, index = node.op, node.index
            self.labels[id(node.gate)] = f"node {index} {op}"
            outputs = node.payload.outputs()
            for slot, variable in enumerate(outputs):
                if variable is None:
                    continue
                if variable.hooks:
                    raise _hook_refusal(self.caller, f"the output of node {index} ({op})")
                suffix = f"_{slot}" if len(outputs) > 1 else ""
                name = f"{op.lower()}{index}{suffix}"
                self.outputs.append((variable.value, name, id(node.gate), slot))
            for attr, tensor in node.gate.saved_tensors().items():
                self.saved.append((tensor, f"{attr}{index}"))

    def hints(self, recorder: KernelRecorder, results: dict) -> list[tuple[torch.Tensor, str]]:
        """Names for tensors: each node's output, the gradient arriving at it, what it saved."""
        roles = {id(t): name for name, t in results.items()}  # pred, loss: named as results
        arriving = []
        for tensor, name, gate, slot in self.outputs:
            grad = recorder.arriving.get(gate)
            if isinstance(grad, (tuple, list)):  # a node with several outputs gets one each
                grad = grad[slot]
            if isinstance(grad, torch.Tensor):
                arriving.append((grad, f"grad_{roles.get(id(tensor), name)}"))
        return [(t, n) for t, n, _, _ in self.outputs] + arriving + self.saved


def _hook_refusal(caller: str, what: str) -> CompileError:
    return CompileError(
        f"{caller}: {what} has a hook (register_hook); a hook is Python that the program "
        "would run only once, while recording\n"
        "help: remove the hook before compiling, or train eagerly (loss.backward()) to keep it"
    )


def signature_of(tensors) -> tuple:
    return tuple([(t.shape, t.dtype, t.device, t.stride()) for t in tensors])


class ProgramCache:
    """The programs of one compiled step, one per input signature (see the module docstring)."""

    def __init__(self, caller: str, input_names: list[str], retrace: bool, compile):
        self.caller, self.input_names, self.retrace = caller, input_names, retrace
        self.compile = compile
        self.runners: dict[tuple, Callable] = {}
        self.programs: dict[tuple, Program] = {}
        self.latest: Program | None = None

    def find(self, key: tuple) -> Callable | None:
        """The function to run for this signature, or None: record a new program."""
        runner = self.runners.get(key)
        if runner is None and self.programs:
            if not self.retrace:
                raise self._changed(next(iter(self.programs)), key)
            if len(self.programs) >= MAX_PROGRAMS:
                raise CompileError(
                    f"{self.caller}: {len(self.programs) + 1} different input signatures, more "
                    f"than the {MAX_PROGRAMS} programs a step keeps\n"
                    "help: feed batches of one shape (DataLoader(..., drop_last=True)), or pad "
                    "them to a few fixed sizes"
                )
        return runner

    def add(self, key: tuple, program: Program) -> None:
        self.programs[key] = program
        self.latest = program
        function = program.function
        if self.compile:
            options = self.compile if isinstance(self.compile, dict) else {}
            function = torch.compile(function, **options)
        self.runners[key] = function

    def _changed(self, built: tuple, got: tuple) -> Exception:
        for name, old, new in zip(self.input_names, built, got):
            if old == new:
                continue
            kinds = ((0, "shape", ShapeError), (1, "dtype", DTypeError), (2, "device", DeviceError))
            for position, what, error in kinds:
                if old[position] != new[position]:
                    show = format_shape if what == "shape" else str
                    return error(
                        f"{self.caller}: the program was built for {name} of {what} "
                        f"{show(old[position])}, got {show(new[position])} (retrace=False)\n"
                        "help: pass inputs like the first ones (DataLoader(..., drop_last=True) "
                        "keeps every batch the same size), or compile with retrace=True to build "
                        "a program per signature"
                    )
            return ShapeError(
                f"{self.caller}: the program was built for {name} with strides {old[3]}, got "
                f"{new[3]} (retrace=False)\nhelp: pass a contiguous tensor (x.contiguous())"
            )
        return ShapeError(f"{self.caller}: the inputs changed (retrace=False)")
