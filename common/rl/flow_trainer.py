"""One online RL trainer for flow-matching image policies: :class:`FlowRLTrainer`.

An iteration (FIRM, docs/papers/firm.md §5; DiffusionNFT and Flow-GRPO, listed in :mod:`common.rl`):

1. draw ``prompts_per_iteration`` items (batch ``i`` of a seeded stream: a resumed run gets the
   same next batch) and sample ``group_size`` images per item, each from its own noise, in
   ``sample_chunks`` chunks;
2. rewards: each chunk's images go to the reward function on a worker thread while the next chunk
   samples (the latency of a remote critic is hidden behind sampling); NaN rewards (a critic with
   no usable answer) take their group's mean (advantage 0) and are counted;
3. advantages by the algorithm's estimator over per-prompt groups (FIRM: group mean with the
   batch's global std), gathered across ranks;
4. the algorithm's update (:data:`FLOW_UPDATES`, chosen by ``algorithm`` in
   :data:`common.rl.algorithms.RL_ALGORITHMS`):

   * ``diffusion_nft``: for each sample, ``timesteps_per_sample`` fresh ``t ~ U(t_min, t_max)``
     and noise; the NFT loss (:func:`common.rl.nft.nft_loss`) on the current, old (EMA) and
     reference velocities with optimality ``r = clip(A) / A_max / 2 + 0.5``; rollouts come from
     the old policy with a deterministic sampler (``dpm2``), no CFG;
   * ``flow_grpo``: SDE rollouts of the current policy record each step's log-prob; the update
     recomputes the log-prob of a share ``timestep_fraction`` of the steps and applies the clipped
     ratio loss (:func:`common.rl.losses.policy_loss`) plus ``kl_coef`` times the KL of the step
     Gaussians to the reference (:func:`common.rl.flow_sde.flow_kl`);

5. the old policy moves: ``old = d old + (1 - d) current`` with FIRM's ``d = min(0.001 step, 0.5)``.

Checkpoints (:mod:`common.run_checkpoints`) hold the trained and old weights, the optimiser, the
step, the log and every RNG; rerunning the same command continues from the last one and takes
the same next batch with the same parameters. A critic outage (:class:`CriticUnavailableError`
after the client's own retries) saves the finished steps, then fails with what to do.
``max_time_s`` stops after the step that crosses it (a tiny-scale budget; ``None`` at paper scale).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from common.models.lora import LoRASettings
from common.models.t2i import Conditioning
from common.registry import Registry
from common.rewards.critic_client import CriticUnavailableError
from common.rl.algorithms import RL_ALGORITHMS
from common.rl.flow_policy import FlowPolicy
from common.rl.flow_rollout import SAMPLERS, Rollout, rollout
from common.rl.flow_sde import flow_kl, interpolate, sde_step_with_logprob
from common.rl.losses import policy_loss
from common.rl.nft import nft_loss, optimality_from_advantage
from common.rl.stats import PerPromptStatTracker
from common.run_checkpoints import latest_checkpoint, load_checkpoint_dir, save_checkpoint_dir

__all__ = [
    "FLOW_UPDATES",
    "FlowRLConfig",
    "FlowRLTrainer",
    "RewardBatch",
    "RewardFn",
    "fill_nan_rewards",
]


@dataclass
class FlowRLConfig:
    """Settings of :class:`FlowRLTrainer` (defaults: FIRM's where they exist, docs/papers/firm.md §5).

    Attributes:
        algorithm: a flow entry of :data:`~common.rl.algorithms.RL_ALGORITHMS` (``diffusion_nft``,
            ``flow_grpo``).
        steps: RL iterations.
        prompts_per_iteration: items per iteration (per rank).
        group_size: samples per item (FIRM: 16).
        sample_steps: denoising steps of a rollout (FIRM: SD3.5 10, editor 6).
        sampler: ``dpm2`` / ``euler`` for DiffusionNFT (deterministic); Flow-GRPO always uses ``sde``.
        sample_chunks: rollouts per iteration; rewards of one run while the next samples.
        guidance_scale: CFG of the rollouts (FIRM trains without: 1).
        lr, weight_decay, grad_clip: AdamW and gradient-norm clipping of the trained parameters.
        train_batch: samples per optimiser step.
        inner_epochs: passes over an iteration's samples.
        lora: LoRA settings (:class:`~common.models.lora.LoRASettings` fields; FIRM r 32, alpha 64);
            ``None``: train the whole transformer.
        ema_schedule: the old policy's decay (``firm``: ``min(0.001 step, 0.5)``, or a constant).
        adv_clip_max: advantages clipped to +-this (FIRM 5), also NFT's loss scale.
        nft_beta: NFT mixing weight (FIRM 1).
        kl_weight: DiffusionNFT's velocity-MSE KL to the reference (FIRM 1e-4).
        timesteps_per_sample: NFT training times drawn per sample and step.
        t_min, t_max: range of the NFT training times.
        noise_level: Flow-GRPO's SDE noise level ``a``.
        clip_range: Flow-GRPO's ratio clip.
        kl_coef: Flow-GRPO's KL weight.
        timestep_fraction: share of a rollout's SDE steps Flow-GRPO trains on.
        seed: seeds the item stream, the rollout noise and the training noise.
        checkpoint_every: save every this many steps (and at the end); 0: only at the end.
        keep_checkpoints: how many to keep.
        max_time_s: stop after the step that crosses this wall time (``None``: no limit).
    """

    algorithm: str = "diffusion_nft"
    steps: int = 60
    prompts_per_iteration: int = 16
    group_size: int = 8
    sample_steps: int = 10
    sampler: str = "dpm2"
    sample_chunks: int = 2
    guidance_scale: float = 1.0
    lr: float = 3e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    train_batch: int = 32
    inner_epochs: int = 1
    lora: dict[str, Any] | None = field(default_factory=lambda: {"r": 32, "alpha": 64})
    ema_schedule: str = "firm"
    adv_clip_max: float = 5.0
    nft_beta: float = 1.0
    kl_weight: float = 1e-4
    timesteps_per_sample: int = 2
    t_min: float = 0.0
    t_max: float = 1.0
    noise_level: float = 0.7
    clip_range: float = 1e-4
    kl_coef: float = 0.04
    timestep_fraction: float = 1.0
    seed: int = 0
    checkpoint_every: int = 10
    keep_checkpoints: int = 2
    max_time_s: float | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("invalid RL settings: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when valid)."""
        out = []
        if self.algorithm not in FLOW_UPDATES.names():
            out.append(f"algorithm must be one of {sorted(FLOW_UPDATES.names())}, got {self.algorithm!r}")
        if self.sampler not in SAMPLERS:
            out.append(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        for name in ("steps", "prompts_per_iteration", "sample_steps", "sample_chunks", "train_batch"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.group_size < 2:
            out.append(f"group_size must be >= 2 (group-relative advantages), got {self.group_size}")
        if self.prompts_per_iteration % self.sample_chunks:
            out.append(
                f"prompts_per_iteration ({self.prompts_per_iteration}) must be a multiple of "
                f"sample_chunks ({self.sample_chunks})"
            )
        if not 0.0 <= self.t_min < self.t_max <= 1.0:
            out.append(f"need 0 <= t_min < t_max <= 1, got t_min={self.t_min}, t_max={self.t_max}")
        if not 0.0 < self.timestep_fraction <= 1.0:
            out.append(f"timestep_fraction must be in (0, 1], got {self.timestep_fraction}")
        return out

    def lora_settings(self) -> LoRASettings | None:
        return None if self.lora is None else LoRASettings(**self.lora)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RewardBatch:
    """Rewards of a batch of images: ``rewards`` in [0, 1] (NaN: no usable critic answer) and the
    critic's raw ``scores`` per mode (logged)."""

    rewards: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)


class RewardFn(Protocol):
    """``reward_fn(items, images) -> RewardBatch``; one image per item (items repeated per group)."""

    def __call__(self, items: Sequence[Any], images: Sequence[Any]) -> RewardBatch: ...


def fill_nan_rewards(rewards: np.ndarray, group_size: int) -> tuple[np.ndarray, int]:
    """NaN rewards replaced by their group's mean of valid ones (0 advantage; 0 if none is valid).

    Returns ``(rewards, number replaced)``; groups are consecutive runs of ``group_size``.
    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1, group_size).copy()
    bad = ~np.isfinite(r)
    if bad.any():
        means = np.array([row[~b].mean() if (~b).any() else 0.0 for row, b in zip(r, bad, strict=True)])
        r[bad] = np.broadcast_to(means[:, None], r.shape)[bad]
    return r.reshape(-1), int(bad.sum())


# ------------------------------------------------------------------------------------- updates

UpdateFn = Callable[["FlowRLTrainer", "_Batch", torch.Tensor], dict[str, float]]
FLOW_UPDATES: Registry[UpdateFn] = Registry("flow RL update")
"""Algorithm name -> ``update(trainer, batch, advantages) -> stats`` (one iteration's optimisation)."""


@dataclass
class _Batch:
    """An iteration's samples, concatenated over chunks."""

    x0: torch.Tensor
    cond: Conditioning
    sigmas: torch.Tensor
    states: torch.Tensor | None
    log_probs: torch.Tensor | None

    @staticmethod
    def of(rollouts: Sequence[Rollout]) -> _Batch:
        sde = rollouts[0].states is not None
        return _Batch(
            x0=torch.cat([r.x0 for r in rollouts]),
            cond=Conditioning.cat([r.cond for r in rollouts]),
            sigmas=rollouts[0].sigmas,
            states=torch.cat([r.states for r in rollouts], dim=1) if sde else None,  # type: ignore[misc]
            log_probs=torch.cat([r.log_probs for r in rollouts], dim=1) if sde else None,  # type: ignore[misc]
        )

    def __len__(self) -> int:
        return int(self.x0.shape[0])


def _mean_stats(records: list[dict[str, torch.Tensor | float]]) -> dict[str, float]:
    if not records:
        return {}
    return {k: float(np.mean([float(r[k]) for r in records])) for k in records[0]}


@FLOW_UPDATES.register("diffusion_nft")
def nft_update(trainer: FlowRLTrainer, batch: _Batch, advantages: torch.Tensor) -> dict[str, float]:
    """DiffusionNFT's update (module docstring, step 4)."""
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
                    v_ref = trainer.policy.velocity(x_t, t, cond, "reference").float() if cfg.kl_weight > 0 else None
                v = trainer.module(x_t, t, cond).float()
                loss, stats = nft_loss(
                    v, v_old, x0, x_t, t, ri, cfg.nft_beta, v_ref=v_ref, kl_weight=cfg.kl_weight,
                    adv_clip_max=cfg.adv_clip_max,
                )
                trainer.fabric.backward(loss / cfg.timesteps_per_sample)
                records.append({"loss": loss.detach(), **stats})
            records[-1]["grad_norm"] = trainer.step_optimizer()
    return _mean_stats([{k: v for k, v in rec.items() if k != "grad_norm"} for rec in records]) | {
        "grad_norm": float(np.mean([float(rec["grad_norm"]) for rec in records if "grad_norm" in rec]))
    }


@FLOW_UPDATES.register("flow_grpo")
def flow_grpo_update(trainer: FlowRLTrainer, batch: _Batch, advantages: torch.Tensor) -> dict[str, float]:
    """Flow-GRPO's update (module docstring, step 4)."""
    cfg = trainer.cfg
    assert batch.states is not None and batch.log_probs is not None
    n_steps = batch.log_probs.shape[0]
    n_train = max(1, int(round(cfg.timestep_fraction * n_steps)))
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
                    torch.ones(len(idx), 1),
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
    return _mean_stats([{k: v for k, v in rec.items() if k != "grad_norm"} for rec in records]) | {
        "grad_norm": float(np.mean([float(rec["grad_norm"]) for rec in records if "grad_norm" in rec]))
    }


# ------------------------------------------------------------------------------------- trainer

BatchFn = Callable[[int], Sequence[Any]]
"""``batch_fn(step) -> items`` (each with ``.prompt`` and, for an editor, ``.source_image``)."""
EvalFn = Callable[[FlowPolicy, int], dict[str, float]]
"""``eval_fn(policy, step) -> metrics`` (held-out metrics logged beside the training reward)."""


class FlowRLTrainer:
    """Online RL of a :class:`FlowPolicy` (module docstring).

    Args:
        policy: the policy (its bundle's transformer is trained).
        cfg: :class:`FlowRLConfig`.
        batch_fn: the item stream (step -> items; pure in ``step``, for exact resume).
        reward_fn: images -> :class:`RewardBatch`.
        checkpoint_root: where checkpoints go (``None``: no checkpoints).
        fabric: a launched Lightning Fabric (``None``: one CPU process).
        eval_fn / eval_every: held-out evaluation every ``eval_every`` steps (0: never).
        log_fn: ``log_fn(metrics, step)`` after every step (e.g. the run's logger).
        progress: show a progress bar.
    """

    def __init__(
        self,
        policy: FlowPolicy,
        cfg: FlowRLConfig,
        batch_fn: BatchFn,
        reward_fn: RewardFn,
        *,
        checkpoint_root: Path | None = None,
        fabric: Any = None,
        eval_fn: EvalFn | None = None,
        eval_every: int = 0,
        log_fn: Callable[[dict[str, float], int], None] | None = None,
        progress: bool = True,
    ) -> None:
        if cfg.algorithm not in RL_ALGORITHMS.names():
            raise ValueError(f"unknown RL algorithm {cfg.algorithm!r}; known: {sorted(RL_ALGORITHMS.names())}")
        self.algorithm = RL_ALGORITHMS.get(cfg.algorithm)
        self.cfg = cfg
        self.policy = policy
        self.batch_fn = batch_fn
        self.reward_fn = reward_fn
        self.checkpoint_root = checkpoint_root
        self.eval_fn = eval_fn
        self.eval_every = eval_every
        self.log_fn = log_fn
        self.progress = progress
        if fabric is None:
            from common.train import make_fabric

            fabric = make_fabric()
        self.fabric = fabric
        optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.module, self.optimizer = fabric.setup(policy, optimizer)
        self.tracker = PerPromptStatTracker(gather=fabric.world_size > 1)
        self.train_rng = torch.Generator().manual_seed(cfg.seed * 7_919 + 1 + fabric.global_rank)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward")

    # ---- pieces --------------------------------------------------------------------------------

    def step_optimizer(self) -> float:
        """Clip, step, return the gradient norm before clipping."""
        norm = self.fabric.clip_gradients(self.module, self.optimizer, max_norm=self.cfg.grad_clip, error_if_nonfinite=False)
        self.optimizer.step()
        return float(norm) if norm is not None else float("nan")

    @property
    def sampler(self) -> str:
        return "sde" if self.algorithm.needs_logprobs else self.cfg.sampler

    def sample(self, step: int, items: Sequence[Any]) -> tuple[list[Rollout], list[Future[RewardBatch]]]:
        """Rollouts of ``items`` in chunks, each chunk's rewards requested while the next samples."""
        cfg = self.cfg
        per_chunk = len(items) // cfg.sample_chunks
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step * 31 + self.fabric.global_rank * 7)
        rollouts, futures = [], []
        for k in range(cfg.sample_chunks):
            chunk = list(items[k * per_chunk : (k + 1) * per_chunk])
            sources = [it.source_image for it in chunk] if getattr(chunk[0], "source_image", None) is not None else None
            ro = rollout(
                self.policy,
                [it.prompt for it in chunk],
                group_size=cfg.group_size,
                num_steps=cfg.sample_steps,
                sampler=self.sampler,
                generator=gen,
                source_images=sources,
                sample_with="old" if self.algorithm.name == "diffusion_nft" else "current",
                guidance_scale=cfg.guidance_scale,
                noise_level=cfg.noise_level,
            )
            repeated = [it for it in chunk for _ in range(cfg.group_size)]
            futures.append(self._pool.submit(self.reward_fn, repeated, ro.images))
            rollouts.append(ro)
        return rollouts, futures

    def train_step(self, step: int) -> dict[str, float]:
        """One iteration (module docstring); returns its logged metrics."""
        cfg = self.cfg
        t0 = time.perf_counter()
        items = list(self.batch_fn(step))
        if len(items) != cfg.prompts_per_iteration:
            raise ValueError(f"batch_fn({step}) gave {len(items)} items, expected {cfg.prompts_per_iteration}")
        rollouts, futures = self.sample(step, items)
        t_sample_done = time.perf_counter()
        rewards_list = [f.result() for f in futures]  # CriticUnavailableError surfaces here
        t_reward_done = time.perf_counter()
        rewards = np.concatenate([r.rewards for r in rewards_list])
        filled, n_nan = fill_nan_rewards(rewards, cfg.group_size)
        prompts = [it.prompt for it in items for _ in range(cfg.group_size)]
        global_std = self.algorithm.advantage == "grpo_global_std"
        advantages = self.tracker.compute(prompts, torch.as_tensor(filled, dtype=torch.float32), global_std=global_std)
        batch = _Batch.of(rollouts)
        self.module.train()
        stats = FLOW_UPDATES.get(cfg.algorithm)(self, batch, advantages)
        decay = self.policy.ema_update(step)
        t_end = time.perf_counter()
        scores: dict[str, list[float]] = {}
        for r in rewards_list:
            for mode, values in r.scores.items():
                scores.setdefault(mode, []).extend(np.asarray(values, dtype=float).tolist())
        out = {
            "reward_mean": float(np.nanmean(rewards)) if np.isfinite(rewards).any() else float("nan"),
            "reward_std": float(np.nanstd(rewards)) if np.isfinite(rewards).any() else float("nan"),
            "reward_nan": float(n_nan),
            "zero_std_ratio": float(self.tracker.get_stats().get("zero_std_ratio", 0.0)),
            "ema_decay": decay,
            **{f"score_{m}": float(np.nanmean(v)) for m, v in scores.items() if np.isfinite(v).any()},
            **stats,
            "time_sample_s": t_sample_done - t0,
            "time_reward_wait_s": t_reward_done - t_sample_done,
            "time_update_s": t_end - t_reward_done,
            "time_step_s": t_end - t0,
        }
        return out

    # ---- checkpoints ---------------------------------------------------------------------------

    def save(self) -> Path | None:
        if self.checkpoint_root is None:
            return None
        return save_checkpoint_dir(
            self.fabric,
            self.checkpoint_root,
            self.step,
            self.module,
            self.optimizer,
            {"step": self.step, "history": self.history, "config": self.cfg.to_dict()},
            keep=self.cfg.keep_checkpoints,
        )

    def resume(self) -> int:
        """Load the newest checkpoint under the root, if any; returns the step reached."""
        if self.checkpoint_root is None:
            return 0
        path = latest_checkpoint(self.checkpoint_root)
        if path is None:
            return 0
        state = load_checkpoint_dir(self.fabric, path, self.module, self.optimizer)
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        self.train_rng.manual_seed(self.cfg.seed * 7_919 + 1 + self.fabric.global_rank + self.step * 104_729)
        return self.step

    # ---- loop ----------------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        """Train to ``cfg.steps`` (from the last checkpoint, if any); returns a summary."""
        cfg = self.cfg
        resumed = self.resume()
        start = time.perf_counter()
        stopped_early = False
        bar = None
        if self.progress and self.fabric.global_rank == 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc=f"RL {cfg.algorithm}", dynamic_ncols=True)
        try:
            while self.step < cfg.steps:
                # a fresh training-noise stream per step: resuming at any step reproduces it exactly
                self.train_rng.manual_seed(cfg.seed * 7_919 + 1 + self.fabric.global_rank + self.step * 104_729)
                try:
                    metrics = self.train_step(self.step)
                except CriticUnavailableError as err:
                    saved = self.save() if self.step > 0 else None
                    raise RuntimeError(
                        f"the critic is unreachable after its retries ({err}); steps 1-{self.step} are "
                        f"{'saved in ' + str(saved) if saved else 'not needed (none finished)'}. Start or "
                        "fix the reward server (task.critic), then rerun the same command to resume."
                    ) from err
                self.step += 1
                if self.eval_fn is not None and self.eval_every and self.step % self.eval_every == 0:
                    metrics |= {f"heldout_{k}": v for k, v in self.eval_fn(self.policy, self.step).items()}
                metrics = {k: float(v) for k, v in metrics.items()}
                self.history.append({"step": self.step, **metrics})
                if self.log_fn is not None and self.fabric.global_rank == 0:
                    self.log_fn(metrics, self.step)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(reward=f"{metrics['reward_mean']:.3f}", loss=f"{metrics.get('loss', math.nan):.4f}")
                last = self.step >= cfg.steps
                over_time = cfg.max_time_s is not None and time.perf_counter() - start > cfg.max_time_s
                if last or over_time or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self.save()
                if over_time and not last:
                    stopped_early = True
                    break
        finally:
            if bar is not None:
                bar.close()
        return {
            "steps": self.step,
            "resumed_from": resumed,
            "stopped_early": stopped_early,
            "train_s": round(time.perf_counter() - start, 2),
            "history": self.history,
        }
