"""``+exp=firm_gen_rl`` / ``+exp=firm_edit_rl``: FIRM's Base-and-Bonus RL of the image policies
(docs/papers/firm.md §4-5).

1. Policy: ``task.policy`` (:func:`firm.rl.policy.load_policy_bundle`; default the scale's
   generator / editor) wrapped in a :class:`~common.flow_rl.policy.FlowPolicy` (LoRA adapters for
   the trained and old policies, the base as reference).
2. Critic: ``task.critic`` (:class:`firm.rl.critic_registry.CriticConfig`: ``oracle`` (the world's truth
   read from pixels, with rater noise), ``server`` (the trained FIRM RMs behind the reward
   server), ``model`` (a VLM in process: the untrained base is the paper's "RL with Qwen3-VL-8B"
   row), ``openai`` (any OpenAI-compatible endpoint)); reward: ``task.reward``
   (:class:`firm.rl.rewards.RewardConfig`: ``qma`` for generation, ``cme`` for editing, and the
   ablations).
3. Training: :class:`common.flow_rl.trainer.FlowRLTrainer` with ``task.rl``
   (:class:`~common.flow_rl.trainer.FlowRLConfig`; its seed is the run's ``seed``), on a seeded
   stream of world prompts / edits at the run's ``world.level``.
4. Evaluation, never by the critic: the world checker on ``task.eval`` held-out (prompt, noise)
   pairs (:class:`firm.rl.evaluate.HeldOut`), the start policy and the trained one on the same
   pairs, the paired gain with its 95% interval, chance and ceiling beside; every
   ``task.eval.every`` steps a smaller held-out reading is logged beside the training reward
   (the reward-hacking watch).

Writes ``<run_dir>/``: ``report.md`` (the table), ``heldout.json`` (summaries and gains),
``heldout_records.json`` (every held-out pair's checker record, start / end / ceiling / baselines,
and the prompt texts trained on: what :mod:`firm.rl.seeds` pools over seeds),
``before_after.png`` (start | end samples; edit: source | start | end), ``curves.png`` (reward and
held-out metric over steps), ``train_log.json``, and the trained policy in ``policy/`` (a
diffusers layout with the LoRA adapters, ``task.policy=path:<run_dir>/policy`` reads it).
Resume: checkpoints under ``${paths.output_dir}/checkpoints/<exp_name>-<key>``; rerunning the
command continues from the last one (with the engine, world size and images per step it was
written with: :mod:`common.engine.layout`).

Several processes: the logged metrics are those of all ranks' images; the files and the policy
export (ZeRO-3 shards gathered) are written once, by rank 0, while the others wait
(:func:`common.engine.on_rank_zero`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from common.config import plain, to_dataclass
from common.engine import export_pretrained, on_rank_zero
from common.flow_rl import FlowRLConfig, FlowRLTrainer, RewardBatch
from common.flow_rl.policy import FlowPolicy
from common.run_checkpoints import run_checkpoint_root
from common.runtime import NOT_WHAT_A_RUN_COMPUTES, RunContext
from common.train import make_fabric
from common.world.levels import run_level
from firm.rl.critic_registry import CriticConfig, build_critic
from firm.rl.eval_config import EvalConfig
from firm.rl.eval_report import plot_curves, report_table
from firm.rl.eval_stats import paired_gain, summarize
from firm.rl.evaluate import HeldOut, copy_source_sampler
from firm.rl.items import ITEM_KINDS, training_items
from firm.rl.policy import load_policy_bundle, policy_sampler
from firm.rl.rewards import RewardConfig, reward_config, rewards_from_scores
from firm.rl.seeds import RECORDS_FILE

__all__ = ["NOT_IN_RESUME_KEY", "EvalConfig", "run"]

NOT_IN_RESUME_KEY: tuple[str, ...] = (
    *NOT_WHAT_A_RUN_COMPUTES,
    "task.rl.steps",
    "task.rl.checkpoint_every",
    "task.rl.keep_checkpoints",
    "task.rl.max_time_s",
    "task.eval",
    "task.resume",
    "task.checkpoint_dir",
    "task.export",
)
"""Config keys that change how a run is evaluated, logged, paced or stored, not its training."""


def run(
    cfg: DictConfig,
    ctx: RunContext,
    kind: str = "gen",
    policy: Any = "base",
    critic: Mapping[str, Any] | None = None,
    reward: Any = None,
    rl: Mapping[str, Any] | None = None,
    eval: Mapping[str, Any] | None = None,
    resume: str = "auto",
    checkpoint_dir: str | None = None,
    export: bool = True,
) -> dict[str, Any]:
    """One RL run; see the module docstring."""
    t_start = time.perf_counter()
    if kind not in ITEM_KINDS:
        raise ValueError(f"task.kind must be one of {ITEM_KINDS}, got {kind!r}")
    settings = ctx.settings
    assert settings is not None
    level = run_level(settings)
    rl_cfg = to_dataclass(FlowRLConfig, {**dict(plain(rl) or {}), "seed": int(ctx.seed)}, "task.rl")
    eval_cfg = to_dataclass(EvalConfig, plain(eval) or {}, "task.eval")
    critic_cfg = to_dataclass(CriticConfig, plain(critic) or {}, "task.critic")
    reward_cfg: RewardConfig = reward_config(
        plain(reward) if reward is not None else ("qma" if kind == "gen" else "cme"), kind
    )

    t0 = time.perf_counter()
    fabric = make_fabric(cfg.engine)
    bundle, policy_source = load_policy_bundle(plain(policy), kind, settings)
    flow_policy = FlowPolicy(bundle, rl_cfg.lora_settings(), rl_cfg.ema_schedule)
    resolution = int(bundle.spec.resolution)
    t_model = time.perf_counter() - t0

    t0 = time.perf_counter()
    judge = build_critic(critic_cfg, kind, settings, level)
    t_critic = time.perf_counter() - t0

    def reward_fn(items: Any, images: Any) -> RewardBatch:
        scores = judge.score(items, images)
        return RewardBatch(rewards_from_scores(scores, reward_cfg), scores)

    def batch_fn(step: int) -> list[Any]:
        per_rank_seed = int(ctx.seed) * 1_000 + fabric.global_rank
        _, items = next(
            training_items(
                kind,
                rl_cfg.prompts_per_iteration,
                per_rank_seed,
                level=level,
                resolution=resolution,
                start=step,
            )
        )
        return items

    held = HeldOut(kind, eval_cfg.prompts, tuple(eval_cfg.noise_seeds), level=level, resolution=resolution)
    watch = HeldOut(
        kind,
        min(eval_cfg.every_prompts, eval_cfg.prompts),
        tuple(eval_cfg.noise_seeds[:1]),
        level=level,
        resolution=resolution,
    )
    sampler = policy_sampler(
        flow_policy,
        num_steps=eval_cfg.sample_steps,
        sampler=rl_cfg.sampler,
        guidance_scale=eval_cfg.guidance_scale,
    )
    headline = "strict" if kind == "gen" else "correct"

    def watch_fn(_: FlowPolicy, step: int) -> dict[str, float]:
        summary = watch.evaluate(sampler).summary()
        return {k: float(summary[k]) for k in (headline, "execution", "consistency", "lazy") if k in summary}

    t0 = time.perf_counter()
    start = held.evaluate(sampler)
    t_eval_start = time.perf_counter() - t0

    root, key = run_checkpoint_root(
        cfg,
        resume,
        checkpoint_dir,
        ctx.run_dir / "checkpoint",
        policy_source,
        NOT_IN_RESUME_KEY,
    )
    trainer = FlowRLTrainer(
        flow_policy,
        rl_cfg,
        batch_fn,
        reward_fn,
        checkpoint_root=root,
        fabric=fabric,
        eval_fn=watch_fn if eval_cfg.every else None,
        eval_every=eval_cfg.every,
        log_fn=lambda metrics, step: ctx.log(metrics, step=step),
        progress=settings.progress,
    )
    train = trainer.fit()
    history = train.pop("history")

    t0 = time.perf_counter()
    end = held.evaluate(sampler)
    ceiling = held.ceiling() if eval_cfg.ceiling else None
    # the edit analogue of chance: returning the source unchanged (execution ~0, consistency high)
    baselines = {"copy source": held.evaluate(copy_source_sampler).records} if kind == "edit" else {}
    t_eval_end = time.perf_counter() - t0
    trained_texts = (
        {it.prompt for step in range(train["steps"]) for it in batch_fn(step)} if kind == "gen" else None
    )
    columns = (
        ("strict", "correct", "requirement_share")
        if kind == "gen"
        else ("execution", "consistency", "correct", "lazy")
    )
    gains = {c: paired_gain(start.records, end.records, c, trained_texts=trained_texts) for c in columns}
    table = report_table(
        start.records,
        end.records,
        ceiling=ceiling.records if ceiling else None,
        baselines=baselines,
        trained_texts=trained_texts,
    )

    heldout = {
        "start": start.summary(),
        "end": end.summary(),
        "ceiling": ceiling.summary() if ceiling else None,
        **{name: summarize(recs) for name, recs in baselines.items()},
        "gains": gains,
        "n_pairs": held.n_pairs,
    }
    records = {
        "start": start.records,
        "end": end.records,
        "ceiling": ceiling.records if ceiling else None,
        **baselines,
        "trained_texts": sorted(trained_texts) if trained_texts is not None else None,
    }
    report = _report(cfg, kind, critic_cfg, reward_cfg, rl_cfg, held, table, eval_cfg.grid)
    on_rank_zero(
        _write_outputs, ctx, history, heldout, records, report, held.sheet, start, end, eval_cfg.grid
    )
    out_policy = export_pretrained(bundle, ctx.run_dir / "policy", model=trainer.module) if export else None
    if fabric.global_rank == 0:
        print(table)
    return {
        "kind": kind,
        "critic": critic_cfg.name,
        "reward": reward_cfg.name,
        "algorithm": rl_cfg.algorithm,
        "world_level": level,
        "heldout": {"start": start.summary(), "end": end.summary(), "gains": gains, "n_pairs": held.n_pairs},
        "train": train,
        "final_reward": history[-1]["reward_mean"] if history else None,
        "policy": str(out_policy) if out_policy else None,
        "policy_source": policy_source,
        "checkpoint_dir": str(root),
        "resume_key": key,
        "wall_s": {
            "model": round(t_model, 2),
            "critic": round(t_critic, 2),
            "eval_start": round(t_eval_start, 2),
            "train": train["train_s"],
            "eval_end": round(t_eval_end, 2),
            "total": round(time.perf_counter() - t_start, 2),
        },
    }


def _write_outputs(
    ctx: RunContext,
    history: list[dict[str, Any]],
    heldout: dict[str, Any],
    records: dict[str, Any],
    report: str,
    sheet: Any,
    start: Any,
    end: Any,
    grid: int,
) -> None:
    """``train_log.json``, ``heldout.json``, the per-pair ``heldout_records.json``, ``report.md``,
    ``before_after.png`` (``sheet(start, end, k=grid)``) and ``curves.png`` (rank 0, :func:`run`)."""
    ctx.save_json("train_log.json", history)
    ctx.save_json("heldout.json", heldout)
    ctx.save_json(RECORDS_FILE, records)
    (ctx.run_dir / "report.md").write_text(report)
    sheet(start, end, k=grid).save(ctx.path("before_after.png"))
    ctx.log_image("before_after", ctx.run_dir / "before_after.png", caption="start | end")
    plot_curves(history, ctx.run_dir / "curves.png", title=str(ctx.cfg.exp_name))


def _report(
    cfg: DictConfig,
    kind: str,
    critic: CriticConfig,
    reward: RewardConfig,
    rl: FlowRLConfig,
    held: HeldOut,
    table: str,
    grid: int,
) -> str:
    legend = [f"#{i}: {it.prompt}" for i, it in enumerate(held.items[:grid])]
    what = (
        "GenEval-world strict (clean) accuracy"
        if kind == "gen"
        else "ground-truth edit execution / consistency"
    )
    return (
        f"# {cfg.exp_name}\n\n"
        f"{rl.algorithm}, critic `{critic.name}`, reward `{reward.name}`, {rl.steps} steps x "
        f"{rl.prompts_per_iteration} prompts x group {rl.group_size}, seed {rl.seed}.\n\n"
        f"Held out: {held.n_prompts} prompts x {len(held.noise_seeds)} noise seeds = {held.n_pairs} pairs at "
        f"world level `{held.level}`, read by the world checker (never the critic): {what}, in percent; "
        "gain = end - start on the same pairs with a paired bootstrap 95% interval.\n\n"
        f"{table}\n"
        f"`before_after.png` ({'source | ' if kind == 'edit' else ''}start | end, first noise seed):\n\n"
        + "\n".join(f"- {line}" for line in legend)
        + "\n"
    )
