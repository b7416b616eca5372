"""Run the benchmarks: ``python -m experiments.bench [name ...]`` (see the package docstring)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import experiments.bench as bench_pkg
from common.jsonio import write_json_atomic


def discover() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if m.name.startswith("bench_"))


def main(argv: list[str]) -> int:
    names = discover()
    chosen = [f"bench_{a.removeprefix('bench_')}" for a in argv] or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {[n.removeprefix('bench_') for n in names]}")
        return 2
    out_dir = Path("outputs/bench")
    for name in chosen:
        module = importlib.import_module(f"experiments.bench.{name}")
        start = time.perf_counter()
        result = module.main() or {}
        result.setdefault("wall_s", round(time.perf_counter() - start, 2))
        write_json_atomic(out_dir / f"{name.removeprefix('bench_')}.json", result)
        print(f"== {name.removeprefix('bench_')}\n{json.dumps(result, indent=2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
