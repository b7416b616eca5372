"""SFT as an :class:`~common.train.objective.Objective` of the shared Fabric loop.

Per optimizer step, rank ``r`` of ``W`` takes its ``batch_size * grad_accum`` share of the step's
global batch (:class:`common.sft.data.ExampleOrder`) and cuts it into ``grad_accum``
micro-batches. Micro-batch ``k`` has loss ``L_k`` = mean NLL over its ``n_k`` target tokens
(Hugging Face's causal-LM loss) and weight

    w_k = W * n_k / N,     N = target tokens of the whole global batch (all ranks),

so that ``sum_k w_k L_k`` on every rank, averaged over ranks by DDP / DeepSpeed, is the token
mean of the NLL over the global batch: every target token counts the same, however the tokens
fall into micro-batches and ranks (what Hugging Face's Trainer does with ``num_items_in_batch``).
``N`` is counted from the target texts, so no communication is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from common.models.pretrain.vlm import VLMLoss
from common.sft.config import SFTConfig, SFTSchedule
from common.sft.data import ExampleOrder, SFTExample, encode_sft_batch, target_token_count
from common.train import Objective

__all__ = ["SFTObjective"]


class SFTObjective(Objective):
    """Answer-only cross-entropy on ``examples`` (see the module docstring)."""

    name = "sft"

    def __init__(
        self,
        examples: Sequence[SFTExample],
        cfg: SFTConfig,
        schedule: SFTSchedule,
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(examples) < 1:
            raise ValueError("SFT needs at least one training example")
        self.examples = examples
        self.cfg = cfg
        self.schedule = schedule
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.order = ExampleOrder(len(examples), cfg.seed)
        self._tokens: dict[int, int] = {}

    def module(self, cfg: Any, bundle: Any) -> torch.nn.Module:
        return VLMLoss(bundle.model)

    def param_groups(self, cfg: Any, module: torch.nn.Module) -> list[dict[str, Any]]:
        """Matrices with weight decay; biases and norm weights (1-D) without (Hugging Face's rule)."""
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        decay = [p for _, p in named if p.ndim >= 2]
        no_decay = [p for _, p in named if p.ndim < 2]
        groups = [{"params": decay, "lr_mult": 1.0}]
        if no_decay:
            groups.append({"params": no_decay, "lr_mult": 1.0, "weight_decay": 0.0})
        return [g for g in groups if g["params"]]

    def prepare(self, cfg: Any, bundle: Any) -> Sequence[SFTExample]:
        return self.examples

    def step_indices(self, step: int) -> list[int]:
        """The global batch of ``step`` (all ranks, in micro-batch order)."""
        return self.order.indices(step, self.schedule.global_batch)

    def rank_micro_indices(self, step: int) -> list[list[int]]:
        """This rank's micro-batches of ``step``, as example indices."""
        per_rank = self.cfg.batch_size * self.cfg.grad_accum
        mine = self.step_indices(step)[self.rank * per_rank : (self.rank + 1) * per_rank]
        bs = self.cfg.batch_size
        return [mine[k : k + bs] for k in range(0, per_rank, bs)]

    def _count(self, bundle: Any, i: int) -> int:
        if i not in self._tokens:
            self._tokens[i] = target_token_count(bundle, self.examples[i].target)
        return self._tokens[i]

    def bind(self, rank: int, world_size: int) -> None:
        """Check the loop's data-parallel group against the one this objective was built for."""
        if (int(rank), int(world_size)) != (self.rank, self.world_size):
            raise ValueError(
                f"SFT objective built for rank {self.rank} of {self.world_size}, but the loop runs "
                f"rank {rank} of {world_size}: build it with the trainer's fabric"
            )

    def micro_batches(
        self, cfg: Any, bundle: Any, data: Any, step: int
    ) -> list[tuple[dict[str, Any], float]]:
        total = sum(self._count(bundle, i) for i in self.step_indices(step))
        out = []
        for idx in self.rank_micro_indices(step):
            n_k = sum(self._count(bundle, i) for i in idx)
            batch = encode_sft_batch(bundle, [self.examples[i] for i in idx])
            out.append((batch, self.world_size * n_k / total))
        return out

    def batch(self, cfg: Any, bundle: Any, data: Any, step: int) -> dict[str, Any]:
        """This rank's whole share of ``step`` as one batch (inspection; training uses micro-batches)."""
        idx = [i for mb in self.rank_micro_indices(step) for i in mb]
        return encode_sft_batch(bundle, [self.examples[i] for i in idx])
