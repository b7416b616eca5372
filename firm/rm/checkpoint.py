"""What the FIRM RM run's resume key leaves out (its checkpoints: :mod:`common.run_checkpoints`).

The RM task (:mod:`firm.tasks.rm`) keys its checkpoints with it, and the RM cache
(:mod:`firm.rm.cache`) its trained RMs.
"""

from __future__ import annotations

from common.runtime import NOT_WHAT_A_RUN_COMPUTES

__all__ = ["NOT_IN_RESUME_KEY"]

NOT_IN_RESUME_KEY: tuple[str, ...] = (
    *NOT_WHAT_A_RUN_COMPUTES,
    "task.sft.checkpoint_every",
    "task.sft.log_every",
    "task.sft.max_time_s",
    "task.resume",
    "task.checkpoint_dir",
    "task.export",
    "task.eval_max_tokens",
    "task.eval_batch_size",
)
"""Config keys that change how a run is logged, paced or stored, not its weights."""
