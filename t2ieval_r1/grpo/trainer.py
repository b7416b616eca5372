"""The GRPO trainer of the T2I-Eval-R1 evaluator (one trainer for single-wise and pairwise data).

One training step (GRPO as in :mod:`common.rl`; rewards of docs/papers/t2i_eval_r1.md §3):

1. take ``batch_size / G`` items from the resumable :class:`~t2ieval_r1.grpo.items.DataStream`;
2. sample G completions per item with the current policy (:mod:`~t2ieval_r1.grpo.rollout`;
   temperature, top-p, max new tokens; seeded per step);
3. reward each completion (:mod:`~t2ieval_r1.grpo.rewards`: score reward + lambda * format
   reward, the score reward continuous by default, pairwise rewards for pairwise items);
4. group advantages ``A_i = (r_i - mean_g) / (std_g + eps)`` (:func:`common.rl.group_advantages`
   through :data:`common.rl.ADVANTAGE_ESTIMATORS`);
5. ``ppo_epochs`` x mini-batch optimizer steps of the clipped token loss (+ beta * k3 KL to the
   frozen reference), with gradient accumulation over micro-batches (:mod:`~t2ieval_r1.grpo.update`);
6. log the step (reward components, zero-std-group share, completion lengths, parse failures by
   reason, KL, entropy, clip fraction, ...), validate now and then, checkpoint every
   ``checkpoint_every`` steps (:mod:`common.run_checkpoints`).

The model runs on the engine (Lightning Fabric: one CPU process, DDP, or DeepSpeed ZeRO-3; under
ZeRO-3 generation runs inside :func:`common.engine.gathered_parameters`). Each rank samples its
own items, so groups never span ranks; per-step metrics are averaged over ranks.

Exact resume: the trajectory is a function of the weights, the optimizer state, the step and the
data position only (rollouts are seeded by step), all of which the checkpoint holds, so a run
killed and resumed reproduces the uninterrupted run (tested on CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch

from common.engine import (
    export_pretrained,
    gathered_parameters,
    reduce_over_ranks,
    setup_model_and_optimizer,
    training_layout,
)
from common.jsonio import to_jsonable
from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import banned_token_ids
from common.parsing import ParseOutcome
from common.rl import ADVANTAGE_ESTIMATORS, zero_std_ratio
from common.run_checkpoints import latest_checkpoint, load_checkpoint_dir, save_checkpoint_dir
from common.train import build_optimizer, lr_at, make_fabric
from t2ieval_r1.grpo.config import GRPOConfig
from t2ieval_r1.grpo.items import DataStream, EvalItem, load_items
from t2ieval_r1.grpo.rewards import EvaluatorReward, RewardFn, RewardResult
from t2ieval_r1.grpo.rollout import RolloutBatch, collect_rollout
from t2ieval_r1.grpo.update import ReferencePolicy, grpo_update, micro_batches
from t2ieval_r1.grpo.validate import validate_items

__all__ = ["FAILURE_REASONS", "GRPOTrainer", "completion_metrics", "reward_metrics"]

FAILURE_REASONS: tuple[str, ...] = tuple(o.value for o in ParseOutcome if o is not ParseOutcome.OK)
"""Every parse-failure reason, logged as ``reward/fail_<reason>`` (a rate) at every step."""

UPDATE_KEYS: tuple[str, ...] = (
    "loss/policy",
    "loss/kl",
    "policy/entropy",
    "policy/clip_frac",
    "policy/clip_frac_low",
    "policy/clip_frac_high",
    "policy/ratio_mean",
    "policy/approx_kl",
    "policy/grad_norm",
    "policy/logp_mismatch",
)
"""Statistics of the update (:func:`~t2ieval_r1.grpo.update.grpo_update`); NaN on skipped steps."""

LogFn = Callable[[dict[str, Any], int], None]


def reward_metrics(rewards: RewardResult, group_size: int) -> dict[str, float]:
    """Reward components, failure rates by reason, group and prediction statistics of a batch."""
    totals = torch.tensor(rewards.totals, dtype=torch.float64)
    n = len(rewards.totals)
    groups = totals.view(-1, group_size)
    out: dict[str, float] = {
        "reward/total_mean": float(totals.mean()),
        "reward/total_std": float(totals.std(correction=0)),
        "groups/zero_std_ratio": zero_std_ratio(totals, group_size=group_size),
        "groups/reward_std_mean": float(groups.std(dim=1, correction=0).mean()),
    }
    for name, values in rewards.components.items():
        out[f"reward/{name}_mean"] = float(np.mean(values)) if values else 0.0
    counts = rewards.failure_counts
    out["reward/failure_rate"] = sum(counts.values()) / max(n, 1)
    for reason in FAILURE_REASONS:
        out[f"reward/fail_{reason}"] = counts.get(reason, 0) / max(n, 1)
    scores = [float(p) for p in rewards.predictions if isinstance(p, int | float)]
    out["pred/parsed_rate"] = sum(p is not None for p in rewards.predictions) / max(n, 1)
    out["pred/mean"] = float(np.mean(scores)) if scores else float("nan")
    out["pred/std"] = float(np.std(scores)) if scores else float("nan")
    return out


def completion_metrics(rollout: RolloutBatch) -> dict[str, float]:
    """Completion lengths (tokens, end token included) and the share cut at ``max_new_tokens``."""
    lengths = rollout.lengths
    return {
        "completion/len_mean": float(np.mean(lengths)),
        "completion/len_max": float(max(lengths)),
        "completion/truncated_rate": 1.0 - float(np.mean(rollout.finished)),
    }


class GRPOTrainer:
    """GRPO on a VLM evaluator; see the module docstring.

    Args:
        cfg: the validated trainer config.
        bundle: the policy (model, processor, tokenizer); trained in place.
        train: the training corpus (single-wise or pairwise, :mod:`t2ieval_r1.data`).
        val: an optional validation corpus (greedy decoding, ``eval_every`` steps and at the end).
        fabric: a launched Fabric (default: one built from ``engine_cfg`` and launched here).
        engine_cfg: the engine config (``cfg.engine``; default the cpu engine).
        reward_fn: ``(completions, items) -> RewardResult`` (default :class:`EvaluatorReward`).
        reference_model: the frozen reference for ``reference: copy`` (default: a deep copy).
        checkpoint_dir: where checkpoints go (None: no checkpoints, no resume).
        resume: continue from the newest checkpoint in ``checkpoint_dir`` if there is one.
        log_fn: ``log_fn(metrics, step)`` for every logged step (e.g. ``RunContext.log``).
        run_info: extra JSON-able data stored in checkpoints (e.g. the resume key, checked on resume).
        verbose: print one line per logged step.
    """

    def __init__(
        self,
        cfg: GRPOConfig,
        bundle: VLMBundle,
        train: datasets.Dataset,
        *,
        val: datasets.Dataset | None = None,
        fabric: Any = None,
        engine_cfg: Any = None,
        reward_fn: RewardFn | None = None,
        reference_model: Any = None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = True,
        log_fn: LogFn | None = None,
        run_info: dict[str, Any] | None = None,
        verbose: bool = True,
    ) -> None:
        self.cfg = cfg.validate()
        self.bundle = bundle
        self.train_ds = train
        self.val_ds = val
        self.engine_cfg = engine_cfg if engine_cfg is not None else {"name": "cpu"}
        self.fabric = fabric if fabric is not None else make_fabric(self.engine_cfg)
        self.reward_fn: RewardFn = reward_fn or EvaluatorReward(cfg.reward)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.log_fn = log_fn
        self.run_info = dict(run_info or {})
        self.verbose = verbose
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.train_time_s = 0.0
        self.resumed_from: int | None = None
        # the latest step's completions, items and rewards (for inspection and samples)
        self.last_texts: list[str] = []
        self.last_items: list[EvalItem] = []
        self.last_rewards: RewardResult | None = None

        trainable = [p for p in bundle.model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError("the policy has no trainable parameters")
        optimizer = build_optimizer(cfg, [{"params": trainable}])
        self.model, self.optimizer = setup_model_and_optimizer(self.fabric, bundle.model, optimizer)
        self.banned = banned_token_ids(bundle)
        self.reference = (
            ReferencePolicy(self.model, cfg.reference, reference_model) if cfg.kl_coef > 0 else None
        )
        self.stream = DataStream(
            len(train),
            cfg.items_per_step,
            seed=cfg.seed,
            rank=self.fabric.global_rank,
            world_size=self.fabric.world_size,
        )
        self._val_items: list[EvalItem] | None = None
        if resume and self.checkpoint_dir is not None:
            self._maybe_resume()

    # ------------------------------------------------------------------ checkpoints
    def _maybe_resume(self) -> None:
        assert self.checkpoint_dir is not None
        path = latest_checkpoint(self.checkpoint_dir)
        if path is None:
            return
        state = load_checkpoint_dir(self.fabric, path, self.model, self.optimizer, layout=self.layout)
        saved_key, key = state.get("run_info", {}).get("resume_key"), self.run_info.get("resume_key")
        if saved_key is not None and key is not None and saved_key != key:
            raise ValueError(
                f"checkpoint {path} belongs to another configuration (resume key {saved_key} != {key}); "
                "use another checkpoint_dir or resume=never"
            )
        self.step = int(state["step"])
        self.stream.load_state_dict(state["data"])
        self.history = list(state.get("history", []))
        self.train_time_s = float(state.get("train_time_s", 0.0))
        self.resumed_from = self.step
        self._print(f"resumed from {path} (step {self.step})")

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (no-op without a checkpoint directory)."""
        if self.checkpoint_dir is None:
            return None
        state = {
            "step": self.step,
            "data": self.stream.state_dict(),
            "history": self.history,
            "train_time_s": self.train_time_s,
            "config": self.cfg.to_dict(),
            "run_info": self.run_info,
        }
        return save_checkpoint_dir(
            self.fabric,
            self.checkpoint_dir,
            self.step,
            self.model,
            self.optimizer,
            state,
            keep=self.cfg.keep_checkpoints,
            layout=self.layout,
        )

    @property
    def layout(self) -> dict[str, Any]:
        """The run's layout (engine, world size, global batch of completions per step), recorded
        in every checkpoint and checked on resume (:func:`common.engine.check_resume_layout`)."""
        return training_layout(self.fabric, self.cfg.batch_size * self.fabric.world_size)

    # ------------------------------------------------------------------ one step
    def _set_lr(self, step: int) -> float:
        lr = lr_at(self.cfg, step - 1)  # training steps count from 1, the schedule from 0
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def rollout(self, items: list[EvalItem], step: int) -> RolloutBatch:
        """G completions per item from the current policy (eval mode, weights gathered under ZeRO-3)."""
        self.model.eval()
        with gathered_parameters(self.model) as bare:
            return collect_rollout(
                self.bundle,
                items,
                self.cfg,
                step=step,
                rank=self.fabric.global_rank,
                banned=self.banned,
                model=bare,
            )

    def train_step(self) -> dict[str, float]:
        """Run the next training step; returns its metrics (averaged over ranks)."""
        step = self.step + 1
        t0 = time.perf_counter()
        items = load_items(self.train_ds, self.stream.next_indices())
        rollout = self.rollout(items, step)
        t_rollout = time.perf_counter() - t0
        rewards = self.reward_fn(rollout.texts, rollout.items)
        g = self.cfg.rollout.group_size
        totals = torch.tensor(rewards.totals, dtype=torch.float32)
        advantages = ADVANTAGE_ESTIMATORS.get(self.cfg.advantage)(totals, group_size=g, eps=self.cfg.adv_eps)
        lr = self._set_lr(step)
        t1 = time.perf_counter()
        if self.cfg.skip_no_signal_steps and not self._has_signal(advantages):
            stats = {**dict.fromkeys(UPDATE_KEYS, float("nan")), "policy/optimizer_steps": 0.0}
        else:
            stats = grpo_update(
                self.fabric,
                self.model,
                self.optimizer,
                micro_batches(rollout, self.cfg.micro),
                advantages,
                self.cfg,
                banned=self.banned,
                reference=self.reference,
            )
        t_update = time.perf_counter() - t1
        metrics = {
            **reward_metrics(rewards, g),
            **completion_metrics(rollout),
            **stats,
            "optim/lr": lr,
            "data/epoch": float(self.stream.epoch),
            "time/rollout_s": t_rollout,
            "time/update_s": t_update,
            "time/step_s": time.perf_counter() - t0,
        }
        metrics = self._reduce(metrics)
        self.step = step
        self.last_texts, self.last_items, self.last_rewards = rollout.texts, rollout.items, rewards
        return metrics

    def _has_signal(self, advantages: torch.Tensor) -> bool:
        """Whether any rank has a non-zero advantage (all ranks must agree to skip a step)."""
        flag = torch.tensor([float(bool((advantages != 0).any()))], device=self.fabric.device)
        if self.fabric.world_size > 1:
            flag = self.fabric.all_reduce(flag, reduce_op="sum")
        return bool(flag.item() > 0)

    def _reduce(self, metrics: dict[str, float]) -> dict[str, float]:
        """The step's metrics over all ranks: the mean of the ranks' equal shares, and for a
        maximum (``*_max``) the maximum (the same keys on every rank)."""
        if self.fabric.world_size == 1:
            return metrics
        maxima = {k: v for k, v in metrics.items() if k.endswith("_max")}
        means = {k: v for k, v in metrics.items() if k not in maxima}
        out = reduce_over_ranks(self.fabric, means) if means else {}
        out |= reduce_over_ranks(self.fabric, maxima, op="max") if maxima else {}
        return {k: out[k] for k in metrics}

    # ------------------------------------------------------------------ validation
    def validate(self) -> dict[str, float]:
        """``val/*`` metrics on the first ``eval_max_items`` validation rows (empty without ``val``)."""
        if self.val_ds is None:
            return {}
        if self._val_items is None:
            self._val_items = load_items(self.val_ds, range(min(self.cfg.eval_max_items, len(self.val_ds))))
        self.model.eval()
        with gathered_parameters(self.model) as bare:
            out = validate_items(
                self.bundle,
                self._val_items,
                self.reward_fn,
                template=self.cfg.rollout.template,
                max_new_tokens=self.cfg.rollout.max_new_tokens,
                banned=self.banned,
                model=bare,
            )
        return out

    # ------------------------------------------------------------------ the loop
    def _print(self, text: str) -> None:
        if self.verbose and self.fabric.global_rank == 0:
            print(f"[t2ieval_r1.grpo] {text}", flush=True)

    def _log(self, record: dict[str, Any], step: int) -> None:
        if self.fabric.global_rank == 0 and self.log_fn is not None:
            self.log_fn(record, step)

    def fit(self) -> dict[str, Any]:
        """Train until ``steps`` (or ``max_time_s``); returns a summary of the run."""
        cfg = self.cfg
        stopped_by_time = self._out_of_time()
        while self.step < cfg.steps and not stopped_by_time:
            t0 = time.perf_counter()
            metrics = self.train_step()
            self.train_time_s += time.perf_counter() - t0
            last = self.step == cfg.steps
            if self.val_ds is not None and ((cfg.eval_every and self.step % cfg.eval_every == 0) or last):
                metrics.update(self.validate())
            # JSON-clean (NaN -> None) now, so that the history reads the same after a resume
            record = to_jsonable({"step": self.step, **metrics, "time/train_s": self.train_time_s})
            self.history.append(record)
            stopped_by_time = self._out_of_time()
            if self.step % cfg.log_every == 0 or last or stopped_by_time:
                self._log({k: v for k, v in record.items() if k != "step"}, self.step)
                self._print(self._line(record))
            if self.step % cfg.checkpoint_every == 0 or last or stopped_by_time:
                self.save()
            if stopped_by_time:
                self._print(f"stopping at step {self.step}: max_time_s={cfg.max_time_s} reached")
                break
        return self.summary(stopped_by_time=stopped_by_time)

    def _out_of_time(self) -> bool:
        """Whether the training time summed over this run's resumes reached ``max_time_s`` on any
        rank (the ranks' clocks differ: all stop at the same step, none waits in a collective the
        others left; one process: no communication)."""
        over = self.cfg.max_time_s is not None and self.train_time_s >= self.cfg.max_time_s
        if self.cfg.max_time_s is None or self.fabric.world_size == 1:
            return over
        flag = torch.tensor([float(over)], device=self.fabric.device)
        return bool(self.fabric.all_reduce(flag, reduce_op="sum").item() > 0)

    def summary(self, *, stopped_by_time: bool = False) -> dict[str, Any]:
        """Steps done, resume point, train time, the first and last logged metrics."""
        return {
            "steps": self.step,
            "planned_steps": self.cfg.steps,
            "resumed_from": self.resumed_from,
            "stopped_by_time": stopped_by_time,
            "train_time_s": round(self.train_time_s, 2),
            "first": self.history[0] if self.history else {},
            "last": self.history[-1] if self.history else {},
            "checkpoint_dir": str(self.checkpoint_dir) if self.checkpoint_dir else None,
        }

    @staticmethod
    def _line(r: dict[str, Any]) -> str:
        def f(key: str, spec: str = ".3f") -> str:
            value = r.get(key)
            return "n/a" if value is None else format(value, spec)

        parts = [
            f"step {r['step']}",
            f"reward {f('reward/total_mean')}",
            f"score {f('reward/score_mean')}",
            f"format {f('reward/format_mean', '.2f')}",
            f"fail {f('reward/failure_rate', '.2f')}",
            f"zero-std {f('groups/zero_std_ratio', '.2f')}",
            f"len {f('completion/len_mean', '.1f')}",
            f"kl {f('loss/kl', '.4f')}",
            f"ent {f('policy/entropy', '.2f')}",
            f"clip {f('policy/clip_frac')}",
            f"{f('time/step_s', '.2f')}s",
        ]
        if "val/spearman" in r:
            parts.append(f"val rho {f('val/spearman')} (fail {f('val/failure_rate', '.2f')})")
        if "val/pair_accuracy" in r:
            parts.append(f"val pair acc {f('val/pair_accuracy')} (fail {f('val/failure_rate', '.2f')})")
        return " | ".join(parts)

    def export(self, path: str | Path) -> Path:
        """Save the trained evaluator as a hub-style directory (``load_vlm`` reads it):
        :func:`common.engine.export_pretrained` (ZeRO-3 shards gathered, rank 0 writes, every
        rank waits). Collective: every rank must call it."""
        return export_pretrained(self.bundle, path, model=self.model)
