"""Checking a chain of gradients in backward order: the first wrong one, and nothing after it.

A backward pass written by hand, stage by stage, goes wrong at one stage and
then every stage after it is wrong too, because each one is built from the
one before. Reporting all of them buries the one mistake under a wall of
failures. So :func:`expect_chain` compares the stages in the order backward
computes them and stops at the first that differs: every stage before it is
right, so the mistake is *in* that stage (in its local derivative, its shape,
its sum), not upstream of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from minigrad.exercises.checking import Check
from minigrad.exercises.compare import mismatch
from minigrad.exercises.diagnoses import Mistake


def expect_chain(
    check: Check,
    expected: Mapping[str, object],
    received,
    mistakes: Mapping[str, tuple[Mistake, ...]] | None = None,
    factors: Mapping[str, dict] | None = None,
    what: str = "the gradient of",
) -> None:
    """FAIL at the first name of ``expected`` (in its order) whose ``received`` value is wrong.

    ``expected`` maps each stage's name to its right value, in backward order;
    ``received`` is the learner's mapping of the same names. ``mistakes`` and
    ``factors`` give, per name, what :meth:`Check.expect` would take. The
    FAIL names the stages already right and says that none after it was
    checked.
    """
    if not isinstance(received, Mapping):
        check.fail(
            f"expected a dict of gradients (name -> tensor), received {type(received).__name__}",
            "return the dict you filled in, one entry per stage",
        )
    mistakes, factors = mistakes or {}, factors or {}
    right: list[str] = []
    for name, want in expected.items():
        if name not in received:
            check.fail(
                f"there is no entry {name!r} yet {_so_far(right)}",
                f"add {what} {name} next: it is the stage backward reaches after "
                + (right[-1] if right else "the loss"),
            )
        found = mismatch(
            f"{what} {name}",
            want,
            received[name],
            mistakes=mistakes.get(name, ()),
            factors=factors.get(name),
        )
        if found is not None:
            later = list(expected)[len(right) + 1 :]
            after = f"; nothing after it was checked ({', '.join(later)})" if later else ""
            check.fail(f"{found.detail} {_so_far(right)}{after}", found.diagnosis)
        right.append(name)


def _so_far(right: list[str]) -> str:
    if not right:
        return "(it is the first stage backward computes)"
    return f"(the stages before it are right: {', '.join(right)})"
