"""Exponential moving average of trained weights, used as the DiffusionNFT "old" policy.

Update (DiffusionNFT's EMA old policy; FIRM, docs/papers/firm.md §5):
``p_old = decay * p_old + (1 - decay) * p_new`` with FIRM's schedule
``decay(step) = min(0.001 * step, 0.5)`` (so at step 0 the old policy is a copy of the current one).
Works on any parameter subset, e.g. only the LoRA weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial

import torch
from torch import Tensor

from common.registry import Registry

DecaySchedule = Callable[[int], float]

EMA_SCHEDULES: Registry[Callable[..., float]] = Registry("EMA decay schedule")


@EMA_SCHEDULES.register("firm")
def firm_decay(step: int, rate: float = 0.001, max_decay: float = 0.5) -> float:
    """FIRM / DiffusionNFT: ``min(rate * step, max_decay)`` = ``min(0.001 * step, 0.5)``."""
    return min(rate * step, max_decay)


@EMA_SCHEDULES.register("constant")
def constant_decay(step: int, decay: float = 0.0) -> float:
    """The same ``decay`` at every step."""
    del step
    return decay


def make_schedule(schedule: str | float | DecaySchedule, **kwargs: float) -> DecaySchedule:
    """A ``step -> decay`` callable from a registered name (``kwargs`` bind its parameters),
    a constant float, or a callable (returned as is)."""
    if isinstance(schedule, str):
        return partial(EMA_SCHEDULES.get(schedule), **kwargs)
    if isinstance(schedule, int | float):
        return partial(constant_decay, decay=float(schedule))
    if callable(schedule):
        return schedule
    raise TypeError(f"schedule must be a name, a float or a callable, got {type(schedule).__name__}")


def _pair(
    target: Sequence[Tensor] | Mapping[str, Tensor], source: Sequence[Tensor] | Mapping[str, Tensor]
) -> list[tuple[Tensor, Tensor]]:
    if isinstance(target, Mapping) != isinstance(source, Mapping):
        raise TypeError("target and source must both be sequences or both be mappings (state dicts)")
    if isinstance(target, Mapping) and isinstance(source, Mapping):
        if set(target) != set(source):
            diff = sorted(set(target) ^ set(source))[:5]
            raise ValueError(f"target and source state dicts have different keys, e.g. {diff}")
        pairs = [(target[k], source[k]) for k in target]
    else:
        if len(target) != len(source):
            raise ValueError(f"target has {len(target)} tensors, source {len(source)}")
        pairs = list(zip(target, source, strict=True))
    for old, new in pairs:
        if old.shape != new.shape:
            raise ValueError(f"shape mismatch {tuple(old.shape)} vs {tuple(new.shape)}")
    return pairs


class EMAUpdater:
    """Keeps ``target`` (the old-policy copy) an EMA of ``source`` (the trained parameters).

    Args:
        target: tensors updated in place (a list or a state dict), e.g. an old model's LoRA weights.
        source: the live tensors, same structure and shapes.
        schedule: a name in ``EMA_SCHEDULES`` (``"firm"``, ``"constant"``), a float (constant
            decay) or a ``step -> decay`` callable.
    """

    def __init__(
        self,
        target: Sequence[Tensor] | Mapping[str, Tensor],
        source: Sequence[Tensor] | Mapping[str, Tensor],
        schedule: str | float | DecaySchedule = "firm",
        **schedule_kwargs: float,
    ) -> None:
        self.pairs = _pair(target, source)
        self.schedule = make_schedule(schedule, **schedule_kwargs)

    def decay(self, step: int) -> float:
        """The decay used at ``step``; must lie in [0, 1]."""
        d = float(self.schedule(step))
        if not 0.0 <= d <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {d} at step {step}")
        return d

    @torch.no_grad()
    def update(self, step: int) -> float:
        """``p_old = decay * p_old + (1 - decay) * p_new`` for every pair; returns the decay."""
        d = self.decay(step)
        for old, new in self.pairs:
            old.lerp_(new.detach().to(device=old.device, dtype=old.dtype), 1.0 - d)
        return d
