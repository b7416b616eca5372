"""What the T2I-Eval-R1 GRPO run's resume key leaves out (the checkpoints: :mod:`common.run_checkpoints`)."""

from __future__ import annotations

from common.runtime import NOT_WHAT_A_RUN_COMPUTES

__all__ = ["NOT_IN_RESUME_KEY"]

NOT_IN_RESUME_KEY: tuple[str, ...] = (
    *NOT_WHAT_A_RUN_COMPUTES,
    "task.grpo.steps",
    "task.grpo.checkpoint_every",
    "task.grpo.keep_checkpoints",
    "task.grpo.log_every",
    "task.grpo.eval_every",
    "task.grpo.eval_max_items",
    "task.grpo.max_time_s",
    "task.resume",
    "task.checkpoint_dir",
    "task.export",
    "task.val",
)
"""Dotted config keys left out of the resume key: they change how long a run goes, what it logs
or where it writes, not the trajectory of the training."""
