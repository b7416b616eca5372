"""The two kinds of reward, each in its own registry, so configs can name them.

* :data:`ITEM_REWARDS` (:data:`ItemReward`): per-item scorers of T2I-Eval-R1's evaluator policy:
  one completion's text / parsed answer (and its label) -> a float in [0, 1]. Names:
  ``score_continuous`` (``continuous``), ``score_gaussian`` (``gaussian``), ``score_discrete``
  (``discrete``), ``pair_continuous``, ``pair_sigmoid``, ``pair_discrete``, ``pair_verdict``,
  ``format`` (configs: ``reward.score_fn: score_gaussian``).
* :data:`REWARD_COMBINERS` (:data:`RewardCombiner`): FIRM's combiners of critic scores into the
  image-RL reward, elementwise over floats, NumPy arrays or tensors (the array type is kept).
  Names: ``cme``, ``qma``, ``linear`` (``linear_combination``).

Importing :mod:`common.rewards` registers them all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from common.registry import Registry

__all__ = ["ITEM_REWARDS", "REWARD_COMBINERS", "CombinedReward", "ItemReward", "RewardCombiner"]

ItemReward = Callable[..., float]
"""A per-item scorer: ``(prediction or completion, [label], *, options) -> float``."""

CombinedReward = float | np.ndarray | torch.Tensor
RewardCombiner = Callable[..., CombinedReward]
"""A combiner: critic scores (floats, arrays or tensors, broadcast) -> rewards of the same type."""

ITEM_REWARDS: Registry[ItemReward] = Registry("per-item reward")
REWARD_COMBINERS: Registry[RewardCombiner] = Registry("reward combiner")
