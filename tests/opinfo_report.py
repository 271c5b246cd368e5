"""The tally of torch's OpInfo samples: how many each op ran, passed and refused.

``tests/test_opinfo.py`` adds one :class:`Tally` per (op, dtype, layout, device);
``tests/conftest.py`` prints :func:`summary` at the end of the session, so the
numbers come with every run that includes those tests.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from tests.op_cases import REFUSED_ARGUMENTS


@dataclass
class Tally:
    """One op's samples in one setting."""

    family: str
    op: str
    setting: str  # e.g. "float64 contiguous cpu"
    run: int = 0
    passed: int = 0
    refused: dict = field(default_factory=dict)  # argument name -> how many samples
    failed: list = field(default_factory=list)  # one line per failing sample
    float64_oracle: int = 0  # float32 samples closer to torch's float64 than to its float32


TALLIES: list[Tally] = []


def summary() -> str:
    """Samples passed / run per op family and setting, then the arguments still refused."""
    if not TALLIES:
        return ""
    settings = sorted({t.setting for t in TALLIES})
    families: dict = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    refused: dict = defaultdict(set)
    refusals = 0
    for t in TALLIES:
        cell = families[t.family][t.setting]
        cell[0] += t.passed
        cell[1] += t.run
        for argument, count in t.refused.items():
            refused[argument].add(t.op)
            refusals += count
    width = max(len(f) for f in families) + 2
    lines = ["torch OpInfo samples passed / run, per op family", ""]
    lines.append("family".ljust(width) + "".join(s.rjust(28) for s in settings))
    totals = defaultdict(lambda: [0, 0])
    for family in sorted(families):
        row = family.ljust(width)
        for s in settings:
            passed, run = families[family][s]
            totals[s][0] += passed
            totals[s][1] += run
            row += f"{passed} / {run}".rjust(28)
        lines.append(row)
    lines.append("all".ljust(width) + "".join(f"{p} / {r}".rjust(28) for p, r in totals.values()))
    lines.append("")
    wide = [f"{t.op} ({t.setting}): {t.float64_oracle}" for t in TALLIES if t.float64_oracle]
    lines.append(
        "float32 samples that matched torch's float64 result but not its float32 one: "
        + (", ".join(wide) if wide else "none")
    )
    lines.append(
        f"arguments refused in these samples: {len(refused)} ({refusals} sample runs)"
        + "".join(f"\n  {arg}: {', '.join(sorted(ops))}" for arg, ops in sorted(refused.items()))
    )
    by_design: dict = defaultdict(set)
    for op, _, argument in REFUSED_ARGUMENTS:
        by_design[argument].add(op)
    lines.append(
        f"arguments minigrad leaves out on purpose: {len(by_design)}"
        + "".join(f"\n  {arg}: {', '.join(sorted(ops))}" for arg, ops in sorted(by_design.items()))
    )
    return "\n".join(lines)
