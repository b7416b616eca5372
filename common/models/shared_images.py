"""Run a VLM's vision tower once per distinct image of a batch.

A GRPO batch repeats every prompt G times (:func:`common.models.vlm_sampling.expand_batch`), so
its ``pixel_values`` hold each image G times, and the vision tower, the costliest part of a tiny
VLM's forward pass at 224x224 inputs, would encode every image G times. While
:func:`shared_image_features` is active, a forward pre-hook on the tower keeps one copy of each
distinct image (exact equality of its patches and ``image_grid_thw``) and a forward hook expands
the tower's outputs back to one block per original image with ``index_select``.

The result is the same function of the weights: the outputs are copies of identical values, and
the backward pass of ``index_select`` sums the copies' gradients, i.e. what the per-copy
computation gives up to float summation order (tested against the unshared forward and backward
for both tiny VLM families). Outputs expanded: ``pooler_output`` (the merged image tokens the
language model receives), every tensor of ``deepstack_features`` (Qwen3-VL) and
``last_hidden_state`` (per patch); anything else the tower returns is left as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from common.models.unwrap import transformers_model

__all__ = ["ImageDedup", "dedup_images", "shared_image_features", "vision_tower"]


def vision_tower(model: Any) -> torch.nn.Module | None:
    """The vision tower (``model.model.visual``) of a transformers Qwen-VL model, unwrapped; else None."""
    core = transformers_model(model)
    inner = getattr(core, "model", None)
    tower = getattr(inner, "visual", None)
    return tower if isinstance(tower, torch.nn.Module) else None


@dataclass
class ImageDedup:
    """Which original image each distinct image stands for.

    Attributes:
        keep: indices of the distinct images among the originals (first occurrences, in order).
        source: for every original image, the position of its copy in ``keep``.
        patches: patches per original image (``grid_thw.prod(-1)``).
        merge: the tower's spatial merge factor (tokens per image = patches / merge**2).
    """

    keep: list[int]
    source: list[int]
    patches: list[int]
    merge: int

    @property
    def has_duplicates(self) -> bool:
        return len(self.keep) < len(self.source)

    def row_index(self, per_patch: bool, device: torch.device) -> torch.Tensor:
        """Rows of the distinct images' output that rebuild the original images' output."""
        div = 1 if per_patch else self.merge**2
        sizes = [self.patches[k] // div for k in self.keep]
        starts = [0]
        for s in sizes[:-1]:
            starts.append(starts[-1] + s)
        idx = [torch.arange(starts[u], starts[u] + sizes[u]) for u in self.source]
        return torch.cat(idx).to(device)

    def n_rows(self, per_patch: bool) -> int:
        div = 1 if per_patch else self.merge**2
        return sum(self.patches[k] // div for k in self.keep)


def dedup_images(pixel_values: torch.Tensor, grid_thw: torch.Tensor, merge: int) -> ImageDedup:
    """Find repeated images in a flattened ``pixel_values`` / ``grid_thw`` pair (exact equality)."""
    patches = [int(p) for p in grid_thw.prod(dim=-1).tolist()]
    chunks = torch.split(pixel_values, patches, dim=0)
    sums = torch.stack([c.sum() for c in chunks]).tolist()  # one device sync, not one per image
    grids = [tuple(g) for g in grid_thw.tolist()]
    keep: list[int] = []
    source: list[int] = []
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for i, chunk in enumerate(chunks):
        key = (grids[i], sums[i])
        match = next((u for u in by_key.get(key, []) if torch.equal(chunks[keep[u]], chunk)), None)
        if match is None:
            match = len(keep)
            keep.append(i)
            by_key.setdefault(key, []).append(match)
        source.append(match)
    return ImageDedup(keep=keep, source=source, patches=patches, merge=merge)


def _split_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = args[0] if args else kwargs["hidden_states"]
    grid = args[1] if len(args) > 1 else kwargs["grid_thw"]
    return pixels, grid


@contextlib.contextmanager
def shared_image_features(model: Any, enabled: bool = True) -> Iterator[None]:
    """Within this block, ``model``'s vision tower encodes each distinct image of a call once.

    A no-op for models without a Qwen-VL vision tower or when ``enabled`` is False.
    """
    tower = vision_tower(model) if enabled else None
    if tower is None:
        yield
        return
    merge = int(getattr(tower, "spatial_merge_size", 1))
    pending: list[ImageDedup | None] = []

    def before(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pixels, grid = _split_inputs(args, kwargs)
        dedup = dedup_images(pixels, grid, merge)
        if not dedup.has_duplicates:
            pending.append(None)
            return None
        pending.append(dedup)
        patches = torch.split(pixels, dedup.patches, dim=0)
        pixels = torch.cat([patches[k] for k in dedup.keep], dim=0)
        grid = grid[dedup.keep]
        kwargs = {k: v for k, v in kwargs.items() if k not in ("hidden_states", "grid_thw")}
        return (pixels, grid, *args[2:]), kwargs

    def after(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        dedup = pending.pop()
        if dedup is None:
            return None
        return _expand_output(output, dedup)

    handles = [
        tower.register_forward_pre_hook(before, with_kwargs=True),
        tower.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _expand_output(output: Any, dedup: ImageDedup) -> Any:
    """Expand the tower's per-distinct-image outputs to the original images."""
    if not hasattr(output, "pooler_output"):
        raise TypeError(
            f"shared_image_features: the vision tower returned {type(output).__name__}, expected a "
            "transformers ModelOutput with pooler_output; disable sharing for this model"
        )

    device = output.pooler_output.device
    index = {dedup.n_rows(p): dedup.row_index(p, device) for p in (True, False)}  # tokens win a tie

    def expand(t: torch.Tensor | None) -> torch.Tensor | None:
        rows = None if t is None else index.get(t.shape[0])
        return t if rows is None else t.index_select(0, rows)

    output.pooler_output = expand(output.pooler_output)
    if getattr(output, "last_hidden_state", None) is not None:
        output.last_hidden_state = expand(output.last_hidden_state)
    deepstack = getattr(output, "deepstack_features", None)
    if deepstack is not None:
        output.deepstack_features = [expand(t) for t in deepstack]
    return output
