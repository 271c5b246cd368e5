"""``./run bench`` (``python -m benchmarks``): every benchmark, one after another.

python -m benchmarks            engine, higher order, models, compile, training loop,
                                distributed, widgets, live training, the course's transformer
python -m benchmarks engine     only one of them (engine, higher, models, compile, training,
                                distributed, widgets, live, part2)
python -m benchmarks peers      micrograd and tinygrad: run as ``./run bench peers``, which
                                makes their separate environment (.venv-peers) first
"""

from __future__ import annotations

import sys

from benchmarks import (
    bench_compile,
    bench_distributed,
    bench_engine,
    bench_higher_order,
    bench_live_training,
    bench_models,
    bench_part2,
    bench_peers,
    bench_training_loop,
    bench_widgets,
)

SUITES = {
    "engine": lambda: bench_engine.main([]),
    "higher": lambda: bench_higher_order.main([]),
    "models": lambda: bench_models.main([]),
    "compile": lambda: bench_compile.main([]),
    "training": lambda: bench_training_loop.main([]),
    "distributed": lambda: bench_distributed.main([]),
    "widgets": bench_widgets.main,
    "live": lambda: bench_live_training.main([]),
    "part2": lambda: bench_part2.main([]),
}
OPT_IN = {"peers": lambda: bench_peers.main([])}  # only when named: it needs .venv-peers


def main(argv: list[str]) -> None:
    chosen = argv or list(SUITES)
    known = {**SUITES, **OPT_IN}
    unknown = [name for name in chosen if name not in known]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(known)}")
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        known[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
