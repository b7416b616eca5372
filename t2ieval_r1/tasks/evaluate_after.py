"""Meta-evaluation at the end of a training task (``task.meta_eval`` of the GRPO and SFT runs).

:func:`evaluate_exported` runs ``+exp=t2ieval_r1_meta_eval`` 's task on a freshly exported
evaluator, in ``<run_dir>/<subdir>/`` (its own ``metrics.json``, ``predictions.jsonl`` and tables),
with the parameters of ``task.meta_eval`` (any of :func:`t2ieval_r1.tasks.meta_eval.run` 's
keyword arguments). :func:`evaluate_cached` does the same for a checkpoint that many runs share
(the GRPO runs' starting checkpoint): the metrics are stored beside the checkpoint, keyed by the
parameters and the seed, and reused.

Both run on rank 0 only under several processes (the others wait for its metrics,
:func:`common.engine.on_rank_zero`): one evaluation, its files written once.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.engine import on_rank_zero
from common.jsonio import write_json_atomic
from common.runtime import RunContext
from common.world.levels import DEFAULT_LEVEL, run_level
from t2ieval_r1.tasks.meta_eval import run as meta_eval_run

__all__ = ["effective_params", "evaluate_cached", "evaluate_exported", "summary_of"]


def _params(meta_eval: Any) -> dict[str, Any]:
    if isinstance(meta_eval, DictConfig):
        meta_eval = OmegaConf.to_container(meta_eval, resolve=True)
    return dict(meta_eval or {})


def evaluate_exported(
    cfg: DictConfig, ctx: RunContext, evaluator: str | Path, meta_eval: Any, *, subdir: str = "meta_eval"
) -> dict[str, Any]:
    """Meta-evaluate ``evaluator`` with the ``meta_eval`` parameters; returns its metrics (on every
    rank; computed and written on rank 0)."""
    return on_rank_zero(_evaluate_exported, cfg, ctx, evaluator, meta_eval, subdir)


def _evaluate_exported(
    cfg: DictConfig, ctx: RunContext, evaluator: str | Path, meta_eval: Any, subdir: str
) -> dict[str, Any]:
    """The work of :func:`evaluate_exported`, in the process that does it (rank 0)."""
    sub = RunContext(run_dir=ctx.run_dir / subdir, cfg=cfg, seed=ctx.seed)
    sub.run_dir.mkdir(parents=True, exist_ok=True)
    metrics = meta_eval_run(cfg, sub, evaluator=str(evaluator), **_params(meta_eval))
    write_json_atomic(sub.run_dir / "metrics.json", metrics)
    return metrics


def effective_params(meta_eval: Any) -> dict[str, Any]:
    """``meta_eval`` with every default of :func:`t2ieval_r1.tasks.meta_eval.run` filled in (so a
    cache key changes when a default does)."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(meta_eval_run).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {**defaults, **_params(meta_eval)}


def evaluate_cached(
    cfg: DictConfig, ctx: RunContext, checkpoint: str | Path, meta_eval: Any, *, subdir: str
) -> dict[str, Any]:
    """:func:`evaluate_exported` of a shared ``checkpoint``, cached in ``checkpoint/meta_eval-<key>.json``
    (its completions in ``meta_eval-<key>.predictions.jsonl``; both are copied to ``<run_dir>/<subdir>/``).

    The key covers the effective parameters (defaults included), the run's seed and its world level
    (a level other than ``full``: the keys of ``full`` runs are those from before levels existed).
    Rank 0 evaluates and writes; every rank returns the metrics.
    """
    return on_rank_zero(_evaluate_cached, cfg, ctx, checkpoint, meta_eval, subdir)


def _evaluate_cached(
    cfg: DictConfig, ctx: RunContext, checkpoint: str | Path, meta_eval: Any, subdir: str
) -> dict[str, Any]:
    """The work of :func:`evaluate_cached`, in the process that does it (rank 0)."""
    params = _params(meta_eval)
    level = run_level(ctx.settings)
    keyed = {**effective_params(params), "seed": ctx.seed}
    if level != DEFAULT_LEVEL:
        keyed["world_level"] = level
    blob = json.dumps(keyed, sort_keys=True, default=str)
    key = hashlib.sha256(blob.encode()).hexdigest()[:12]
    cache = Path(checkpoint) / f"meta_eval-{key}.json"
    saved = cache.with_suffix(".predictions.jsonl")
    if cache.is_file() and saved.is_file():
        metrics = json.loads(cache.read_text())
        write_json_atomic(ctx.path(subdir, "metrics.json"), metrics)
        shutil.copyfile(saved, ctx.path(subdir, "predictions.jsonl"))
        return metrics
    metrics = evaluate_exported(cfg, ctx, checkpoint, params, subdir=subdir)
    shutil.copyfile(ctx.path(subdir, "predictions.jsonl"), saved.with_suffix(".tmp"))
    saved.with_suffix(".tmp").replace(saved)
    write_json_atomic(cache, metrics)
    return metrics


def summary_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """The flat headline numbers of a meta-evaluation (its ``summary``)."""
    return dict(metrics.get("summary", {}))
