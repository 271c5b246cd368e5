"""Peers: micrograd and tinygrad against torch eager, each in its own process.

``./run bench peers`` makes a separate environment, ``.venv-peers`` (torch
2.13.0+cpu, numpy, micrograd and tinygrad; never part of the default set-up,
never used by the tests), and runs this. Each peer runs in a fresh process
(``benchmarks/peer_worker.py``), where torch eager is measured again, on the
same batch and the same loss, so each figure is peer / torch *in that
process*: one training step of the MLP 64-128-10 on the digits at batch 32.
tinygrad's CPU backend compiles its kernels with clang (``./run`` installs
Debian's clang when it is missing and it can).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import format_time, load_line, markdown_table

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
ORDER = ["micrograd", "micrograd, cyclic GC off", "tinygrad", "tinygrad TinyJit"]


def measure(name: str, python: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(python), "-m", "benchmarks.peer_worker", name],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"peer": name, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv=None) -> int:
    python = Path(argv[0]) if argv else PEERS_PYTHON
    if not python.exists():
        print(f"no peers environment at {python}\nhelp: run `./run bench peers`, which makes it")
        return 1
    print(f"each peer in its own process, one thread, CPU time of the process; {load_line()}")
    rows = []
    for name in ORDER:
        result = measure(name, python)
        if "error" in result:
            rows.append([name, "failed", "", "", "", result["error"]])
            continue
        rows.append([
            name, format_time(result["peer_seconds"]), format_time(result["torch_seconds"]),
            _ratio(result["ratio"]),
            f"{_ratio(result['low'])}-{_ratio(result['high'])}",
            f"{result['loss']}, {result['turns']} turns",
        ])  # fmt: skip
        print(f"measured {name}", file=sys.stderr, flush=True)
    header = ["peer (MLP 64-128-10, digits, batch 32)", "peer", "torch eager", "peer / torch",
              "spread (IQR)", "loss, turns"]  # fmt: skip
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
