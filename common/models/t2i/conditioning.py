"""What a T2I transformer is conditioned on, batched: :class:`Conditioning`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class Conditioning:
    """Everything the transformer is conditioned on, batched.

    Attributes:
        embeds: text(-and-image) embeddings ``[B, L, D]``.
        pooled: pooled text embedding ``[B, P]`` (SD3) or ``None``.
        mask: 1 for valid tokens of ``embeds`` ``[B, L]`` (Qwen-Image) or ``None`` (all valid).
        source: the editor's source image in the model's space ``[B, C, H, W]``, or ``None``.
    """

    embeds: torch.Tensor
    pooled: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    source: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.embeds.shape[0])

    def _map(self, fn: Any) -> Conditioning:
        return Conditioning(
            **{
                f.name: (None if (v := getattr(self, f.name)) is None else fn(v))
                for f in dataclasses.fields(self)
            }
        )

    def repeat_interleave(self, n: int) -> Conditioning:
        """Each item repeated ``n`` times in place (a group of ``n`` samples per prompt)."""
        return self._map(lambda t: t.repeat_interleave(n, dim=0))

    def select(self, index: torch.Tensor | slice | Sequence[int]) -> Conditioning:
        """The items at ``index``."""
        return self._map(lambda t: t[index])

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> Conditioning:
        """Move (and cast floating tensors; masks keep their dtype)."""
        return self._map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None))

    def detach(self) -> Conditioning:
        return self._map(lambda t: t.detach())

    @staticmethod
    def cat(items: Sequence[Conditioning]) -> Conditioning:
        """Concatenate along the batch; embeddings of different lengths are right-padded and masked."""
        length = max(c.embeds.shape[1] for c in items)
        need_mask = any(c.mask is not None for c in items) or any(c.embeds.shape[1] != length for c in items)
        embeds, masks = [], []
        for c in items:
            pad = length - c.embeds.shape[1]
            embeds.append(F.pad(c.embeds, (0, 0, 0, pad)))
            mask = c.mask if c.mask is not None else c.embeds.new_ones(c.embeds.shape[:2], dtype=torch.long)
            masks.append(F.pad(mask, (0, pad)))

        def cat_opt(name: str) -> torch.Tensor | None:
            values = [getattr(c, name) for c in items]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise ValueError(f"cannot concatenate conditionings where only some have {name!r}")
            return torch.cat(values, dim=0)

        return Conditioning(
            embeds=torch.cat(embeds, dim=0),
            pooled=cat_opt("pooled"),
            mask=torch.cat(masks, dim=0) if need_mask else None,
            source=cat_opt("source"),
        )
