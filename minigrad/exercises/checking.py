"""How a check runs: the learner's code on copies, its answer compared, PASS or FAIL printed.

An exercise's check is a function decorated with :func:`exercise`. It receives
a :class:`Check` and what the learner wrote, and is written in the order an
honest check needs:

1. draw the inputs (several seeds, shapes and magnitudes, so that a hard-coded
   answer fails) and compute the expected values from them, first;
2. call the learner's code with ``check.call(fn, *inputs, names=...)``, which
   hands over copies and notes any input the code changed in place;
3. compare with ``check.expect(name, expected, received, mistakes=...)``,
   which FAILs on the first wrong element with a diagnosis;
4. return one line saying what PASS verified.

A check never raises on a learner's mistake (not even on an unfinished gap):
it prints ``FAIL <id>: ...`` and returns a falsy :class:`CheckResult`, so a
lesson still runs to its end. While grading (``exercises.grading(True)``) a
FAIL also raises :class:`ExerciseFailed`, which an autograder counts.
"""

from __future__ import annotations

import operator
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch

from minigrad.errors import MinigradError
from minigrad.exercises import outcomes
from minigrad.exercises.compare import mismatch, number
from minigrad.exercises.diagnoses import Mistake
from minigrad.exercises.registry import Exercise, register
from minigrad.tape import Node

_PACKAGE = str(Path(__file__).resolve().parents[1])  # frames inside minigrad are not the learner's


class ExerciseFailed(MinigradError, AssertionError):
    """A check that FAILed while grading: a cell that raises is how an autograder counts it."""


class Grading:
    """The switch behind :func:`grading`: off for a learner, on in a graded copy."""

    enabled = False


def grading(on: bool = True) -> None:
    """Make every failing check raise :class:`ExerciseFailed` (``on=False`` turns it off)."""
    Grading.enabled = bool(on)


@dataclass
class CheckResult:
    """The outcome of one check: truthy on PASS. ``message`` is what was printed."""

    exercise: str
    ok: bool
    message: str
    diagnosis: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return self.message


class _Failed(Exception):
    def __init__(self, detail: str, diagnosis: str | None):
        super().__init__(detail)
        self.detail = detail
        self.diagnosis = diagnosis


class Check:
    """What a check body uses to run the learner's code and judge its answer."""

    def __init__(self, exercise: Exercise):
        self.exercise = exercise
        self.case = ""  # the inputs being tried, in words ("A (2, 3) and B (3, 4)")
        self.changed: dict[str, str] = {}  # input name -> how the learner's code modified it

    def fail(self, detail: str, diagnosis: str | None = None) -> NoReturn:
        """Stop here: FAIL with ``detail`` (what and where) and ``diagnosis`` (what kind)."""
        raise _Failed(f"with {self.case}: {detail}" if self.case else detail, diagnosis)

    def call(self, fn, *args, names: tuple[str, ...] = (), explain=None):
        """``fn(*copies of args)``: the learner's answer. Errors in it become a FAIL.

        Tensors, lists, tuples and dicts are copied; anything else (a function,
        a tape) is passed as it is. A copy that comes back changed is noted.
        ``explain(error)`` may give a diagnosis for an error typical of this exercise.
        """
        names = tuple(names) + tuple(f"input {i}" for i in range(len(names), len(args)))
        copies = [_copy(a) for a in args]
        before = [_copy(c) for c in copies]
        try:
            result = fn(*copies)
        except _Failed:
            raise
        except NotImplementedError:
            self.case = ""
            self.fail(
                "the gap is still empty (NotImplementedError): replace the `raise` line with "
                "your code",
                None,
            )
        except Exception as error:  # the learner's code: report it, never crash the lesson
            self.fail(_raised(error), (explain and explain(error)) or _explain(error))
        for name, copy_, original in zip(names, copies, before):
            change = _change(copy_, original)
            if change and name not in self.changed:
                self.changed[name] = change
        return result

    def expect(self, name: str, expected, received, **options) -> None:
        """FAIL unless ``received`` equals ``expected`` (see :func:`.compare.mismatch`)."""
        found = mismatch(name, expected, received, **options)
        if found is not None:
            self.fail(found.detail, found.diagnosis)

    def expect_sequence(self, received, length: int, what: str) -> tuple:
        """``received`` as a tuple of ``length`` items, or FAIL saying what was expected."""
        if not isinstance(received, (tuple, list)) or len(received) != length:
            got = (
                f"{len(received)} item(s)"
                if isinstance(received, (tuple, list))
                else type(received).__name__
            )
            self.fail(f"expected {what} ({length} items), received {got}")
        return tuple(received)

    def expect_index(self, received, what: str = "an index") -> int:
        """``received`` as an int: any int-like value (np.int64, a 0-d integer tensor) counts."""
        if isinstance(received, bool):
            self.fail(f"expected {what} (an int), received {received!r}")
        try:
            return operator.index(received)
        except TypeError:
            self.fail(f"expected {what} (an int), received {_short(received)}")

    def expect_node_index(self, received, ctx, when_none: str | None = None) -> int:
        """``received`` as the index of a node of the tape ``ctx``: a Node or any int-like value.

        FAILs for None (``when_none`` says why there must be one), a non-integer, or an
        index that is not on the tape.
        """
        if isinstance(received, Node):
            received = received.index
        if received is None:
            self.fail("expected a node index (an int), received None", when_none)
        index = self.expect_index(received, "a node index")
        if not 0 <= index < len(ctx):
            self.fail(f"the answer {index} is wrong: that tape has nodes 0 to {len(ctx) - 1}")
        return index


def exercise(id: str, lesson: int, title: str, hints: tuple[str, ...]):
    """Register an exercise and turn ``body(check, *answers)`` into its check function.

    The returned function takes the learner's answers, prints PASS or FAIL,
    records the outcome for :func:`~minigrad.exercises.progress` and returns
    a :class:`CheckResult`.
    """
    spec = register(Exercise(id, lesson, title, tuple(hints)))

    def decorate(body):
        if body.__name__ != f"check_{id}":
            raise ValueError(f"the check of exercise {id!r} must be called check_{id}")

        def check(*answers) -> CheckResult:
            checker = Check(spec)
            try:
                summary = body(checker, *answers)
                if checker.changed:
                    checker.case = ""
                    checker.fail(
                        "the values are right, but your code changed its input "
                        + _changes(checker.changed),
                        "an input belongs to the caller, who may still use it (in backprop one "
                        "gradient tensor can be shared by several gates, so an in-place op "
                        "corrupts theirs): build new values instead of modifying the ones you "
                        "were given",
                    )
                result = CheckResult(spec.id, True, f"PASS {spec.id}: {summary}")
            except _Failed as failed:
                result = _failure(spec, failed, checker.changed)
            print(result.message)
            if Grading.enabled:
                if not result.ok:
                    raise ExerciseFailed(result.message)
            else:
                outcomes.record(spec.id, result.ok)
            return result

        check.__name__ = check.__qualname__ = body.__name__
        check.__doc__ = body.__doc__
        check.__module__ = body.__module__
        check.exercise = spec
        return check

    return decorate


def draw(generator: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    """A float64 tensor of standard-normal values times ``scale``."""
    return torch.randn(shape, generator=generator, dtype=torch.float64) * scale


def _changes(changed: dict[str, str]) -> str:
    return "; ".join(f"{name}: {how}" for name, how in changed.items())


def _failure(spec: Exercise, failed: _Failed, changed: dict[str, str]) -> CheckResult:
    lines = [f"FAIL {spec.id}: {failed.detail}"]
    if failed.diagnosis:
        lines.append(f"diagnosis: {failed.diagnosis}")
    if changed and "changed its input" not in failed.detail:
        lines.append("note: your code also changed its input " + _changes(changed))
    lines.append(
        f'hint: exercises.hint("{spec.id}") gives the idea behind it (call it again for more)'
    )
    return CheckResult(spec.id, False, "\n".join(lines), failed.diagnosis)


def _copy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _change(now, before) -> str:
    """How ``now`` differs from ``before`` (empty when it does not)."""
    if isinstance(before, torch.Tensor):
        if now.shape != before.shape:
            return f"its shape went from {tuple(before.shape)} to {tuple(now.shape)}"
        if before.is_meta:  # a meta tensor has a shape but no values to compare
            return ""
        differ = ~((now == before) | (torch.isnan(now) & torch.isnan(before)))
        if bool(differ.any()):
            flat = int(differ.reshape(-1).nonzero()[0])
            was, is_ = before.reshape(-1)[flat].item(), now.reshape(-1)[flat].item()
            return f"an element was {number(was)} and is now {number(is_)}: changed in place"
        return ""
    if isinstance(before, (list, tuple, dict)):
        if type(now) is not type(before) or len(now) != len(before):
            return "its length changed"
        if isinstance(before, dict):
            if now.keys() != before.keys():
                return "its keys changed"
            now, before = list(now.values()), list(before.values())
        for a, b in zip(now, before):
            nested = isinstance(b, (torch.Tensor, list, tuple, dict))
            if (nested and _change(a, b)) or (not nested and a is not b and a != b):
                return "its contents or their order changed"
    return ""


def _raised(error: Exception) -> str:
    first = str(error).splitlines()[0] if str(error) else ""
    where = ""
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_PACKAGE)
    ]
    learner = [f for f in frames if "site-packages" not in f.filename]
    if learner:
        frame = learner[-1]
        where = f" (in {frame.name}, line {frame.lineno} of its cell)"
    return f"your code raised {type(error).__name__}{where}: {first}"


def _explain(error: Exception) -> str | None:
    if isinstance(error, RecursionError):
        return (
            "Python stops after about a thousand nested calls, and a real network's tape is "
            "longer than that: walk it with a loop (and a list of your own) instead of recursion"
        )
    if isinstance(error, MinigradError):  # minigrad's own errors end with how to fix them
        helps = [line for line in str(error).splitlines() if line.startswith("help:")]
        return helps[0].removeprefix("help:").strip() if helps else None
    return None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["Check", "CheckResult", "ExerciseFailed", "Mistake", "draw", "exercise", "grading"]
