"""The settings every training loop shares: :class:`LoopConfig`.

The pretraining configs (:class:`common.models.pretrain.config.PretrainConfig`), the SFT config
(:class:`common.sft.SFTConfig`) and the GRPO config (:class:`t2ieval_r1.grpo.GRPOConfig`) extend
it, so the same thing has the same name in ``conf/pretrain``, ``task.sft`` and ``task.grpo``:
``steps``, ``lr``, ``warmup_steps``, ``betas``, ... Each subclass sets its own defaults and adds
what only it has (SFT's ``epochs`` / ``warmup_ratio``, GRPO's rollout sizes, a pretraining
objective's model). All fields are keyword-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.train.optim import OPTIMIZERS
from common.train.schedules import LR_SCHEDULES

__all__ = ["LoopConfig"]


@dataclass(kw_only=True)
class LoopConfig:
    """What a training loop reads from its config.

    Attributes:
        name: the run's name (progress bar).
        steps: optimizer steps (GRPO: training steps, one rollout batch each).
        batch_size: examples per step on one device (each config says how it splits a step into
            micro-batches).
        lr: peak learning rate.
        lr_schedule: ``cosine`` (linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at
            ``steps``) or ``constant`` (linear warm-up, then ``lr``; independent of ``steps``, so
            a run can be extended): :data:`common.train.schedules.LR_SCHEDULES`.
        warmup_steps: steps of the linear warm-up (0: none).
        min_lr_ratio: the cosine schedule's floor as a share of ``lr``.
        optimizer: a name in :data:`common.train.optim.OPTIMIZERS` (``adamw``).
        weight_decay / betas / eps: the optimizer's decoupled weight decay, moment coefficients
            and epsilon.
        grad_clip: global gradient-norm clipping (``None``: off). Under DeepSpeed the engine
            config's ``gradient_clipping`` applies instead (the engine clips inside its step).
        seed: seeds the data order and the per-step randomness.
        checkpoint_every / log_every: steps between resumable checkpoints / log records.
        max_time_s: stop (resumably) once the training time summed over every resume reaches
            it; ``None``: no limit.
    """

    name: str = "train"
    steps: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 10
    max_time_s: float | None = None

    def loop_problems(self) -> list[str]:
        """What is wrong with the names and optimizer settings every loop reads (empty: nothing).

        Each config's ``validate`` checks its sizes itself (their messages name its keys) and
        raises on these with its own prefix and error class.
        """
        out = []
        if self.warmup_steps < 0:
            out.append(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.lr_schedule not in LR_SCHEDULES:
            out.append(
                f"lr_schedule: unknown name {self.lr_schedule!r}; known: {', '.join(LR_SCHEDULES.names())}"
            )
        if self.optimizer not in OPTIMIZERS:
            out.append(f"optimizer: unknown name {self.optimizer!r}; known: {', '.join(OPTIMIZERS.names())}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas) or not self.eps > 0:
            out.append(f"betas must be two numbers in [0, 1) and eps > 0, got {self.betas} and {self.eps}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            out.append(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        if self.max_time_s is not None and not self.max_time_s > 0:
            out.append(f"max_time_s must be > 0 or null, got {self.max_time_s}")
        return out
