"""World benchmarks: seeded HF datasets shaped like T2I-Eval-Bench, TIFA, ImageReward, FIRM-Bench.

Public API:
    BENCHMARKS                          name -> :class:`Benchmark` (splits, sizes, columns, builder)
    build_benchmark(name, seed=0, sizes=None, scale=1.0, canvas=128, level=None) -> Built (in memory)
    save_benchmark(name, path, ..., level=None) -> manifest      data + README.md card + build.json
    world_dataset_path(settings, name, seed=None, level=None) -> <cache_dir>/world/<name>-seed<seed>
        (``full``; another level: <name>-<level>-seed<seed>)
    load_world_dataset(settings, name, ..., level=None) -> DatasetDict (built on first use)
    prompt_side(prompt, level=None) -> "train" | "heldout"    the project-wide prompt split

``level`` is a :mod:`common.world.levels` name (``None``: ``full``, the world before levels).

See :mod:`~common.world.benchmarks.registry` for the list, :mod:`~.truth` for the ground truth
and :mod:`common.world.raters` for the simulated raters.
"""

from __future__ import annotations

from common.world.benchmarks.base import Benchmark, BuildArgs, Built
from common.world.benchmarks.items import prompt_pools, prompt_side
from common.world.benchmarks.registry import BENCHMARKS
from common.world.benchmarks.store import (
    BUILD_VERSION,
    arrow_fingerprint,
    build_benchmark,
    dataset_stem,
    load_world_dataset,
    read_manifest,
    save_benchmark,
    world_dataset_path,
    world_seed,
)

__all__ = [
    "BENCHMARKS",
    "BUILD_VERSION",
    "Benchmark",
    "BuildArgs",
    "Built",
    "arrow_fingerprint",
    "build_benchmark",
    "dataset_stem",
    "load_world_dataset",
    "prompt_pools",
    "prompt_side",
    "read_manifest",
    "save_benchmark",
    "world_dataset_path",
    "world_seed",
]
