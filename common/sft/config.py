"""The SFT trainer's config (:class:`SFTConfig`) and the loop schedule it resolves to (:class:`SFTSchedule`).

Batch sizes follow the Hugging Face / LLaMA-Factory convention: ``batch_size`` examples per
forward pass on one device, ``grad_accum`` forward passes per optimizer step, so an optimizer
step sees ``global_batch = batch_size * grad_accum * world_size`` examples (FIRM-Gen-8B:
5 x 2 x 8 GPUs = 80). The run length is ``steps`` optimizer steps, or, when ``steps`` is
``None``, ``ceil(epochs * n_examples / global_batch)``. The learning rate warms up linearly over
``ceil(warmup_ratio * steps)`` steps, then follows a cosine to ``min_lr_ratio * lr``
(:func:`common.train.schedules.lr_at`); ``warmup_ratio: null`` takes ``warmup_steps`` instead.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from common.config import to_dataclass
from common.train.config import LoopConfig

__all__ = ["SFTConfig", "SFTSchedule"]


@dataclass(kw_only=True)
class SFTConfig(LoopConfig):
    """Supervised fine-tuning settings (see the module docstring): the loop's
    (:class:`common.train.config.LoopConfig`, with SFT's defaults) and these.

    Attributes:
        lr: peak learning rate.
        steps: optimizer steps; ``None``: derived from ``epochs``.
        epochs: passes over the examples when ``steps`` is ``None`` (may be fractional).
        batch_size: examples per forward / backward pass on one device.
        grad_accum: forward / backward passes accumulated per optimizer step.
        warmup_ratio: share of the steps with a linear warm-up (``ceil(warmup_ratio * steps)``
            steps); ``None``: ``warmup_steps`` steps instead (set one of the two).
        min_lr_ratio: the cosine schedule's floor as a share of ``lr`` (0: decay to zero, as
            Hugging Face's ``cosine``).
        weight_decay: decoupled weight decay of the matrices (biases and norm weights get none).
        betas / eps: AdamW's moment coefficients and epsilon.
        grad_clip: global gradient-norm clipping (``None``: off; under DeepSpeed the engine
            config's ``gradient_clipping`` applies instead).
        seed: the example order (one permutation per epoch) is a function of it.
        train_vision: also train the vision tower (``False``: frozen, LLaMA-Factory's default).
        checkpoint_every / log_every: optimizer steps between resumable checkpoints / loss records.
        max_time_s: stop (resumably) once this much training time is spent, over all resumes.
        name: shown on the progress bar.
    """

    name: str = "sft"
    lr: float = 1e-5
    steps: int | None = None  # type: ignore[assignment]
    epochs: float = 1.0
    grad_accum: int = 1
    warmup_ratio: float | None = 0.1
    train_vision: bool = True
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        self.betas = [float(b) for b in self.betas]
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
        ratio = self.warmup_ratio
        if (ratio is not None and not 0 <= ratio < 1) or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("sft.warmup_ratio must be in [0, 1) and sft.min_lr_ratio in [0, 1]")
        if ratio is not None and self.warmup_steps:
            raise ValueError("sft: set warmup_ratio or warmup_steps, not both (warmup_ratio: null)")
        for problem in self.loop_problems():
            raise ValueError(f"sft.{problem}")
        return self

    @classmethod
    def from_dict(cls, data: Any, where: str = "sft") -> SFTConfig:
        """Build from a mapping or an OmegaConf node (:func:`common.config.to_dataclass`: unknown
        keys and wrong types are errors naming ``where``, the node's key path)."""
        return to_dataclass(cls, data, where)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def global_batch(self, world_size: int = 1) -> int:
        """Examples per optimizer step over all devices."""
        return self.batch_size * self.grad_accum * world_size

    def schedule(self, n_examples: int, world_size: int = 1) -> SFTSchedule:
        """The loop schedule for ``n_examples`` training examples on ``world_size`` devices."""
        if n_examples < 1:
            raise ValueError("SFT needs at least one training example")
        gb = self.global_batch(world_size)
        steps = self.steps if self.steps is not None else max(1, math.ceil(self.epochs * n_examples / gb))
        loop = {f.name: getattr(self, f.name) for f in dataclasses.fields(LoopConfig)}
        warmup = self.warmup_steps if self.warmup_ratio is None else math.ceil(self.warmup_ratio * steps)
        return SFTSchedule(
            **{
                **loop,
                "steps": int(steps),
                "lr": float(self.lr),
                "warmup_steps": int(warmup),
                "min_lr_ratio": float(self.min_lr_ratio),
                "weight_decay": float(self.weight_decay),
            },
            global_batch=gb,
            n_examples=int(n_examples),
        )


@dataclass(kw_only=True)
class SFTSchedule(LoopConfig):
    """The resolved run: the :class:`~common.train.config.LoopConfig` the loop runs (``steps`` and
    ``warmup_steps`` resolved), plus the sizes."""

    global_batch: int
    n_examples: int

    @property
    def epochs(self) -> float:
        """Passes over the examples this schedule makes."""
        return self.steps * self.global_batch / self.n_examples
