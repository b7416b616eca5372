"""The trainer's configuration: dataclasses behind ``task.grpo`` of the T2I-Eval-R1 experiments.

:meth:`GRPOConfig.from_dict` builds the config from a mapping (or an OmegaConf node) with the one
converter, :func:`common.config.to_dataclass` (unknown keys and wrong types fail with the dotted
key in the message), and :meth:`GRPOConfig.validate`, run on construction, checks the
combinations (e.g. the batch must hold whole groups) with an explanation.

Batch vocabulary (per rank; ``global = per rank * world size``):

* ``batch_size``: completions sampled per training step, ``items = batch_size / group_size``
  prompts (images) with ``group_size`` completions each (one GRPO group per item);
* ``mini_batch_size``: completions per optimizer step; a rollout batch gives
  ``ppo_epochs * batch_size / mini_batch_size`` optimizer steps (1 by default, the usual GRPO
  setting in which the ratio is 1 at the first step);
* ``micro_batch_size``: completions per forward/backward pass; a mini-batch accumulates
  ``mini_batch_size / micro_batch_size`` of them (gradient accumulation);
* ``rollout.generation_batch_size``: completions per ``generate`` call.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from common.config import ConfigError, to_dataclass
from common.rewards import ITEM_REWARDS
from common.rl import ADVANTAGE_ESTIMATORS, KL_ESTIMATORS, LOSS_AGGREGATIONS
from common.train import LoopConfig

__all__ = [
    "GRPOConfig",
    "GRPOConfigError",
    "RewardConfig",
    "RolloutConfig",
]

GRPOConfigError = ConfigError
"""A trainer config that cannot work; the message names the key and the fix (the one config
error class, :class:`common.config.ConfigError`, under the name this package has always raised)."""


@dataclass
class RolloutConfig:
    """How completions are sampled.

    Attributes:
        group_size: G, completions per item (a GRPO group).
        temperature: sampling temperature (> 0; the log-probs are of the tempered distribution).
        top_p / top_k: nucleus / top-k truncation (1.0 / 0 = off; not reflected in log-probs).
        max_new_tokens: completion length limit (a truncated completion has no closed answer
            and gets reward 0).
        generation_batch_size: completions per ``generate`` call (a multiple of ``group_size``
            and of ``micro_batch_size``); ``None`` = the whole rollout batch at once.
        template: the prompt wording (:data:`t2ieval_r1.prompts.PROMPT_TEMPLATES`).
    """

    group_size: int = 4
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    generation_batch_size: int | None = None
    template: str = "default"


@dataclass
class RewardConfig:
    """``total = score reward + format_weight * format reward`` (docs/papers/t2i_eval_r1.md §3).

    Attributes:
        score_fn: single-wise score reward (``score_continuous`` default, ``score_gaussian``,
            ``score_discrete``; names in :data:`common.rewards.ITEM_REWARDS`).
        pair_score_fn: pairwise reward (``pair_continuous``, ``pair_sigmoid``, ``pair_discrete``).
        format_weight: lambda.
        score_kwargs / pair_score_kwargs: extra arguments (``sigma``, ``tol``, ``temperature``...).
    """

    score_fn: str = "score_continuous"
    pair_score_fn: str = "pair_continuous"
    format_weight: float = 1.0
    score_kwargs: dict[str, Any] = field(default_factory=dict)
    pair_score_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class GRPOConfig(LoopConfig):
    """Everything the GRPO trainer needs besides the model and the data: the loop's
    (:class:`common.train.config.LoopConfig`, with GRPO's defaults) and these.

    The optimizer is ``optimizer`` (AdamW) with ``lr``, ``weight_decay``, ``betas``, ``eps``; the
    learning rate warms up linearly over ``warmup_steps`` to a constant (``lr_schedule: constant``,
    the R1 recipes'), which depends on the step only, so a run can be extended by rerunning it
    with a larger ``steps``. ``grad_clip`` clips the global gradient norm of every optimizer step
    (``None``: off; under DeepSpeed the engine's ``gradient_clipping`` applies instead).

    Attributes:
        steps: training steps (one rollout batch each); rerun with more to extend a run.
        batch_size / mini_batch_size / micro_batch_size / ppo_epochs: see the module docstring
            (``None``: mini = batch, micro = mini).
        advantage: a name in :data:`common.rl.ADVANTAGE_ESTIMATORS` (``grpo``: group std,
            ``grpo_global_std``, ``dr_grpo``: no std).
        adv_eps: added to the std.
        clip_low / clip_high: PPO clip range of the ratio.
        loss_agg: ``grpo`` (sequence mean), ``dr_grpo``, ``token_mean``/``dapo``.
        kl_coef: beta of the KL penalty to the reference (0 = no reference model).
        kl_estimator: ``k3`` (default), ``k2``, ``k1``.
        reference: ``auto`` (LoRA runs: the base with adapters disabled; else a frozen copy),
            ``adapters`` / ``copy`` to force one.
        recompute_old_logprobs: compute the rollout policy's log-probs with a teacher-forced
            pass instead of taking them from generation (use under bf16, where generation and
            training kernels differ).
        skip_no_signal_steps: skip the update of a step whose groups all have zero reward
            variance (every advantage is 0: no policy-gradient signal). Otherwise only the KL
            term acts, and at the start, where policy and reference agree to float noise, Adam
            turns that noise into parameter drift. Logged as ``policy/optimizer_steps`` = 0.
        checkpoint_every: steps between checkpoints (the last step is always saved).
        keep_checkpoints: how many recent checkpoints to keep.
        log_every: steps between log records (every step's metrics are still computed).
        eval_every: steps between validations on the validation corpus (0 = never; the final
            step is validated when a validation corpus is given).
        eval_max_items: validation items (greedy decoding).
        max_time_s: stop (with a checkpoint) once the training time summed over every resume
            of the run (validation excluded) reaches this; ``None`` = no limit. A resumed run
            that already spent it stops at once. Stopping by time is not bit-reproducible.
        seed: seeds the data order and every rollout (set from the run's ``seed``).
    """

    name: str = "grpo"
    steps: int = 100
    batch_size: int = 16
    lr: float = 1e-5
    lr_schedule: str = "constant"
    mini_batch_size: int | None = None
    micro_batch_size: int | None = None
    ppo_epochs: int = 1
    advantage: str = "grpo"
    adv_eps: float = 1e-4
    clip_low: float = 0.2
    clip_high: float = 0.2
    loss_agg: str = "grpo"
    kl_coef: float = 0.0
    kl_estimator: str = "k3"
    reference: Literal["auto", "adapters", "copy"] = "auto"
    recompute_old_logprobs: bool = False
    skip_no_signal_steps: bool = True
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    log_every: int = 1
    eval_every: int = 0
    eval_max_items: int = 64
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)

    # ------------------------------------------------------------------ derived sizes
    @property
    def mini(self) -> int:
        return self.mini_batch_size or self.batch_size

    @property
    def micro(self) -> int:
        return self.micro_batch_size or self.mini

    @property
    def generation_batch(self) -> int:
        return self.rollout.generation_batch_size or self.batch_size

    @property
    def items_per_step(self) -> int:
        return self.batch_size // self.rollout.group_size

    @property
    def accumulation_steps(self) -> int:
        return self.mini // self.micro

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Any) -> GRPOConfig:
        """Build from a mapping / OmegaConf node (:func:`common.config.to_dataclass`); validated on
        construction."""
        return to_dataclass(cls, data, "task.grpo")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> GRPOConfig:
        """Raise :class:`GRPOConfigError` on impossible combinations; returns ``self``."""
        r = self.rollout
        positive = {
            "task.grpo.steps": self.steps,
            "task.grpo.batch_size": self.batch_size,
            "task.grpo.ppo_epochs": self.ppo_epochs,
            "task.grpo.rollout.group_size": r.group_size,
            "task.grpo.rollout.max_new_tokens": r.max_new_tokens,
            "task.grpo.checkpoint_every": self.checkpoint_every,
            "task.grpo.keep_checkpoints": self.keep_checkpoints,
            "task.grpo.log_every": self.log_every,
            "task.grpo.mini_batch_size": self.mini,
            "task.grpo.micro_batch_size": self.micro,
            "task.grpo.rollout.generation_batch_size": self.generation_batch,
        }
        for key, value in positive.items():
            if value < 1:
                raise GRPOConfigError(f"{key} must be >= 1, got {value}")
        if r.group_size < 2:
            raise GRPOConfigError(
                f"task.grpo.rollout.group_size must be >= 2, got {r.group_size}: "
                "a group of one has zero advantage"
            )
        checks = [
            (
                self.batch_size,
                r.group_size,
                "task.grpo.batch_size",
                "task.grpo.rollout.group_size",
                "every item needs all of its G completions in the same batch",
            ),
            (
                self.batch_size,
                self.mini,
                "task.grpo.batch_size",
                "task.grpo.mini_batch_size",
                "a rollout batch is split into whole mini-batches (optimizer steps)",
            ),
            (
                self.mini,
                self.micro,
                "task.grpo.mini_batch_size",
                "task.grpo.micro_batch_size",
                "a mini-batch accumulates whole micro-batches",
            ),
            (
                self.batch_size,
                self.generation_batch,
                "task.grpo.batch_size",
                "task.grpo.rollout.generation_batch_size",
                "the rollout is generated in whole chunks",
            ),
            (
                self.generation_batch,
                r.group_size,
                "task.grpo.rollout.generation_batch_size",
                "task.grpo.rollout.group_size",
                "a generate call samples whole groups",
            ),
            (
                self.generation_batch,
                self.micro,
                "task.grpo.rollout.generation_batch_size",
                "task.grpo.micro_batch_size",
                "a micro-batch must not span two generate calls",
            ),
        ]
        for value, divisor, key, dkey, why in checks:
            if value % divisor:
                raise GRPOConfigError(f"{key} ({value}) must be a multiple of {dkey} ({divisor}): {why}")
        if not (r.temperature > 0 and math.isfinite(r.temperature)):
            raise GRPOConfigError(
                f"task.grpo.rollout.temperature must be > 0 for sampling, got {r.temperature}"
            )
        if not 0 < r.top_p <= 1:
            raise GRPOConfigError(f"task.grpo.rollout.top_p must be in (0, 1], got {r.top_p}")
        if r.top_k < 0:
            raise GRPOConfigError(f"task.grpo.rollout.top_k must be >= 0, got {r.top_k}")
        if not (0 <= self.clip_low < 1 and self.clip_high >= 0):
            raise GRPOConfigError(
                "task.grpo.clip_low must be in [0, 1) and clip_high >= 0, "
                f"got {self.clip_low}, {self.clip_high}"
            )
        if self.kl_coef < 0 or self.adv_eps < 0:
            raise GRPOConfigError("task.grpo.kl_coef and task.grpo.adv_eps must be >= 0")
        if not self.lr > 0:
            raise GRPOConfigError(f"task.grpo.lr must be > 0, got {self.lr}")
        for problem in self.loop_problems():
            raise GRPOConfigError(f"task.grpo.{problem}")
        if self.eval_every < 0 or self.eval_max_items < 1:
            raise GRPOConfigError("task.grpo.eval_every must be >= 0 and grpo.eval_max_items >= 1")
        for key, name, registry in (
            ("task.grpo.advantage", self.advantage, ADVANTAGE_ESTIMATORS),
            ("task.grpo.loss_agg", self.loss_agg, LOSS_AGGREGATIONS),
            ("task.grpo.kl_estimator", self.kl_estimator, KL_ESTIMATORS),
            ("task.grpo.reward.score_fn", self.reward.score_fn, ITEM_REWARDS),
            ("task.grpo.reward.pair_score_fn", self.reward.pair_score_fn, ITEM_REWARDS),
        ):
            if name not in registry:
                raise GRPOConfigError(f"{key}: unknown name {name!r}; known: {', '.join(registry.names())}")
        if self.reward.format_weight < 0:
            raise GRPOConfigError(
                f"task.grpo.reward.format_weight must be >= 0, got {self.reward.format_weight}"
            )
        return self
