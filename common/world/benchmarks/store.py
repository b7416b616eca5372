"""Where world benchmarks live on disk, how they are written, found and (re)built.

Layout: ``<cache_dir>/world/<name>-seed<seed>/`` (the ``full`` world level) or
``<cache_dir>/world/<name>-<level>-seed<seed>/`` (any other level, e.g. ``t2i_eval-basic-seed0``)
holds ``datasets.DatasetDict.save_to_disk`` output, the dataset card ``README.md`` and
``build.json`` (name, seed, sizes, canvas, level, build version, per-split fingerprints).
:func:`world_dataset_path` gives the directory for a run's settings; :func:`load_world_dataset` loads it
and, when it is missing or was built with other arguments, builds it first. Writes go to a
temporary sibling directory renamed into place, so a crashed or concurrent build never leaves a
half-written dataset where readers look.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import datasets

from common.runtime import DEFAULT_WORLD_SEED, RunSettings
from common.world.benchmarks.base import BuildArgs, Built, Progress, no_progress
from common.world.benchmarks.cards import render_card
from common.world.benchmarks.registry import BENCHMARKS
from common.world.levels import DEFAULT_LEVEL, get_level

BUILD_VERSION = 1
"""Bump when a builder changes what it writes: cached datasets of older versions are rebuilt."""

SettingsOrRoot = RunSettings | str | os.PathLike[str] | None
"""Where world datasets live: a run's settings (``<cache_dir>/world``), a directory, or ``None``
(:meth:`common.runtime.RunSettings.defaults`)."""


def _cache_root(settings_or_root: SettingsOrRoot) -> Path:
    if isinstance(settings_or_root, str | os.PathLike):
        return Path(settings_or_root)
    return RunSettings.of(settings_or_root).cache_dir / "world"


def world_seed(settings_or_root: SettingsOrRoot) -> int:
    """The world data seed of a run: ``settings.world_seed`` (``world.seed``, else 0; not the run's
    ``seed``: training seeds vary, the benchmark they are measured on should not); 0 for a
    directory or ``None``."""
    if isinstance(settings_or_root, RunSettings):
        return settings_or_root.world_seed
    return DEFAULT_WORLD_SEED


def dataset_stem(name: str, seed: int, level: str | None = None) -> str:
    """``<name>-seed<seed>`` at the ``full`` level (the names before levels existed), else
    ``<name>-<level>-seed<seed>``."""
    lv = get_level(level).name
    return f"{name}-seed{int(seed)}" if lv == DEFAULT_LEVEL else f"{name}-{lv}-seed{int(seed)}"


def world_dataset_path(
    settings_or_root: SettingsOrRoot,
    name: str,
    seed: int | None = None,
    *,
    sizes: Mapping[str, int] | None = None,
    scale: float = 1.0,
    canvas: int = 128,
    level: str | None = None,
) -> Path:
    """``<cache_dir>/world/<stem>`` for a run's settings (or ``<root>/<stem>`` for a directory ``root``),
    ``stem`` = :func:`dataset_stem` (``<name>-seed<seed>``; ``<name>-<level>-seed<seed>`` at a level
    other than ``full``) at the default sizes and canvas; other sizes or canvases get their own
    directory, ``<stem>-<8 hex digits of the resolved sizes and canvas>``, so a small build (a
    test, a smoke run) never replaces the full one that another run is reading."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown world benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    s = world_seed(settings_or_root) if seed is None else int(seed)
    bench = BENCHMARKS[name]
    resolved = bench.resolve_sizes(sizes, scale)
    stem = dataset_stem(name, s, level)
    if resolved != bench.resolve_sizes() or int(canvas) != 128:
        blob = json.dumps({"sizes": resolved, "canvas": int(canvas)}, sort_keys=True)
        stem += "-" + hashlib.sha256(blob.encode()).hexdigest()[:8]
    return _cache_root(settings_or_root) / stem


def arrow_fingerprint(path: Path) -> str:
    """SHA-256 over a saved dataset's arrow files (relative path + bytes), 16 hex digits."""
    h = hashlib.sha256()
    for f in sorted(path.rglob("*.arrow")):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def build_benchmark(
    name: str,
    *,
    seed: int = DEFAULT_WORLD_SEED,
    sizes: Mapping[str, int] | None = None,
    scale: float = 1.0,
    canvas: int = 128,
    progress: Progress = no_progress,
    level: str | None = None,
) -> Built:
    """Build ``name`` in memory at world ``level`` (sizes: defaults x ``scale``, then ``sizes``
    overrides)."""
    bench = BENCHMARKS[name]
    args = BuildArgs(
        seed=int(seed),
        sizes=bench.resolve_sizes(sizes, scale),
        canvas=int(canvas),
        progress=progress,
        level=get_level(level).name,
    )
    return bench.build(args)


def _manifest(name: str, seed: int, sizes: Mapping[str, int], canvas: int, level: str) -> dict[str, Any]:
    return {
        "name": name,
        "seed": int(seed),
        "sizes": dict(sizes),
        "canvas": int(canvas),
        "level": level,
        "version": BUILD_VERSION,
    }


def _built_as(have: Mapping[str, Any] | None, want: Mapping[str, Any]) -> bool:
    """Whether a saved manifest ``have`` was built with the arguments ``want`` (a manifest written
    before levels existed has no ``level``: it was built at ``full``)."""
    if have is None:
        return False
    have = {"level": DEFAULT_LEVEL, **have}
    return {k: have.get(k) for k in want} == dict(want)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The ``build.json`` of a saved benchmark, or None."""
    f = Path(path) / "build.json"
    return json.loads(f.read_text()) if f.is_file() else None


def save_benchmark(
    name: str,
    path: str | Path,
    *,
    seed: int = DEFAULT_WORLD_SEED,
    sizes: Mapping[str, int] | None = None,
    scale: float = 1.0,
    canvas: int = 128,
    progress: Progress = no_progress,
    overwrite: bool = False,
    level: str | None = None,
) -> dict[str, Any]:
    """Build ``name`` at world ``level`` and write it (data, README.md, build.json) to ``path``;
    returns the manifest.

    An existing directory built with the same arguments and version is kept unless ``overwrite``.
    """
    bench = BENCHMARKS[name]
    lv = get_level(level).name
    resolved = bench.resolve_sizes(sizes, scale)
    want = _manifest(name, seed, resolved, canvas, lv)
    path = Path(path)
    have = read_manifest(path)
    if have is not None and not overwrite and _built_as(have, want):
        return have | {"skipped": True}
    built = build_benchmark(name, seed=seed, sizes=resolved, canvas=canvas, progress=progress, level=lv)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    quiet = datasets.are_progress_bars_disabled()
    try:
        datasets.disable_progress_bars()  # our own bars say what is happening; theirs would repeat it
        built.data.save_to_disk(str(tmp))
        prints = {split: arrow_fingerprint(tmp / split) for split in built.data}
        manifest = want | {
            "fingerprints": prints,
            "rows": {s: len(d) for s, d in built.data.items()},
            "stats": built.stats,
        }
        card = render_card(
            bench, built, seed=seed, canvas=canvas, version=BUILD_VERSION, fingerprints=prints, level=lv
        )
        (tmp / "README.md").write_text(card)
        (tmp / "build.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a dataset cache is meant to be shared
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    return manifest


def load_world_dataset(
    settings_or_root: SettingsOrRoot,
    name: str,
    *,
    seed: int | None = None,
    sizes: Mapping[str, int] | None = None,
    scale: float = 1.0,
    canvas: int = 128,
    build: bool = True,
    progress: Progress = no_progress,
    level: str | None = None,
) -> datasets.DatasetDict:
    """Load world benchmark ``name`` at world ``level`` (a name; ``None``: ``full``) for a run's
    settings or a directory;
    build it first if missing or stale (``build``)."""
    lv = get_level(level).name
    path = world_dataset_path(settings_or_root, name, seed, sizes=sizes, scale=scale, canvas=canvas, level=lv)
    s = world_seed(settings_or_root) if seed is None else int(seed)
    want = _manifest(name, s, BENCHMARKS[name].resolve_sizes(sizes, scale), canvas, lv)
    if not _built_as(read_manifest(path), want):
        if not build:
            raise FileNotFoundError(
                f"world benchmark {name!r} is not built at {path} (or was built with other arguments); "
                f"run `python -m experiments.run +exp=world_build world={lv}`"
            )
        save_benchmark(
            name, path, seed=s, sizes=sizes, scale=scale, canvas=canvas, progress=progress, level=lv
        )
    return datasets.load_from_disk(str(path))
