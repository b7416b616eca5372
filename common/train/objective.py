"""What a training objective provides to the shared loop (:func:`common.train.loop.fit`).

An :class:`Objective` gives the trainable module (whose ``forward(batch)`` returns the loss, so
DDP / DeepSpeed wrap it as they wrap any model), its optimizer parameter groups, a data pool and
deterministic batches (a pure function of the seed, the step and the rank, which makes resumed
runs see the same batches; under DDP every rank draws its own ``batch_size`` examples, rank 0 the
same ones as a single process). The pretraining objectives
(:class:`common.models.pretrain.objectives.PretrainObjective`) add building, evaluating and saving
a base; SFT's (:class:`common.sft.SFTObjective`) adds nothing.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["Objective"]


class Objective:
    """Base class of the loop's objectives (see the module docstring)."""

    name: str = ""
    rank: int = 0
    world_size: int = 1
    uses_ema: bool = False
    """Whether the loop keeps an EMA of the weights (decay ``cfg.ema_decay``) and saves it."""
    fixed_accumulation: bool = False
    """Set by the loop: the engine accumulates a fixed number of micro-batches per step
    (DeepSpeed's ``gradient_accumulation_steps``), so an objective that may split a step into a
    varying number (length-grouped micro-batches) must give the configured count."""

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        """The trainable module; ``module(batch)`` returns the scalar loss."""
        raise NotImplementedError

    def param_groups(self, cfg: Any, module: torch.nn.Module) -> list[dict[str, Any]]:
        """Optimizer parameter groups; ``lr_mult`` scales the scheduled learning rate of a group."""
        return [{"params": [p for p in module.parameters() if p.requires_grad], "lr_mult": 1.0}]

    def prepare(self, cfg: Any, bundle: Any) -> Any:
        """The training data pool (built once per run or resume)."""
        raise NotImplementedError

    def bind(self, rank: int, world_size: int) -> None:
        """Set the process's place in the data-parallel group (the loop calls it after launch)."""
        self.rank, self.world_size = int(rank), int(world_size)

    def batch(self, cfg: Any, bundle: Any, data: Any, step: int) -> dict[str, Any]:
        """This rank's batch of ``step``: a pure function of ``cfg.seed``, ``step``, the rank and the pool."""
        raise NotImplementedError

    def micro_batches(
        self, cfg: Any, bundle: Any, data: Any, step: int
    ) -> list[tuple[dict[str, Any], float]]:
        """The step's batch as ``(micro_batch, weight)`` pairs: the step's loss is
        ``sum_k weight_k * module(micro_batch_k)`` (gradient accumulation). Default: the whole
        :meth:`batch` with weight 1."""
        return [(self.batch(cfg, bundle, data, step), 1.0)]
