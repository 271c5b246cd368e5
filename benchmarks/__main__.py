"""``./run bench`` (``python -m benchmarks``): every benchmark, one after another.

python -m benchmarks            engine, training loop, compile, distributed, widgets, live training
python -m benchmarks engine     only one of them (engine, training, compile, distributed, widgets,
                                live)
"""

from __future__ import annotations

import sys

from benchmarks import (
    bench_compile,
    bench_distributed,
    bench_engine,
    bench_live_training,
    bench_training_loop,
    bench_widgets,
)

SUITES = {
    "engine": lambda: bench_engine.main([]),
    "training": lambda: bench_training_loop.main([]),
    "compile": lambda: bench_compile.main([]),
    "distributed": lambda: bench_distributed.main([]),
    "widgets": bench_widgets.main,
    "live": lambda: bench_live_training.main([]),
}


def main(argv: list[str]) -> None:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(SUITES)}")
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        SUITES[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
