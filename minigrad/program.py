"""Program: a recorded step written out as one straight-line Python function.

``minigrad/recording.py`` lists the torch calls one step made. Written out,
one line per call, with every tensor given a name, that list is a Python
function, a Wengert list you can read::

    def train_step(x, y, fc1_weight, fc1_bias, fc2_weight, fc2_bias):
        # forward: the tape's nodes, in order
        linear0 = F.linear(x, fc1_weight, fc1_bias)          # node 0 Linear
        relu1 = torch.relu(linear0)                          # node 1 ReLU
        del linear0
        pred = F.linear(relu1, fc2_weight, fc2_bias)         # node 2 Linear
        ...
        # backward: the same nodes, in reverse order
        ...
        grad_relu1 = grad_pred @ fc2_weight                  # node 2 Linear.backward
        ...
        return (pred, loss, fc1_weight_grad, fc1_bias_grad, fc2_weight_grad, fc2_bias_grad)

No Variable, Node or Payload is made when it runs: what a gate saved for its
backward is now a local (``log_probs3``), and the tape is the order of the
lines. A local is deleted (``del``) after its last use, as backprop frees
what a node saved once the node has been walked.

Names come from what the tensors are: the arguments, the results
(``loss``, ``fc1_weight_grad``), each node's output (``relu1``, the op and
its index on the tape), the gradient arriving at it (``grad_relu1``), what
its gate saved (``log_probs3``); the other temporaries are ``t0, t1 ...``.
A tensor that came from outside the step (a cached constant) is held by the
program (``const0``), and so is a factory call's tensor that nothing writes
to (``torch.ones_like(loss)``, backprop's seed): it is made once, not per call.

The source is compiled with ``exec`` once; ``str(program)`` is that source,
and it is also what a traceback shows.
"""

from __future__ import annotations

import linecache

import torch
import torch.nn.functional as F  # noqa: N812

from minigrad.recording import Kernel, made_once
from minigrad.source import Spelling

COMMENT_COLUMN = 56


class Program:
    """A straight-line function made from recorded kernels; ``str(program)`` is its source.

    ``arguments``: name -> tensor, the function's parameters in order.
    ``results``: name -> tensor, what it returns, in order (a tuple).
    ``hints``: ``(tensor, name)`` pairs to name other tensors by, best first.
    ``labels``: id(gate) -> how a line says where it came from (``"node 3 CrossEntropy"``).
    """

    def __init__(
        self,
        name: str,
        arguments: dict[str, torch.Tensor],
        kernels: list[Kernel],
        results: dict[str, torch.Tensor],
        hints: list[tuple[torch.Tensor, str]] = (),
        labels: dict[int, str] | None = None,
        header: list[str] = (),
    ):
        self.name = name
        self.kernel_count = len(kernels)
        writer = _Writer(arguments, results, hints, labels or {})
        self.source = writer.write(name, kernels, header)
        self.constants = writer.constants
        filename = f"<minigrad program {name} {id(self):x}>"
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)
        namespace = {"torch": torch, "F": F, **writer.constants}
        exec(compile(self.source, filename, "exec"), namespace)  # noqa: S102 (our own source)
        self.function = namespace[name]

    def __call__(self, *tensors: torch.Tensor):
        return self.function(*tensors)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"<minigrad Program {self.name}: {self.kernel_count} kernels>"


class _Writer(Spelling):
    """Names every tensor of a recording and writes the lines."""

    def __init__(self, arguments, results, hints, labels):
        super().__init__()
        self.arguments = list(arguments)
        self.names.update({id(t): n for n, t in arguments.items()})
        self.taken |= set(self.arguments)
        self.results = results
        self.result_ids = {id(t) for t in results.values()}
        # Preferred names for tensors a kernel will make: results first, then the hints.
        self.wanted: dict[int, str] = {}
        for tensor, wish in [(t, n) for n, t in results.items()] + list(hints):
            if id(tensor) not in self.names:
                self.wanted.setdefault(id(tensor), wish)
        self.labels = labels
        self.temporaries = 0

    # -- naming -------------------------------------------------------------
    def fresh(self, wish: str | None) -> str:
        if wish is None:
            while f"t{self.temporaries}" in self.taken:
                self.temporaries += 1
            wish = f"t{self.temporaries}"
            self.temporaries += 1
        name, n = wish, 2
        while name in self.taken:
            name, n = f"{wish}_{n}", n + 1
        self.taken.add(name)
        return name

    def define(self, tensor: torch.Tensor) -> str:
        """A name for a tensor a kernel has just made."""
        name = self.fresh(self.wanted.get(id(tensor)))
        self.names[id(tensor)] = name
        return name

    # -- the lines ----------------------------------------------------------
    def write(self, name: str, kernels: list[Kernel], header: list[str]) -> str:
        lines, section = [], None
        once = made_once(kernels, list(self.results.values()))
        for position, kernel in enumerate(kernels):
            if position in once:  # the same tensor every call: made here, held
                self.names[id(kernel.result)] = self.hold(
                    kernel.result, "const", f"{self.call(kernel)}, made once: nothing writes to it"
                )
                continue
            if kernel.section != section:
                section = kernel.section
                lines.append((f"# {section}", None))
            lines.append((self.statement(kernel), self.origin(kernel)))
        returned = ", ".join(self.value(t) for t in self.results.values())
        body = self.with_frees(lines)
        width = min(COMMENT_COLUMN, max([len(code) for code, note in body if note] + [0]))
        text = [
            f"    {code.ljust(width)}  # {note}" if note else f"    {code}" for code, note in body
        ]
        head = [f"# {line}" for line in header]
        if self.constant_notes:
            head += ["# held by the program:", *self.constant_notes]
        signature = f"def {name}({', '.join(self.arguments)}):"
        returned += "," if len(self.results) == 1 else ""
        return "\n".join([*head, signature, *text, f"    return ({returned})", ""])

    def statement(self, kernel: Kernel) -> str:
        call = self.call(kernel)
        result = kernel.result
        if isinstance(result, torch.Tensor):
            if id(result) in self.names:  # in place: the result is a tensor we already have
                return call
            return f"{self.define(result)} = {call}"
        if isinstance(result, (tuple, list)):
            targets = ["_" if id(r) in self.names or r is None else self.define(r) for r in result]
            return f"{', '.join(targets)}{',' if len(targets) == 1 else ''} = {call}"
        return call

    def origin(self, kernel: Kernel) -> str:
        if kernel.gate is None:
            return kernel.method
        label = self.labels.get(id(kernel.gate), kernel.gate.name)
        return label if kernel.method == "forward" else f"{label}.backward"

    def with_frees(self, lines: list) -> list:
        """The lines with ``del a, b`` after the last line that uses a local."""
        kept = set(self.arguments) | set(self.constants) | {self.names[i] for i in self.result_ids}
        kept |= {"torch", "F"}
        last_use: dict[str, int] = {}
        for position, (code, note) in enumerate(lines):
            if note is None:
                continue
            for word in _words(code):
                if word in self.taken and word not in kept:
                    last_use[word] = position
        frees: dict[int, list[str]] = {}
        for word, position in last_use.items():
            frees.setdefault(position, []).append(word)
        body = []
        for position, line in enumerate(lines):
            body.append(line)
            if position in frees:
                body.append((f"del {', '.join(sorted(frees[position]))}", None))
        return body


def _words(code: str) -> list[str]:
    """The identifiers in a line of code (enough to find which locals it uses)."""
    word, found = [], []
    for ch in code + " ":
        if ch.isalnum() or ch == "_":
            word.append(ch)
        elif word:
            found.append("".join(word))
            word = []
    return found
