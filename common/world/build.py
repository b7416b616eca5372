"""The ``+exp=world_build`` task: build every world benchmark to disk, with cards and contact sheets.

The world level is the run's ``world.level`` (``world=basic`` by default, ``world=full`` for the
harder row). Datasets go to ``<paths.cache_dir>/world/<name>-seed<seed>`` at ``full``,
``<name>-<level>-seed<seed>`` at another level (other sizes or canvases: a ``-<hash>`` suffix;
:func:`world_dataset_path`, where
later experiments find them through :func:`common.world.benchmarks.load_world_dataset`), or,
with ``out: run_dir``, under ``<run_dir>/world/``. A dataset already built with the same
arguments is kept (``overwrite: true`` rebuilds). Contact sheets are written to
``<run_dir>/contact_sheets/<name>-<split>.png``; ``<run_dir>/world_build.json`` and the returned
metrics list rows, seconds, paths and rater agreement per dataset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
from omegaconf import DictConfig

from common.config import plain
from common.runtime import RunContext
from common.world.benchmarks import BENCHMARKS, dataset_stem, save_benchmark, world_dataset_path
from common.world.levels import run_level
from common.world.preview import write_contact_sheets


def run(
    cfg: DictConfig,
    ctx: RunContext,
    names: Sequence[str] | None = None,
    seed: int = 0,
    scale: float = 1.0,
    sizes: Mapping[str, Mapping[str, int]] | None = None,
    canvas: int = 128,
    out: str = "cache",
    overwrite: bool = False,
    preview: bool = True,
    preview_items: int = 12,
) -> dict[str, Any]:
    """Build ``names`` (all by default) with ``seed`` at the run's world level; sizes = defaults x
    ``scale``, then ``sizes[name][split]`` overrides. Returns per-dataset rows, seconds, path and
    agreement."""
    level = run_level(ctx.settings)
    chosen = list(plain(names) or BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        raise KeyError(f"unknown world benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    if out not in ("cache", "run_dir"):
        raise ValueError(f"out must be 'cache' or 'run_dir', got {out!r}")
    overrides = plain(sizes) or {}
    report: dict[str, Any] = {}
    total = time.perf_counter()
    for name in ctx.progress(chosen, desc="world_build", total=len(chosen)):
        if out == "cache":
            path = world_dataset_path(
                ctx.settings, name, seed, sizes=overrides.get(name), scale=scale, canvas=canvas, level=level
            )
        else:
            path = ctx.run_dir / "world" / dataset_stem(name, seed, level)
        start = time.perf_counter()
        manifest = save_benchmark(
            name,
            path,
            seed=seed,
            sizes=overrides.get(name),
            scale=scale,
            canvas=canvas,
            progress=ctx.progress,
            overwrite=overwrite,
            level=level,
        )
        seconds = round(time.perf_counter() - start, 2)
        sheets: list[Path] = []
        if preview:
            sheets = write_contact_sheets(
                name, datasets.load_from_disk(str(path)), ctx.run_dir / "contact_sheets", n=preview_items
            )
        report[name] = {
            "path": str(path),
            "rows": manifest["rows"],
            "seconds": seconds,
            "skipped": bool(manifest.get("skipped", False)),
            "fingerprints": manifest["fingerprints"],
            "stats": manifest["stats"],
            "contact_sheets": [str(p) for p in sheets],
        }
        ctx.log({"dataset": name, "seconds": seconds, "rows": sum(manifest["rows"].values())})
        for sheet in sheets:
            ctx.log_image(f"contact_sheets/{sheet.stem}", sheet, caption=f"{name} ({sheet.stem})")
    ctx.save_json("world_build.json", report)
    metrics: dict[str, Any] = {
        "seed": seed,
        "level": level,
        "seconds": round(time.perf_counter() - total, 2),
        "datasets": {
            n: {"rows": r["rows"], "seconds": r["seconds"], "path": r["path"]} for n, r in report.items()
        },
    }
    if "t2i_eval" in report:
        metrics["t2i_eval_agreement"] = {s: v["agreement"] for s, v in report["t2i_eval"]["stats"].items()}
    if "tifa" in report:
        metrics["tifa_agreement"] = report["tifa"]["stats"]["test"]["agreement"]
    return metrics
