"""Optimizers by name (``LoopConfig.optimizer``): one set of names for every training loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from common.registry import Registry

if TYPE_CHECKING:
    from common.train.config import LoopConfig

__all__ = ["OPTIMIZERS", "build_optimizer"]

OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")
"""Optimizer classes by name; each takes ``(param_groups, lr=, weight_decay=, betas=, eps=)``."""

OPTIMIZERS.register("adamw")(torch.optim.AdamW)


def build_optimizer(cfg: LoopConfig, groups: Sequence[dict[str, Any]]) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over parameter ``groups`` (a group's own keys, e.g. ``lr`` or
    ``weight_decay``, override the config's), with ``cfg.lr`` / ``weight_decay`` / ``betas`` / ``eps``."""
    return OPTIMIZERS.get(cfg.optimizer)(
        list(groups),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(float(cfg.betas[0]), float(cfg.betas[1])),
        eps=cfg.eps,
    )
