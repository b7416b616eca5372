"""``+exp=t2ieval_r1_grpo`` (and its variants): GRPO training of the T2I-Eval-R1 evaluator.

Loads the training (and validation) corpus (:func:`t2ieval_r1.data.load_corpus`), builds the
policy (:mod:`t2ieval_r1.grpo.model`), trains it with :class:`t2ieval_r1.grpo.GRPOTrainer` on the
engine of ``cfg.engine``, and saves the trained evaluator to ``<run_dir>/evaluator`` (a directory
``load_vlm`` and the meta-evaluation read).

Resume: checkpoints go to ``task.checkpoint_dir``, by default
``${paths.output_dir}/checkpoints/<exp_name>-<resume key>`` where the key hashes the config
without its run length, logging and paths (:data:`t2ieval_r1.grpo.checkpoint.NOT_IN_RESUME_KEY`).
Rerunning the same command after a kill continues from the newest checkpoint; rerunning it with
a larger ``task.grpo.steps`` extends the run. ``task.resume=never`` starts afresh with the
checkpoints in the run directory instead.

Returns (``metrics.json``): the trainer's summary (steps, resume point, train time, first and
last step metrics), the final validation metrics, wall times, the checkpoint and evaluator paths;
``<run_dir>/samples.json`` holds completions of the last step with their rewards, and
``samples.png`` their items' images (both also go to the run's logger, e.g. wandb).

Several processes: the trainer's metrics are those of all ranks; the files above, the export
(ZeRO-3 shards gathered) and the meta-evaluation are made once, on rank 0, while the other ranks
wait (:func:`common.engine.on_rank_zero`), and every rank returns the same numbers.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from common.config import plain
from common.engine import is_zero3, on_rank_zero, sharded_init
from common.models.pretrain.flow_eval import contact_sheet
from common.run_checkpoints import run_checkpoint_root
from common.runtime import RunContext
from common.train import make_fabric
from common.world.levels import run_level
from t2ieval_r1.data import load_corpus
from t2ieval_r1.data.rescale import refuse_rescale
from t2ieval_r1.evaluate.results import correlation_as_zero, is_rank_correlation
from t2ieval_r1.grpo import GRPOConfig, GRPOTrainer
from t2ieval_r1.grpo.checkpoint import NOT_IN_RESUME_KEY
from t2ieval_r1.grpo.model import PolicySpec, build_policy, policy_source
from t2ieval_r1.grpo.model import start_path as policy_start
from t2ieval_r1.tasks.evaluate_after import effective_params, evaluate_cached, evaluate_exported, summary_of

__all__ = ["checkpoint_root", "correlation_gain", "log_samples", "meta_evaluation", "run"]


def meta_evaluation(
    cfg: DictConfig, ctx: RunContext, spec: PolicySpec, evaluator: Path, params: Any
) -> dict[str, Any]:
    """Meta-evaluate the trained ``evaluator`` and the run's starting checkpoint; the headline
    numbers of both and their difference (``gain``: trained minus start).

    With the ``expected`` score readout (the default, :mod:`common.scoring.readout`) the same
    completions are also scored with the ``answer`` readout (the written score), from their
    ``predictions.jsonl`` without calling a model, in ``meta_eval_answer/`` and
    ``meta_eval_start_answer/``: ``out["answer_readout"]`` holds the trained / start / gain
    numbers of that readout.
    """
    params = dict(plain(params))
    also_answer = effective_params(params)["readout"] == "expected" and params.get("predictions") is None
    answer_params = {**params, "readout": "answer"}
    trained = summary_of(evaluate_exported(cfg, ctx, evaluator, params))
    start_path = policy_start(spec, ctx.settings, run_level(ctx.settings))
    out: dict[str, Any] = {"trained": trained}
    answer: dict[str, Any] = {}

    def rescored(subdir: str) -> dict[str, Any]:  # the completions just written, scored again: no model call
        saved = {**answer_params, "predictions": str(ctx.path(subdir, "predictions.jsonl"))}
        return summary_of(evaluate_exported(cfg, ctx, evaluator, saved, subdir=f"{subdir}_answer"))

    if also_answer:
        answer["trained"] = rescored("meta_eval")
    if start_path is not None and Path(str(start_path)).is_dir():
        start = summary_of(evaluate_cached(cfg, ctx, start_path, params, subdir="meta_eval_start"))
        out["start"] = start
        out["start_checkpoint"] = str(start_path)
        out["gain"], out["undefined_as_zero"] = correlation_gain(trained, start)
        if also_answer:
            answer["start"] = rescored("meta_eval_start")
            answer["gain"], answer["undefined_as_zero"] = correlation_gain(answer["trained"], answer["start"])
    if answer:
        out["answer_readout"] = answer
    return out


def correlation_gain(trained: dict[str, Any], start: dict[str, Any]) -> tuple[dict[str, float], list[str]]:
    """``trained - start`` per numeric summary key. A rank correlation that is undefined
    (``None`` or NaN: the evaluator gave every item the same score, so it ranks nothing) counts
    as 0, and its key is listed; other missing values are left out."""
    gain: dict[str, float] = {}
    as_zero: list[str] = []
    for k, t in trained.items():
        if k not in start or isinstance(t, bool):
            continue
        s = start[k]
        if is_rank_correlation(k):
            (t, t_undefined), (s, s_undefined) = correlation_as_zero(t), correlation_as_zero(s)
            if t_undefined or s_undefined:
                as_zero.append(k)
        if isinstance(t, int | float) and isinstance(s, int | float):
            gain[k] = float(t) - float(s)
    return gain, as_zero


def checkpoint_root(
    cfg: DictConfig, ctx: RunContext, resume: str, checkpoint_dir: str | None, model_source: str | None = None
) -> tuple[Path, str]:
    """The checkpoint directory of this run and its resume key (see the module docstring).

    The key covers the run config and ``model_source`` (:func:`t2ieval_r1.grpo.model.policy_source`),
    so a rebuilt base or warm-up never resumes a checkpoint trained from the old one.
    """
    return run_checkpoint_root(
        cfg, resume, checkpoint_dir, ctx.run_dir / "checkpoints", model_source, NOT_IN_RESUME_KEY
    )


def log_samples(ctx: RunContext, samples: list[dict[str, Any]], items: list[Any]) -> None:
    """``samples.png`` (the images of the last step's sampled items, one grid) and the samples as a
    table with each item's images, both to the run's logger."""
    if not samples:
        return
    per_item = [contact_sheet(list(it.images), columns=len(it.images), scale=1) for it in items]
    unique = list({s["item"]: im for s, im in zip(samples, per_item, strict=True)}.values())
    if len({im.size for im in unique}) == 1:
        path = ctx.path("samples.png")
        contact_sheet(unique, columns=4, scale=2).save(path)
        ctx.log_image("samples/images", path, caption="items of the last step")
    ctx.log_table(
        "samples/completions", [{**s, "images": im} for s, im in zip(samples, per_item, strict=True)]
    )


def _write_samples(ctx: RunContext, samples: list[dict[str, Any]], trainer: GRPOTrainer) -> None:
    """``<run_dir>/samples.json``, ``train_log.json`` and the samples to the logger (rank 0, :func:`run`)."""
    ctx.save_json("samples.json", samples)
    ctx.save_json("train_log.json", trainer.history)
    log_samples(ctx, samples, trainer.last_items[: len(samples)])


def _timed_meta_evaluation(
    cfg: DictConfig, ctx: RunContext, spec: PolicySpec, evaluator: Path, params: Any
) -> dict[str, Any]:
    """:func:`meta_evaluation` with its wall time (``wall_s``)."""
    t0 = time.perf_counter()
    evaluation = meta_evaluation(cfg, ctx, spec, evaluator, params)
    evaluation["wall_s"] = round(time.perf_counter() - t0, 2)
    return evaluation


def run(
    cfg: DictConfig,
    ctx: RunContext,
    train: Any = None,
    val: Any = None,
    model: Any = None,
    grpo: Any = None,
    resume: str = "auto",
    checkpoint_dir: str | None = None,
    export: bool = True,
    n_samples: int = 8,
    reward_fn: Any = None,
    meta_eval: Any = None,
) -> dict[str, Any]:
    """Train the evaluator; see the module docstring. ``train`` / ``val`` are corpus specs.

    ``reward_fn``: ``None`` (T2I-Eval-R1's reward configured by ``grpo.reward``) or a callable
    ``(completions, items) -> RewardResult``, e.g. from a Hydra node
    ``{_target_: my.module.MyReward, ...}`` (instantiated before the task runs).

    ``meta_eval``: ``None`` (skip) or the parameters of ``+exp=t2ieval_r1_meta_eval``'s task; the
    exported evaluator is meta-evaluated in ``<run_dir>/meta_eval/`` and the starting checkpoint
    (the base, after its warm-up if any) in ``<run_dir>/meta_eval_start/`` (cached beside it).
    """
    t_start = time.perf_counter()
    if train is None:
        raise ValueError("task.train must name a training corpus (e.g. {source: world_quick, kind: single})")
    if val is not None:
        refuse_rescale(plain(val) or {}, "task.val", "task.val.rescale")
    grpo_params = dict(plain(grpo) or {})
    grpo_params["seed"] = int(ctx.seed)
    gcfg = GRPOConfig.from_dict(grpo_params)
    spec = PolicySpec.from_dict(model)

    fabric = make_fabric(cfg.engine)
    level = run_level(ctx.settings)
    root, key = checkpoint_root(cfg, ctx, resume, checkpoint_dir, policy_source(spec, ctx.settings, level))
    t0 = time.perf_counter()
    train_ds = load_corpus(train, ctx.settings, level=level)
    val_ds = load_corpus(val, ctx.settings, level=level) if val is not None else None
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    with sharded_init(fabric):  # ZeRO-3: built directly partitioned; a no-op otherwise
        bundle = build_policy(spec, ctx.settings, level)
    reference_model = None
    uses_copy = gcfg.reference == "copy" or (gcfg.reference == "auto" and spec.lora is None)
    if gcfg.kl_coef > 0 and uses_copy and is_zero3(fabric):  # a sharded model cannot be deep-copied
        with sharded_init(fabric):
            reference_model = fabric.setup(
                build_policy(dataclasses.replace(spec, lora=None), ctx.settings, level).model
            )
    t_model = time.perf_counter() - t0

    trainer = GRPOTrainer(
        gcfg,
        bundle,
        train_ds,
        val=val_ds,
        fabric=fabric,
        engine_cfg=cfg.engine,
        reward_fn=reward_fn,
        reference_model=reference_model,
        checkpoint_dir=root,
        resume=True,
        log_fn=ctx.log,
        run_info={"resume_key": key, "exp_name": str(cfg.exp_name)},
    )
    summary = trainer.fit()
    rewards = trainer.last_rewards
    samples = [
        {
            "item": it.id,
            "label": it.label,
            "completion": text,
            "reward": rewards.totals[i] if rewards else None,
            "failure": rewards.failure_reasons[i] if rewards else None,
        }
        for i, (text, it) in enumerate(zip(trainer.last_texts, trainer.last_items, strict=True))
    ][:n_samples]
    on_rank_zero(_write_samples, ctx, samples, trainer)
    evaluator = trainer.export(ctx.run_dir / "evaluator") if export else None
    evaluation: dict[str, Any] = {}
    if meta_eval is not None and evaluator is not None:
        evaluation = on_rank_zero(_timed_meta_evaluation, cfg, ctx, spec, evaluator, meta_eval)
    return {
        **summary,
        "resume_key": key,
        "evaluator": str(evaluator) if evaluator else None,
        "train_size": len(train_ds),
        "val_size": len(val_ds) if val_ds is not None else 0,
        "grpo": gcfg.to_dict(),
        "model": spec.to_dict(),
        "meta_eval": evaluation,
        "wall": {
            "data_s": round(t_data, 2),
            "model_s": round(t_model, 2),
            "total_s": round(time.perf_counter() - t_start, 2),
        },
    }
