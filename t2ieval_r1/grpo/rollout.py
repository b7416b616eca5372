"""Rollouts: G completions per item, generated in chunks, and micro-batches cut from them.

A training step samples ``batch_size`` completions in chunks of ``generation_batch_size``
(:func:`collect_rollout`). Each chunk keeps the exact padded prompt batch it was generated from,
and a micro-batch is a set of rows of ONE chunk (:meth:`RolloutBatch.micro_batch`), cut with
:func:`select_rows`, so the teacher-forced pass sees the same prompt tokens, pixels and
positions as generation did (what keeps the ratio at 1 before an update).

Seeds: chunk ``c`` of step ``s`` on rank ``r`` samples with ``rollout_seed(seed, s, r, c)``, so a
rollout is a pure function of the weights, the items and the run's seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from common.models.vlm_bundle import VLMBundle
from common.models.vlm_sampling import Rollout, images_per_row, sample_vlm
from t2ieval_r1.grpo.config import GRPOConfig
from t2ieval_r1.grpo.items import EvalItem

__all__ = ["MicroBatch", "RolloutBatch", "collect_rollout", "rollout_seed", "select_rows"]


def rollout_seed(seed: int, step: int, rank: int, chunk: int) -> int:
    """A distinct 63-bit seed per (run seed, step, rank, chunk)."""
    x = (int(seed) * 1_000_003 + int(step)) * 1_009 + int(rank)
    return (x * 10_007 + int(chunk)) % (2**63 - 1)


def select_rows(batch: Mapping[str, Any], rows: Sequence[int]) -> dict[str, Any]:
    """The rows ``rows`` of a left-padded processor batch, images included; all-padding columns
    on the left are dropped (positions come from the attention mask, so nothing changes)."""
    index = torch.as_tensor(list(rows), dtype=torch.long, device=batch["input_ids"].device)
    out: dict[str, Any] = {}
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if batch.get(key) is not None:
            out[key] = batch[key].index_select(0, index)
    keep = out["attention_mask"].bool().any(dim=0)
    first = int(keep.nonzero()[0]) if bool(keep.any()) else 0
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key in out:
            out[key] = out[key][:, first:]
    grid = batch.get("image_grid_thw")
    if grid is not None:
        per_row = images_per_row(batch["mm_token_type_ids"])
        chunks = list(torch.split(batch["pixel_values"], grid.prod(dim=-1).tolist(), dim=0))
        starts = [sum(per_row[:i]) for i in range(len(per_row))]
        pix, grd = [], []
        for r in rows:
            for k in range(starts[r], starts[r] + per_row[r]):
                pix.append(chunks[k])
                grd.append(grid[k])
        out["pixel_values"] = torch.cat(pix, dim=0)
        out["image_grid_thw"] = torch.stack(grd)
    return out


@dataclass
class MicroBatch:
    """Rows ``[start, stop)`` of a rollout, ready for a teacher-forced pass."""

    start: int
    stop: int
    prompt_batch: dict[str, Any]
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    old_logprobs: torch.Tensor

    @property
    def n_tokens(self) -> int:
        return int(self.completion_mask.sum())


@dataclass
class RolloutBatch:
    """A step's completions: the generation chunks, texts and per-completion bookkeeping."""

    chunks: list[Rollout]
    items: list[EvalItem]  # one per completion (each item repeated G times, consecutively)
    chunk_size: int

    @property
    def texts(self) -> list[str]:
        return [t for c in self.chunks for t in c.texts]

    def __len__(self) -> int:
        return sum(len(c) for c in self.chunks)

    @property
    def lengths(self) -> list[int]:
        return [int(n) for c in self.chunks for n in c.completion_mask.sum(dim=1).tolist()]

    @property
    def finished(self) -> list[bool]:
        return [bool(f) for c in self.chunks for f in c.finished.tolist()]

    def micro_batch(self, start: int, stop: int) -> MicroBatch:
        """Completions ``[start, stop)``, which must lie in one chunk; trailing padding trimmed."""
        c, lo = divmod(start, self.chunk_size)
        if (stop - 1) // self.chunk_size != c:
            raise ValueError(f"rows [{start}, {stop}) span two generation chunks of {self.chunk_size}")
        chunk = self.chunks[c]
        rows = list(range(lo, lo + stop - start))
        mask = chunk.completion_mask[rows]
        width = max(int(mask.sum(dim=1).max()), 1)
        return MicroBatch(
            start,
            stop,
            select_rows(chunk.prompt_batch, rows),
            chunk.completion_ids[rows, :width],
            mask[:, :width],
            chunk.logprobs[rows, :width],
        )


def collect_rollout(
    bundle: VLMBundle,
    items: Sequence[EvalItem],
    cfg: GRPOConfig,
    *,
    step: int,
    rank: int = 0,
    banned: Sequence[int] = (),
    model: Any = None,
) -> RolloutBatch:
    """Sample ``group_size`` completions for each of ``items`` (see the module docstring)."""
    g = cfg.rollout.group_size
    per_chunk = cfg.generation_batch // g
    chunks: list[Rollout] = []
    for c, lo in enumerate(range(0, len(items), per_chunk)):
        part = items[lo : lo + per_chunk]
        batch = bundle.encode_chat([it.messages(cfg.rollout.template) for it in part])
        chunks.append(
            sample_vlm(
                bundle,
                batch,
                temperature=cfg.rollout.temperature,
                top_p=cfg.rollout.top_p,
                top_k=cfg.rollout.top_k,
                max_new_tokens=cfg.rollout.max_new_tokens,
                num_return_sequences=g,
                seed=rollout_seed(cfg.seed, step, rank, c),
                banned=banned,
                model=model,
            )
        )
    expanded = [it for it in items for _ in range(g)]
    return RolloutBatch(chunks, expanded, per_chunk * g)
