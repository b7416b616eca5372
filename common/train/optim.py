"""Optimizers by name (``LoopConfig.optimizer``): one set of names for every training loop.

:func:`build_optimizer` reads the settings through :class:`OptimizerSettings` (the fields of
:class:`~common.train.config.LoopConfig` it uses), so this module does not import the config,
which imports this one to check names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from common.registry import Registry

__all__ = ["OPTIMIZERS", "OptimizerSettings", "build_optimizer"]


class OptimizerSettings(Protocol):
    """What :func:`build_optimizer` reads (fields of :class:`~common.train.config.LoopConfig`)."""

    optimizer: str
    lr: float
    weight_decay: float
    betas: list[float]
    eps: float


OPTIMIZERS: Registry[type[torch.optim.Optimizer]] = Registry("optimizer")
"""Optimizer classes by name; each takes ``(param_groups, lr=, weight_decay=, betas=, eps=)``."""

OPTIMIZERS.register("adamw")(torch.optim.AdamW)


def build_optimizer(cfg: OptimizerSettings, groups: Sequence[dict[str, Any]]) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over parameter ``groups`` (a group's own keys, e.g. ``lr`` or
    ``weight_decay``, override the config's), with ``cfg.lr`` / ``weight_decay`` / ``betas`` / ``eps``."""
    return OPTIMIZERS.get(cfg.optimizer)(
        list(groups),
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        betas=(float(cfg.betas[0]), float(cfg.betas[1])),
        eps=cfg.eps,
    )
