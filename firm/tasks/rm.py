"""``+exp=firm_edit_rm`` / ``+exp=firm_gen_rm``: SFT of FIRM's reward models (docs/papers/firm.md §3).

One model per kind, trained on all its modes at once: the edit RM on ``execution`` and
``consistency``, the gen RM on ``instruction`` and ``quality``. Inputs are the RM prompts without
the difference report / analysis plan (:mod:`firm.rm.examples`), targets the curated responses
(reasoning, then the score; canonical text for the project's tokenizer). Data: ``data.path`` (a
curated directory) or the world-oracle curation at the run's ``world.level``, cached on first use
(:mod:`firm.rm.data`).
Model: ``model`` (:func:`firm.rm.cache.resolve_source`; default ``base``, the scale's reward
model base). Training: :class:`common.sft.SFTTrainer` with ``sft`` (:class:`common.sft.SFTConfig`;
its seed is the run's ``seed``) on the engine of ``cfg.engine`` (ZeRO-3: the model is built
inside :func:`common.engine.sharded_init`).

Held out before training: ``eval_items`` rows per mode (a seeded choice, the same for every
training seed), judged greedily after training through the same path as FIRM-Bench
(:func:`firm.bench.verdicts.judge`): MAE against the curated score and the parse-failure count.

Resume: checkpoints go to ``checkpoint_dir``, by default
``${paths.output_dir}/checkpoints/<exp_name>-<key>`` where ``key`` hashes the config without
paths, logging, checkpoint cadence and ``max_time_s`` (:data:`firm.rm.checkpoint.NOT_IN_RESUME_KEY`);
rerunning the command after a kill continues from the last checkpoint. The trained RM is exported
to ``<run_dir>/rm`` (``common.models.builders.load_vlm`` reads it;
``+exp=firm_bench task.rm_edit=[<run_dir>]``).

Several processes: the reported losses are those of the whole global batch; the export (ZeRO-3
shards gathered), the held-out judging and the files are made once, on rank 0, while the others
wait (:func:`common.engine.on_rank_zero`). The checkpoint records the engine, world size and
global batch; a run with another one refuses to continue it (:mod:`common.engine.layout`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from common.config import plain, to_dataclass
from common.engine import gathered_parameters, on_rank_zero, sharded_init
from common.models.builders import load_vlm
from common.rewards.modes import KIND_MODES
from common.run_checkpoints import run_checkpoint_root
from common.runtime import RunContext
from common.sft import SFTConfig, SFTTrainer
from common.train import make_fabric
from common.world.levels import run_level
from firm.bench.critics import model_annotator
from firm.bench.metrics import score_column
from firm.bench.verdicts import JudgeItem, judge
from firm.rm.cache import resolve_source
from firm.rm.checkpoint import NOT_IN_RESUME_KEY
from firm.rm.data import CuratedData, load_curated
from firm.rm.examples import curated_score, rm_examples, rm_prompt
from firm.rm.sources import RM_EXPORT_DIR, resolve_template

__all__ = ["checkpoint_root", "held_out_split", "run", "split_held_out"]


def split_held_out(n: int, k: int, seed: int) -> tuple[list[int], list[int]]:
    """``(train, held_out)`` row indices: ``k`` rows chosen with ``seed``, the rest for training."""
    k = max(0, min(int(k), n - 1))
    perm = np.random.default_rng([int(seed), 0x4E1D]).permutation(n)
    held = sorted(int(i) for i in perm[:k])
    chosen = set(held)
    return [i for i in range(n) if i not in chosen], held


def held_out_split(
    subsets: Mapping[str, Any], modes: Sequence[str], k: int, seed: int, template: str
) -> tuple[dict[str, Any], list[JudgeItem]]:
    """Per mode, the training rows and ``k`` held-out rows as judge items (curated score as reference)."""
    train_sets, held_items = {}, []
    for mode in modes:
        rows = subsets[mode]
        train_idx, held_idx = split_held_out(len(rows), k, seed)
        train_sets[mode] = rows.select(train_idx)
        held_items += [
            JudgeItem(str(r["id"]), mode, rm_prompt(mode, r, template=template), curated_score(mode, r))
            for r in rows.select(held_idx)
        ]
    return train_sets, held_items


def checkpoint_root(
    cfg: DictConfig, resume: str, checkpoint_dir: str | None, run_dir: Path, model_source: str
) -> tuple[Path, str]:
    """The checkpoint directory of this run and its resume key (see the module docstring).

    The key also covers ``model_source``, the resolved model (a base's directory name carries
    its config hash, so a rebuilt base never resumes another base's checkpoint).
    """
    return run_checkpoint_root(
        cfg, resume, checkpoint_dir, run_dir / "checkpoint", model_source, NOT_IN_RESUME_KEY
    )


def _held_out_scores(
    bundle: Any,
    held_items: list[JudgeItem],
    modes: Sequence[str],
    name: str,
    ctx: RunContext,
    *,
    eval_batch_size: int,
    eval_max_tokens: int,
) -> dict[str, Any]:
    """The trained RM's score column per mode on the held-out items (run on rank 0, :func:`run`)."""
    annotator = model_annotator(bundle, name, eval_batch_size)
    verdicts = judge(
        annotator, held_items, max_tokens=eval_max_tokens, progress=ctx.progress, desc="held-out"
    )
    out = {}
    for mode in modes:
        idx = [i for i, it in enumerate(held_items) if it.mode == mode]
        out[mode] = score_column([verdicts[i] for i in idx], [held_items[i] for i in idx]).to_dict()
    return out


def _write_logs(ctx: RunContext, history: list[dict[str, Any]], held_out: dict[str, Any]) -> None:
    """``train_log.json`` and the held-out table to the logger (rank 0, :func:`run`)."""
    ctx.save_json("train_log.json", history)
    if held_out:
        ctx.log_table("held_out", held_out, index_name="mode")


def run(
    cfg: DictConfig,
    ctx: RunContext,
    kind: str = "edit",
    modes: Sequence[str] | None = None,
    model: str = "base",
    data: Mapping[str, Any] | None = None,
    sft: Mapping[str, Any] | None = None,
    template: str | None = None,
    canonical_targets: bool | None = None,
    eval_items: int = 64,
    eval_max_tokens: int = 256,
    eval_batch_size: int = 32,
    resume: str = "auto",
    checkpoint_dir: str | None = None,
    export: bool = True,
) -> dict[str, Any]:
    """Train one reward model; see the module docstring."""
    t_start = time.perf_counter()
    if kind not in KIND_MODES:
        raise ValueError(f"task.kind must be one of {sorted(KIND_MODES)}, got {kind!r}")
    modes = list(modes or KIND_MODES[kind])
    unknown = [m for m in modes if m not in KIND_MODES[kind]]
    if unknown:
        raise ValueError(f"the {kind} RM has no mode(s) {unknown}; its modes: {list(KIND_MODES[kind])}")
    sft_cfg = SFTConfig.from_dict(
        {"name": str(cfg.exp_name), **dict(plain(sft) or {}), "seed": int(ctx.seed)}, "task.sft"
    )
    template = resolve_template(template, ctx.settings)
    canonical = template == "tiny" if canonical_targets is None else bool(canonical_targets)
    curated = to_dataclass(CuratedData, data, "task.data")
    source = resolve_source(model, ctx.settings)
    root, key = checkpoint_root(cfg, resume, checkpoint_dir, ctx.run_dir, source)

    t0 = time.perf_counter()
    subsets, data_dir = load_curated(
        kind,
        cfg,
        path=curated.path,
        curate=curated.curate,
        seed=curated.seed,
        annotator=curated.annotator,
        level=run_level(ctx.settings),
        settings=ctx.settings,
    )
    train_sets, held_items = held_out_split(subsets, modes, eval_items, curated.seed, template)
    examples = rm_examples(train_sets, modes, template=template, canonical=canonical)
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    fabric = make_fabric(cfg.engine)
    with sharded_init(fabric):  # ZeRO-3: built directly partitioned; a no-op otherwise
        bundle = load_vlm(source, dtype=ctx.settings.scale.dtype)
    t_model = time.perf_counter() - t0

    progress = ctx.settings.progress
    trainer = SFTTrainer(bundle, examples, sft_cfg, root, fabric=fabric, progress=progress)
    train = trainer.fit()
    history = train.pop("history")
    for rec in history:
        ctx.log({k: v for k, v in rec.items() if k != "step"}, step=rec["step"])
    exported = trainer.export(ctx.run_dir / RM_EXPORT_DIR) if export else None

    t0 = time.perf_counter()
    held_out: dict[str, Any] = {}
    if held_items:
        bundle.model.eval()
        with gathered_parameters(bundle.model):  # ZeRO-3: every rank gathers, rank 0 generates
            held_out = on_rank_zero(
                _held_out_scores,
                bundle,
                held_items,
                modes,
                f"{cfg.exp_name}:trained",
                ctx,
                eval_batch_size=eval_batch_size,
                eval_max_tokens=eval_max_tokens,
            )
    t_eval = time.perf_counter() - t0
    on_rank_zero(_write_logs, ctx, history, held_out)
    return {
        "kind": kind,
        "modes": modes,
        "model_source": source,
        "rm": str(exported) if exported else None,
        "data_dir": str(data_dir),
        "train_rows": {m: len(d) for m, d in train_sets.items()},
        "template": template,
        "canonical_targets": canonical,
        "sft": sft_cfg.to_dict(),
        "train": train,
        "first_loss": history[0]["loss"] if history else None,
        "final_loss": history[-1]["loss"] if history else None,
        "held_out": held_out,
        "checkpoint_dir": str(root),
        "resume_key": key,
        "wall_s": {
            "data": round(t_data, 2),
            "model": round(t_model, 2),
            "train": train["train_s"],
            "held_out_eval": round(t_eval, 2),
            "total": round(time.perf_counter() - t_start, 2),
        },
    }
