"""``+exp=t2ieval_r1_sft_scores`` / ``t2ieval_r1_sft_rationale``: the SFT baselines of the evaluator.

The paper argues that GRPO from coarse labels beats imitation; these baselines make that
comparison at the same scale (targets in :mod:`t2ieval_r1.sft_targets`):

* ``scores``: the model's own caption as the rationale and the corpus label as the answer
  (supervised by the same coarse labels GRPO sees);
* ``rationale``: a full ground-truth rationale from the world's scene plus the label (the
  "expensive annotation" the paper avoids).

The model starts from the pretrained base (``task.model``, as in the GRPO experiments), is
fine-tuned with :class:`common.sft.SFTTrainer` (resumable: rerunning the same command after a kill
continues from ``<checkpoint_dir>/checkpoint.pt``) and exported to ``<run_dir>/evaluator``; with
``task.meta_eval`` set, the exported evaluator is meta-evaluated as ``+exp=t2ieval_r1_meta_eval``
would do it.

Several processes (``engine=ddp`` / ``zero3``): the export gathers ZeRO-3 shards and rank 0 writes
it (:func:`common.engine.export_pretrained`); the meta-evaluation runs on rank 0 while the others
wait (:func:`common.engine.on_rank_zero`), and every rank returns its numbers. The checkpoint
directory's key hashes the settings only (not the engine, so the keys of existing runs stand);
the checkpoint records the engine, world size and global batch, and a run with another one
refuses to continue it (:func:`common.engine.check_resume_layout`): rerun with the engine it was
written with, or give a new ``task.checkpoint_dir``.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from common.config import InputError, plain
from common.engine import export_pretrained, on_rank_zero
from common.runtime import RunContext
from common.sft import SFTConfig
from common.world.levels import run_level
from t2ieval_r1.data import corpus_at_level, load_corpus
from t2ieval_r1.grpo.model import PolicySpec, build_policy, policy_source
from t2ieval_r1.sft import train_evaluator_sft
from t2ieval_r1.sft_targets import check_think
from t2ieval_r1.tasks.evaluate_after import evaluate_exported

__all__ = ["run"]


def _checkpoint_dir(cfg: DictConfig, params: dict[str, Any], checkpoint_dir: str | None) -> Path:
    """``checkpoint_dir`` or ``${paths.output_dir}/checkpoints/<exp_name>-<hash of the settings>``."""
    if checkpoint_dir is not None:
        return Path(checkpoint_dir).expanduser()
    key = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(str(cfg.paths.output_dir)) / "checkpoints" / f"{cfg.exp_name}-{key}"


def run(
    cfg: DictConfig,
    ctx: RunContext,
    kind: str = "scores",
    train: Any = None,
    model: Any = None,
    sft: Any = None,
    template: str = "default",
    think: str = "caption",
    checkpoint_dir: str | None = None,
    meta_eval: Any = None,
) -> dict[str, Any]:
    """Fine-tune the evaluator on ``kind`` targets; see the module docstring."""
    t0 = time.perf_counter()
    if check_think(think, "task.think") != "caption" and kind == "rationale":
        raise InputError(
            "task.think: the 'rationale' kind writes the ground-truth rationale, not a caption; "
            "drop task.think or use kind 'scores'"
        )
    if train is None:
        raise ValueError("task.train must name a single-wise training corpus (e.g. {source: world, ...})")
    sft_params = {**(plain(sft) or {}), "seed": int(ctx.seed)}
    sft_cfg = SFTConfig.from_dict(sft_params, "task.sft")
    spec = PolicySpec.from_dict(model)
    level = run_level(ctx.settings)
    train = corpus_at_level(plain(train), level)  # a world corpus's level is part of the resume key
    params = {"kind": kind, "train": train, "model": spec.to_dict(), "sft": sft_cfg.to_dict()}
    params["sft"].pop("max_time_s", None)
    if think != "caption":  # the default stays out of the resume key (runs before it stay valid)
        params["think"] = think
    # a rebuilt base / warm-up must not resume the old one's run
    source = policy_source(spec, ctx.settings, level)
    root = _checkpoint_dir(cfg, {**params, "template": template, "_model_source": source}, checkpoint_dir)
    ds = load_corpus(train, ctx.settings)
    bundle = build_policy(spec, ctx.settings, level)
    result = train_evaluator_sft(
        bundle,
        ds,
        kind,
        sft_cfg,
        root,
        template=template,
        think=think,
        engine_cfg=cfg.engine,
        progress=ctx.settings.progress,
        log_fn=ctx.log,
    )
    evaluator = export_pretrained(bundle, ctx.run_dir / "evaluator")
    out: dict[str, Any] = {**params, **result, "evaluator": str(evaluator), "checkpoint_dir": str(root)}
    if meta_eval is not None:
        out["meta_eval"] = on_rank_zero(evaluate_exported, cfg, ctx, evaluator, meta_eval)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out
