"""Learning-rate schedules by name (``LoopConfig.lr_schedule``): ``lr_at(cfg, step)``.

Both warm up linearly over ``cfg.warmup_steps`` optimizer steps (step ``s``, 0-based, gets
``lr * (s + 1) / warmup_steps``), then

* ``cosine``: decay along a half cosine from ``lr`` to ``min_lr_ratio * lr`` at ``cfg.steps``
  (pretraining, SFT);
* ``constant``: stay at ``lr`` (GRPO, as the R1 recipes; it does not depend on ``cfg.steps``, so a
  run can be extended by rerunning it with more steps).

A schedule reads the settings through :class:`ScheduleSettings` (the fields of
:class:`~common.train.config.LoopConfig` it uses), so this module does not import the config,
which imports this one to check names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from common.registry import Registry

__all__ = ["LR_SCHEDULES", "ScheduleSettings", "lr_at"]


class ScheduleSettings(Protocol):
    """What :func:`lr_at` and the schedules read (fields of :class:`~common.train.config.LoopConfig`)."""

    lr_schedule: str
    lr: float
    steps: int
    warmup_steps: int
    min_lr_ratio: float


LR_SCHEDULES: Registry[Callable[[ScheduleSettings, int], float]] = Registry("learning-rate schedule")


@LR_SCHEDULES.register("cosine")
def warmup_cosine(cfg: ScheduleSettings, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``cfg.steps``."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min(max(step - cfg.warmup_steps, 0) / span, 1.0)
    floor = cfg.min_lr_ratio * cfg.lr
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


@LR_SCHEDULES.register("constant")
def warmup_constant(cfg: ScheduleSettings, step: int) -> float:
    """Linear warm-up, then ``lr``."""
    return cfg.lr * min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps > 0 else cfg.lr


def lr_at(cfg: ScheduleSettings, step: int) -> float:
    """Learning rate of optimizer step ``step`` (0-based) under ``cfg.lr_schedule``."""
    return LR_SCHEDULES.get(cfg.lr_schedule)(cfg, step)
