"""Exponential moving average of trained weights (what a flow-matching base saves).

Not the RL "old policy" EMA (:mod:`common.rl.ema`): that one keeps a separate copy of the policy
with FIRM's schedule ``min(0.001 * step, 0.5)``; this one shadows the trained parameters with a
decay that rises towards ``decay`` and is copied into them at the end of training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["EMA"]


class EMA:
    """Exponential moving average of parameters, with the warm-up ``min(decay, (1+t)/(10+t))``.

    The warm-up (as in diffusers' ``EMAModel``) keeps a short run's average from being anchored
    to the random initialisation: with a constant 0.999, after 1,000 steps the init still weighs
    0.37.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], decay: float) -> None:
        self.params = list(params)
        self.decay = decay
        self.shadow = [p.detach().float().clone() for p in self.params]

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        d = self.decay_at(step)
        for s, p in zip(self.shadow, self.params, strict=True):
            s.mul_(d).add_(p.detach().float(), alpha=1.0 - d)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        for s, p in zip(self.shadow, self.params, strict=True):
            p.copy_(s.to(p.dtype))

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError("EMA checkpoint does not match the model's parameters")
        self.shadow = [t.float().clone() for t in state["shadow"]]
