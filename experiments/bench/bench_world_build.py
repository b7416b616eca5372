"""Time building every default world benchmark (``make bench``; not a test).

Builds each benchmark of :data:`common.world.benchmarks.BENCHMARKS` at its default sizes and
seed 0 into a temporary directory (data, card, manifest: what ``+exp=world_build`` writes) and
reports the seconds per dataset and in total. The project's target: well under 2 minutes on 2 cores.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from common.world.benchmarks import BENCHMARKS, save_benchmark


def main() -> dict[str, Any]:
    """Build every default benchmark once; return ``{"seconds": {...}, "total_s", "rows"}``."""
    seconds: dict[str, float] = {}
    rows: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench_world_") as tmp:
        start = time.perf_counter()
        for name in BENCHMARKS:
            t0 = time.perf_counter()
            manifest = save_benchmark(name, Path(tmp) / f"{name}-seed0", seed=0, overwrite=True)
            seconds[name] = round(time.perf_counter() - t0, 2)
            rows[name] = sum(manifest["rows"].values())
            print(f"{name:>16}: {seconds[name]:6.2f} s  ({rows[name]} rows)", flush=True)
        total = round(time.perf_counter() - start, 2)
    print(f"{'total':>16}: {total:6.2f} s", flush=True)
    return {"seconds": seconds, "rows": rows, "total_s": total, "target_s": 120}


if __name__ == "__main__":
    main()
