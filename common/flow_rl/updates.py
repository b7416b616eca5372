"""The algorithms' updates of :class:`~common.flow_rl.trainer.FlowRLTrainer`, by name: :data:`FLOW_UPDATES`.

An update sees the trainer through :class:`UpdateContext` (its settings as :class:`UpdateSettings`),
so this module does not import the trainer or its settings (both import this one).

* ``diffusion_nft`` (DiffusionNFT; FIRM, docs/papers/firm.md §5): for each sample,
  ``timesteps_per_sample`` fresh ``t ~ U(t_min, t_max)`` and noise, ``x_t = (1 - t) x0 + t n``;
  the NFT loss (:func:`common.rl.nft.nft_loss`) on the current, old (EMA) and reference velocities
  at ``x_t`` with optimality ``r = clip(A, +-A_max) / A_max / 2 + 0.5``; gradients of the
  timesteps accumulate into one optimiser step per ``train_batch`` samples.
* ``flow_grpo`` (Flow-GRPO): the rollout's SDE steps are re-evaluated under the current policy for
  a share ``timestep_fraction`` of the steps; the clipped ratio loss
  (:func:`common.rl.losses.policy_loss`) per step, plus ``kl_coef`` times the KL of the step
  Gaussians to the reference (:func:`common.rl.flow_sde.flow_kl`); one optimiser step per
  ``train_batch`` samples.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from common.flow_rl.policy import FlowPolicy
from common.flow_rl.rollout import Rollout
from common.models.t2i import Conditioning
from common.registry import Registry
from common.rl.flow_sde import flow_kl, interpolate, sde_step_with_logprob
from common.rl.losses import policy_loss
from common.rl.nft import nft_loss, optimality_from_advantage

__all__ = [
    "FLOW_UPDATES",
    "RolloutBatch",
    "UpdateContext",
    "UpdateSettings",
    "flow_grpo_update",
    "nft_update",
]


class UpdateSettings(Protocol):
    """The settings an update reads (fields of :class:`~common.flow_rl.config.FlowRLConfig`)."""

    inner_epochs: int
    train_batch: int
    adv_clip_max: float
    nft_beta: float
    kl_weight: float
    timesteps_per_sample: int
    t_min: float
    t_max: float
    noise_level: float
    clip_range: float
    kl_coef: float
    timestep_fraction: float


class UpdateContext(Protocol):
    """What an update uses of the trainer (:class:`~common.flow_rl.trainer.FlowRLTrainer`).

    Attributes:
        policy: the policy (old and reference velocities).
        module: the trained velocity, ``module(x, sigma, cond)``, as the fabric wrapped it.
        optimizer: its optimiser, as the fabric wrapped it.
        fabric: the Lightning Fabric (``backward``).
        train_rng: the training noise's generator.
    """

    policy: FlowPolicy
    module: Any
    optimizer: Any
    fabric: Any
    train_rng: torch.Generator

    @property
    def cfg(self) -> UpdateSettings:
        """The trainer's settings."""
        ...

    def step_optimizer(self) -> float:
        """Clip, step, return the gradient norm before clipping."""
        ...


UpdateFn = Callable[[UpdateContext, "RolloutBatch", torch.Tensor], dict[str, float]]
FLOW_UPDATES: Registry[UpdateFn] = Registry("flow RL update")
"""Algorithm name -> ``update(trainer, batch, advantages) -> stats`` (one iteration's optimisation)."""


@dataclass
class RolloutBatch:
    """An iteration's samples, concatenated over chunks."""

    x0: torch.Tensor
    cond: Conditioning
    sigmas: torch.Tensor
    states: torch.Tensor | None
    log_probs: torch.Tensor | None

    @staticmethod
    def of(rollouts: Sequence[Rollout]) -> RolloutBatch:
        sde = rollouts[0].states is not None
        return RolloutBatch(
            x0=torch.cat([r.x0 for r in rollouts]),
            cond=Conditioning.cat([r.cond for r in rollouts]),
            sigmas=rollouts[0].sigmas,
            states=torch.cat([r.states for r in rollouts], dim=1) if sde else None,  # type: ignore[misc]
            log_probs=torch.cat([r.log_probs for r in rollouts], dim=1) if sde else None,  # type: ignore[misc]
        )

    def __len__(self) -> int:
        return int(self.x0.shape[0])


def _mean_stats(records: list[dict[str, torch.Tensor | float]]) -> dict[str, float]:
    """Each statistic's mean over the records that hold it (``grad_norm``: one per optimiser step)."""
    keys = dict.fromkeys(k for rec in records for k in rec)
    return {k: float(np.mean([float(rec[k]) for rec in records if k in rec])) for k in keys}


@FLOW_UPDATES.register("diffusion_nft")
def nft_update(trainer: UpdateContext, batch: RolloutBatch, advantages: torch.Tensor) -> dict[str, float]:
    """DiffusionNFT's update (module docstring)."""
    cfg = trainer.cfg
    r = optimality_from_advantage(advantages, cfg.adv_clip_max)
    records = []
    for _ in range(cfg.inner_epochs):
        order = torch.randperm(len(batch), generator=trainer.train_rng)
        for start in range(0, len(batch), cfg.train_batch):
            idx = order[start : start + cfg.train_batch]
            x0, cond, ri = batch.x0[idx], batch.cond.select(idx), r[idx]
            trainer.optimizer.zero_grad(set_to_none=True)
            for _ in range(cfg.timesteps_per_sample):
                t = cfg.t_min + (cfg.t_max - cfg.t_min) * torch.rand(len(idx), generator=trainer.train_rng)
                noise = torch.randn(x0.shape, generator=trainer.train_rng)
                x_t = interpolate(x0, noise, t)
                with torch.no_grad():
                    v_old = trainer.policy.velocity(x_t, t, cond, "old").float()
                    v_ref = (
                        trainer.policy.velocity(x_t, t, cond, "reference").float()
                        if cfg.kl_weight > 0
                        else None
                    )
                v = trainer.module(x_t, t, cond).float()
                loss, stats = nft_loss(
                    v,
                    v_old,
                    x0,
                    x_t,
                    t,
                    ri,
                    cfg.nft_beta,
                    v_ref=v_ref,
                    kl_weight=cfg.kl_weight,
                    adv_clip_max=cfg.adv_clip_max,
                )
                trainer.fabric.backward(loss / cfg.timesteps_per_sample)
                records.append({"loss": loss.detach(), **stats})
            records[-1]["grad_norm"] = trainer.step_optimizer()
    return _mean_stats(records)


@FLOW_UPDATES.register("flow_grpo")
def flow_grpo_update(
    trainer: UpdateContext, batch: RolloutBatch, advantages: torch.Tensor
) -> dict[str, float]:
    """Flow-GRPO's update (module docstring)."""
    cfg = trainer.cfg
    assert batch.states is not None and batch.log_probs is not None
    n_steps = batch.log_probs.shape[0]
    n_train = max(1, round(cfg.timestep_fraction * n_steps))
    adv = advantages.clamp(-cfg.adv_clip_max, cfg.adv_clip_max)
    records = []
    for _ in range(cfg.inner_epochs):
        order = torch.randperm(len(batch), generator=trainer.train_rng)
        for start in range(0, len(batch), cfg.train_batch):
            idx = order[start : start + cfg.train_batch]
            cond, a = batch.cond.select(idx), adv[idx]
            steps = torch.randperm(n_steps, generator=trainer.train_rng)[:n_train].sort().values
            trainer.optimizer.zero_grad(set_to_none=True)
            for j in steps.tolist():
                s, s_next = float(batch.sigmas[j]), float(batch.sigmas[j + 1])
                x, x_next = batch.states[j][idx], batch.states[j + 1][idx]
                v = trainer.module(x, s, cond).float()
                step = sde_step_with_logprob(x, v, s, s_next, cfg.noise_level, prev_sample=x_next)
                loss, stats = policy_loss(
                    step.log_prob[:, None],
                    batch.log_probs[j][idx][:, None],
                    a,
                    torch.ones(len(idx), 1, device=step.log_prob.device),
                    cfg.clip_range,
                    cfg.clip_range,
                )
                if cfg.kl_coef > 0:
                    with torch.no_grad():
                        v_ref = trainer.policy.velocity(x, s, cond, "reference").float()
                        ref = sde_step_with_logprob(x, v_ref, s, s_next, cfg.noise_level, prev_sample=x_next)
                    kl = flow_kl(step.mean, ref.mean, step.std).mean()
                    loss = loss + cfg.kl_coef * kl
                    stats["kl"] = kl.detach()
                trainer.fabric.backward(loss / n_train)
                records.append({"loss": loss.detach(), **stats})
            records[-1]["grad_norm"] = trainer.step_optimizer()
    return _mean_stats(records)
