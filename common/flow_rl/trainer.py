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
4. the algorithm's update (:data:`common.flow_rl.updates.FLOW_UPDATES`, chosen by ``algorithm``
   in :data:`common.rl.algorithms.RL_ALGORITHMS`): ``diffusion_nft`` samples with the old policy
   and a deterministic sampler (``dpm2``), no CFG; ``flow_grpo`` samples with the current policy
   and the SDE sampler, recording each step's log-prob;

5. the old policy moves: ``old = d old + (1 - d) current`` with FIRM's ``d = min(0.001 step, 0.5)``.

Checkpoints (:mod:`common.run_checkpoints`) hold the trained and old weights, the optimiser, the
step, the log and every RNG; rerunning the same command continues from the last one and takes
the same next batch with the same parameters. A critic outage (:class:`CriticUnavailableError`
after the client's own retries) saves the finished steps, then fails with what to do.
``max_time_s`` stops after the step that crosses it (a tiny-scale budget; ``None`` at paper scale).
On several ranks, a critic outage or the time budget on any one rank stops every rank at the same
step (the ranks agree by an all-reduce), so none waits in a collective the others left; the
logged metrics are those of the whole step over all ranks, as one process would compute them
(rewards and critic scores gathered, the update's losses and times averaged over the ranks'
equal shares), the same on every rank.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from common.engine import reduce_over_ranks, training_layout
from common.flow_rl.config import FlowRLConfig
from common.flow_rl.policy import FlowPolicy
from common.flow_rl.rollout import Rollout, rollout
from common.flow_rl.updates import FLOW_UPDATES, RolloutBatch
from common.rewards.critic_client import CriticUnavailableError
from common.rl.algorithms import RL_ALGORITHMS
from common.rl.stats import PerPromptStatTracker
from common.run_checkpoints import latest_checkpoint, load_checkpoint_dir, save_checkpoint_dir
from common.train import make_fabric

__all__ = ["FlowRLTrainer", "RewardBatch", "RewardFn", "fill_nan_rewards"]


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
            raise ValueError(
                f"unknown RL algorithm {cfg.algorithm!r}; known: {sorted(RL_ALGORITHMS.names())}"
            )
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
            fabric = make_fabric()
        self.fabric = fabric
        optimizer = torch.optim.AdamW(policy.trainable_parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.module, self.optimizer = fabric.setup(policy, optimizer)
        self.tracker = PerPromptStatTracker(gather=fabric.world_size > 1)
        self.step = 0
        self.train_rng = torch.Generator().manual_seed(self.noise_seed(0))
        self.history: list[dict[str, float]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward")

    # ---- pieces --------------------------------------------------------------------------------

    def step_optimizer(self) -> float:
        """Clip, step, return the gradient norm before clipping."""
        norm = self.fabric.clip_gradients(
            self.module, self.optimizer, max_norm=self.cfg.grad_clip, error_if_nonfinite=False
        )
        self.optimizer.step()
        return float(norm) if norm is not None else float("nan")

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (collective: every rank must call it)."""
        if self.fabric.world_size == 1:
            return flag
        t = torch.tensor(float(flag), device=self.fabric.device)
        return bool(self.fabric.all_reduce(t, reduce_op="sum").item() > 0)

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
            sources = (
                [it.source_image for it in chunk]
                if getattr(chunk[0], "source_image", None) is not None
                else None
            )
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
            raise ValueError(
                f"batch_fn({step}) gave {len(items)} items, expected {cfg.prompts_per_iteration}"
            )
        rollouts, futures = self.sample(step, items)
        t_sample_done = time.perf_counter()
        outage: CriticUnavailableError | None = None
        try:
            rewards_list = [f.result() for f in futures]  # CriticUnavailableError surfaces here
        except CriticUnavailableError as err:
            outage = err
        # every rank stops at the same step (what follows is collective: the gather, DDP, saving)
        if self.any_rank(outage is not None):
            raise outage or CriticUnavailableError("another rank's critic is unreachable")
        t_reward_done = time.perf_counter()
        rewards = np.concatenate([r.rewards for r in rewards_list])
        filled, n_nan = fill_nan_rewards(rewards, cfg.group_size)
        prompts = [it.prompt for it in items for _ in range(cfg.group_size)]
        global_std = self.algorithm.advantage == "grpo_global_std"
        # gathered on the fabric's device (NCCL gathers CUDA tensors only); used on the CPU
        advantages = self.tracker.compute(
            prompts,
            torch.as_tensor(filled, dtype=torch.float32, device=self.fabric.device),
            global_std=global_std,
        ).cpu()
        batch = RolloutBatch.of(rollouts)
        self.module.train()
        stats = FLOW_UPDATES.get(cfg.algorithm)(self, batch, advantages)
        decay = self.policy.ema_update(step)
        t_end = time.perf_counter()
        scores: dict[str, list[float]] = {}
        for r in rewards_list:
            for mode, values in r.scores.items():
                scores.setdefault(mode, []).extend(np.asarray(values, dtype=float).tolist())
        if self.fabric.world_size > 1:  # the whole batch's rewards and scores, as one process sees them
            rewards = self.gather(rewards)
            n_nan = int((~np.isfinite(rewards)).sum())
            scores = {m: self.gather(np.asarray(scores[m], dtype=float)).tolist() for m in sorted(scores)}
        out = {
            "reward_mean": float(np.nanmean(rewards)) if np.isfinite(rewards).any() else float("nan"),
            "reward_std": float(np.nanstd(rewards)) if np.isfinite(rewards).any() else float("nan"),
            "reward_nan": float(n_nan),
            "zero_std_ratio": float(self.tracker.get_stats().get("zero_std_ratio", 0.0)),
            "ema_decay": decay,
            **{f"score_{m}": float(np.nanmean(v)) for m, v in scores.items() if np.isfinite(v).any()},
        }
        rank_means = {  # each rank's share of the update is the same size: the mean over ranks is the whole's
            **stats,
            "time_sample_s": t_sample_done - t0,
            "time_reward_wait_s": t_reward_done - t_sample_done,
            "time_update_s": t_end - t_reward_done,
            "time_step_s": t_end - t0,
        }
        return {**out, **reduce_over_ranks(self.fabric, rank_means)}

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Every rank's ``values`` (same length on each), concatenated in rank order (collective)."""
        local = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.fabric.device)
        return self.fabric.all_gather(local).reshape(-1).cpu().numpy()

    def close(self) -> None:
        """Stop the reward worker thread (when done with the trainer; an idle thread costs nothing)."""
        self._pool.shutdown(wait=True)

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
            layout=self.layout,
        )

    @property
    def layout(self) -> dict[str, Any]:
        """The run's layout (engine, world size, images per step over all ranks), recorded in
        every checkpoint and checked on resume (:func:`common.engine.check_resume_layout`)."""
        cfg = self.cfg
        return training_layout(
            self.fabric, cfg.prompts_per_iteration * cfg.group_size * self.fabric.world_size
        )

    def resume(self) -> int:
        """Load the newest checkpoint under the root, if any; returns the step reached."""
        if self.checkpoint_root is None:
            return 0
        path = latest_checkpoint(self.checkpoint_root)
        if path is None:
            return 0
        state = load_checkpoint_dir(self.fabric, path, self.module, self.optimizer, layout=self.layout)
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        return self.step

    def noise_seed(self, step: int) -> int:
        """The seed of step ``step``'s training noise (timesteps, noise, minibatch order) on this
        rank: a fresh stream per step, so a run resumed at any step draws exactly the same."""
        return self.cfg.seed * 7_919 + 1 + self.fabric.global_rank + step * 104_729

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
                self.train_rng.manual_seed(self.noise_seed(self.step))
                try:
                    metrics = self.train_step(self.step)
                except CriticUnavailableError as err:
                    saved = self.save() if self.step > 0 else None
                    kept = f"steps 1-{self.step} are saved in {saved}" if saved else "no step had finished"
                    raise CriticUnavailableError(
                        f"the critic is unreachable after its retries ({err}); {kept}. Start or "
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
                    bar.set_postfix(
                        reward=f"{metrics['reward_mean']:.3f}", loss=f"{metrics.get('loss', math.nan):.4f}"
                    )
                last = self.step >= cfg.steps
                over_time = cfg.max_time_s is not None and time.perf_counter() - start > cfg.max_time_s
                over_time = self.any_rank(over_time)  # the ranks' clocks differ: all stop together
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
