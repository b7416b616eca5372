"""The registry of reward functions, so configs can name them (``reward.score_fn: score_gaussian``).

Names registered by this package: ``score_continuous``, ``score_gaussian``, ``score_discrete``,
``pair_continuous``, ``pair_sigmoid``, ``pair_discrete``, ``pair_verdict``, ``format``, ``cme``,
``qma``, ``linear``. Importing :mod:`common.rewards` registers them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.registry import Registry

REWARDS: Registry[Callable[..., Any]] = Registry("reward")

__all__ = ["REWARDS"]
