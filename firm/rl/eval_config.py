"""The held-out evaluation settings of a FIRM RL run: the dataclass behind ``task.eval``.

A module of its own (no heavy imports), so that :func:`common.config.register_defaults` can read
its defaults before any composition without importing the RL task.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EvalConfig"]


@dataclass
class EvalConfig:
    """The held-out evaluation (:class:`firm.rl.evaluate.HeldOut`).

    Attributes:
        prompts: held-out prompts (gen) or edits (edit).
        noise_seeds: noise seeds per prompt (pairs = prompts x seeds; the acceptance needs >= 480).
        sample_steps: denoising steps of the evaluation samples (FIRM: SD3.5 40, editor 15).
        guidance_scale: CFG of the evaluation samples (1: the policy as trained, without CFG).
        every: a held-out reading every this many steps, logged beside the reward (0: none).
        every_prompts: prompts of that reading (the first of the held-out set, first noise seed).
        grid: prompts shown in ``before_after.png``.
        ceiling: also score the ground-truth renders through the same pipeline.
    """

    prompts: int = 240
    noise_seeds: list[int] = field(default_factory=lambda: [0, 1])
    sample_steps: int = 10
    guidance_scale: float = 1.0
    every: int = 20
    every_prompts: int = 60
    grid: int = 16
    ceiling: bool = True
