"""The SFT trainer's config (:class:`SFTConfig`) and the loop schedule it resolves to (:class:`SFTSchedule`).

Batch sizes follow the Hugging Face / LLaMA-Factory convention: ``batch_size`` examples per
forward pass on one device, ``grad_accum`` forward passes per optimizer step, so an optimizer
step sees ``global_batch = batch_size * grad_accum * world_size`` examples (FIRM-Gen-8B:
5 x 2 x 8 GPUs = 80). The run length is ``steps`` optimizer steps, or, when ``steps`` is
``None``, ``ceil(epochs * n_examples / global_batch)``. The learning rate warms up linearly over
``ceil(warmup_ratio * steps)`` steps, then follows a cosine to ``min_lr_ratio * lr``
(:func:`common.models.pretrain.loop.lr_at`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["SFTConfig", "SFTSchedule"]


@dataclass
class SFTConfig:
    """Supervised fine-tuning settings (see the module docstring).

    Attributes:
        lr: peak AdamW learning rate.
        steps: optimizer steps; ``None``: derived from ``epochs``.
        epochs: passes over the examples when ``steps`` is ``None`` (may be fractional).
        batch_size: examples per forward / backward pass on one device.
        grad_accum: forward / backward passes accumulated per optimizer step.
        warmup_ratio: share of the steps with a linear warm-up.
        min_lr_ratio: the cosine schedule's floor as a share of ``lr`` (0: decay to zero, as
            Hugging Face's ``cosine``).
        weight_decay: AdamW decoupled weight decay of the matrices (biases and norm weights get none).
        adam_betas / adam_eps: AdamW's moment coefficients and epsilon.
        grad_clip: global gradient-norm clipping (``None``: off; under DeepSpeed the engine
            config's ``gradient_clipping`` applies instead).
        seed: the example order (one permutation per epoch) is a function of it.
        train_vision: also train the vision tower (``False``: frozen, LLaMA-Factory's default).
        checkpoint_every / log_every: optimizer steps between resumable checkpoints / loss records.
        max_time_s: stop (resumably) once this much training time is spent, over all resumes.
        name: shown on the progress bar.
    """

    lr: float = 1e-5
    steps: int | None = None
    epochs: float = 1.0
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    grad_clip: float | None = 1.0
    seed: int = 0
    train_vision: bool = True
    checkpoint_every: int = 50
    log_every: int = 10
    max_time_s: float | None = None
    name: str = "sft"

    def __post_init__(self) -> None:
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))
        self.validate()

    def validate(self) -> SFTConfig:
        """Raise ``ValueError`` for settings that cannot train."""
        for key in ("batch_size", "grad_accum", "checkpoint_every", "log_every"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"sft.{key} must be >= 1, got {getattr(self, key)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"sft.steps must be >= 1 or null, got {self.steps}")
        if self.steps is None and not self.epochs > 0:
            raise ValueError(f"sft.epochs must be > 0 when sft.steps is null, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"sft.lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("sft.warmup_ratio must be in [0, 1) and sft.min_lr_ratio in [0, 1]")
        if not all(0 <= b < 1 for b in self.adam_betas) or not self.adam_eps > 0:
            raise ValueError(f"sft.adam_betas must be in [0, 1) and adam_eps > 0, got {self.adam_betas}")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise ValueError(f"sft.max_time_s must be > 0 or null, got {self.max_time_s}")
        return self

    @classmethod
    def from_dict(cls, data: Any) -> SFTConfig:
        """Build from a mapping or an OmegaConf node; unknown keys are an error that lists the known ones."""
        from omegaconf import DictConfig, OmegaConf

        if isinstance(data, DictConfig):
            data = OmegaConf.to_container(data, resolve=True)
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown sft keys {unknown}; known: {sorted(names)}")
        if "adam_betas" in data:
            data["adam_betas"] = tuple(data["adam_betas"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["adam_betas"] = list(self.adam_betas)
        return out

    def global_batch(self, world_size: int = 1) -> int:
        """Examples per optimizer step over all devices."""
        return self.batch_size * self.grad_accum * world_size

    def schedule(self, n_examples: int, world_size: int = 1) -> SFTSchedule:
        """The loop schedule for ``n_examples`` training examples on ``world_size`` devices."""
        if n_examples < 1:
            raise ValueError("SFT needs at least one training example")
        gb = self.global_batch(world_size)
        steps = self.steps if self.steps is not None else max(1, math.ceil(self.epochs * n_examples / gb))
        return SFTSchedule(
            name=self.name,
            steps=int(steps),
            lr=float(self.lr),
            warmup_steps=math.ceil(self.warmup_ratio * steps),
            min_lr_ratio=float(self.min_lr_ratio),
            weight_decay=float(self.weight_decay),
            grad_clip=self.grad_clip,
            checkpoint_every=int(self.checkpoint_every),
            log_every=int(self.log_every),
            global_batch=gb,
            n_examples=int(n_examples),
        )


@dataclass(frozen=True)
class SFTSchedule:
    """The resolved run (:class:`common.models.pretrain.loop.LoopConfig` fields, plus sizes)."""

    name: str
    steps: int
    lr: float
    warmup_steps: int
    min_lr_ratio: float
    weight_decay: float
    grad_clip: float | None
    checkpoint_every: int
    log_every: int
    global_batch: int
    n_examples: int

    @property
    def epochs(self) -> float:
        """Passes over the examples this schedule makes."""
        return self.steps * self.global_batch / self.n_examples
