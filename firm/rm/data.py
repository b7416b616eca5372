"""Where a reward model's curated training data comes from.

Either a directory written by ``+exp=firm_edit_curate`` / ``+exp=firm_gen_curate`` (any
annotator: the world oracle, an OpenAI-compatible endpoint, an in-process VLM), given as
``data.path``, or, when no path is given, the curation run here on first use with the world
oracle (``conf/annotator/oracle.yaml``, overridable by ``data.annotator``) and cached under
``<cache_dir>/firm_curated/<kind>-<key>`` where ``key`` hashes the curation parameters, the
annotator settings, the data seed and the world level (a level other than ``full``; the keys of
``full`` curations are those from before levels existed), so a curation at one level is never
read at another. Building happens in a ``.partial`` sibling renamed into
place when complete, under a file lock, so concurrent runs (e.g. three training seeds) curate
once and a killed build never leaves half a dataset where readers look.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.presets import load_preset
from common.rewards.modes import KIND_MODES
from common.runtime import RunContext, RunSettings
from common.train import file_lock
from common.world.levels import DEFAULT_LEVEL, get_level

__all__ = ["CURATED_DIR", "CURATION_TASKS", "CuratedData", "curated_cache_dir", "load_curated"]


@dataclass
class CuratedData:
    """``task.data`` of the FIRM RM experiments: the curated data an RM trains on (the arguments
    of :func:`load_curated` besides the kind and the level).

    Attributes:
        path: a curated directory (``+exp=firm_*_curate``'s output); ``None``: the world-oracle
            curation with ``curate``, built on first use and cached.
        curate: parameters of that curation task (``n_examples`` / ``n_prompts``, ...).
        seed: the data seed (the same data for every training seed).
        annotator: overrides of ``conf/annotator/oracle.yaml`` (e.g. ``{noise: 0.0}``).
    """

    path: str | None = None
    curate: dict[str, Any] | None = None
    seed: int = 0
    annotator: dict[str, Any] | None = None


CURATED_DIR = "firm_curated"
CURATION_TASKS: dict[str, str] = {"edit": "firm.tasks.edit_curate", "gen": "firm.tasks.gen_curate"}
"""The curation task module that builds each kind's data."""


def _oracle_node(seed: int, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    node = OmegaConf.merge(load_preset("annotator", "oracle"), {"seed": seed}, dict(overrides or {}))
    out = OmegaConf.to_container(node, resolve=True)
    assert isinstance(out, dict)
    return out


def curated_cache_dir(
    settings: RunSettings | None,
    kind: str,
    curate: Mapping[str, Any],
    seed: int,
    annotator: Mapping[str, Any] | None = None,
    level: str | None = None,
) -> Path:
    """``<cache_dir>/firm_curated/<kind>-<key>`` for these curation settings at world ``level``
    (nothing is built)."""
    payload: dict[str, Any] = {
        "kind": kind,
        "curate": dict(curate),
        "seed": int(seed),
        "annotator": _oracle_node(seed, annotator),
    }
    lv = get_level(level).name
    if lv != DEFAULT_LEVEL:
        payload["level"] = lv
    key = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return RunSettings.of(settings).cache_dir / CURATED_DIR / f"{kind}-{key}"


def _complete(path: Path, kind: str) -> bool:
    return (path / "README.md").is_file() and all((path / m).is_dir() for m in KIND_MODES[kind])


def _curate(
    cfg: DictConfig, kind: str, out: Path, curate: Mapping[str, Any], seed: int, annotator: Any, level: str
) -> dict[str, Any]:
    """Run the kind's curation task with the world oracle at world ``level`` into ``out``; returns
    its metrics."""
    import importlib

    task = importlib.import_module(CURATION_TASKS[kind])
    run_cfg = OmegaConf.merge(cfg, {"seed": int(seed), "world": {"level": level}})
    OmegaConf.update(run_cfg, "annotator", _oracle_node(seed, annotator), force_add=True, merge=False)
    ctx = RunContext(run_dir=out / "_curation_run", cfg=run_cfg, seed=int(seed))  # type: ignore[arg-type]
    metrics = task.run(run_cfg, ctx, out_dir=str(out), **dict(curate))
    shutil.rmtree(out / "_curation_run", ignore_errors=True)
    return metrics


def load_curated(
    kind: str,
    cfg: DictConfig,
    *,
    path: str | None = None,
    curate: Mapping[str, Any] | None = None,
    seed: int = 0,
    annotator: Mapping[str, Any] | None = None,
    level: str | None = None,
    settings: RunSettings | None = None,
) -> tuple[dict[str, Any], Path]:
    """The curated subsets of ``kind`` (``{mode: datasets.Dataset}``) and their directory.

    ``path``: a curated directory (``<path>/<mode>`` for each mode of the kind); ``None``: the
    cached world-oracle curation with parameters ``curate`` (those of the curation task, e.g.
    ``n_examples`` / ``n_prompts``), data seed ``seed``, oracle settings ``annotator`` and world
    ``level`` (a :mod:`common.world.levels` name; ``None``: ``full``). The curation runs as a
    task of ``cfg`` (the run config); ``settings`` (the run's; ``None``: those of ``cfg``) give
    the cache directory.
    """
    import datasets

    if kind not in KIND_MODES:
        raise ValueError(f"unknown RM kind {kind!r}; choose from {', '.join(KIND_MODES)}")
    if path is not None:
        root = Path(path).expanduser()
        missing = [m for m in KIND_MODES[kind] if not (root / m).is_dir()]
        if missing:
            raise FileNotFoundError(
                f"{root} is not a curated {kind} directory: no subset(s) {missing} "
                f"(write one with +exp=firm_{kind}_curate)"
            )
    else:
        curate = dict(curate or {})
        lv = get_level(level).name
        run = settings if settings is not None else RunSettings.from_config(cfg)
        root = curated_cache_dir(run, kind, curate, seed, annotator, lv)
        if not _complete(root, kind):
            with file_lock(root.with_name(f".{root.name}.lock")):
                if not _complete(root, kind):  # another process may have finished it meanwhile
                    partial = root.with_name(f".{root.name}.partial-{os.getpid()}")
                    shutil.rmtree(partial, ignore_errors=True)
                    _curate(cfg, kind, partial, curate, seed, annotator, lv)
                    if root.exists():
                        shutil.rmtree(root)
                    os.replace(partial, root)
    subsets = {m: datasets.load_from_disk(str(root / m)) for m in KIND_MODES[kind]}
    return subsets, root
