"""Settings of the flow-matching RL trainer: :class:`FlowRLConfig` (FIRM's defaults where they exist)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from common.flow_rl.rollout import SAMPLERS
from common.flow_rl.updates import FLOW_UPDATES
from common.models.lora import LoRASettings

__all__ = ["FlowRLConfig"]


@dataclass
class FlowRLConfig:
    """Settings of :class:`FlowRLTrainer` (defaults: FIRM's where they exist, docs/papers/firm.md §5).

    Attributes:
        algorithm: a flow entry of :data:`~common.rl.algorithms.RL_ALGORITHMS` (``diffusion_nft``,
            ``flow_grpo``).
        steps: RL iterations (0: no training, the run only evaluates its policy).
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
        if self.steps < 0:
            out.append(f"steps must be >= 0 (0: evaluate only), got {self.steps}")
        for name in ("prompts_per_iteration", "sample_steps", "sample_chunks", "train_batch"):
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
