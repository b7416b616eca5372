"""Per-token vision labels and their loss: each merged image token names the object covering its
cell, or the background. Shared by the VLM stage's auxiliary loss
(:class:`common.models.pretrain.vlm.VLMLoss`) and the vision warm-up's dense heads
(:mod:`common.models.pretrain.vision`)."""

from __future__ import annotations

import torch

from common.models.pretrain.data import dense_cell_labels
from common.world.scene import Scene

DENSE_KEYS: tuple[str, str] = ("vision_shape_labels", "vision_color_labels")
"""Batch keys of the dense vision labels: one entry per merged image token, all images concatenated."""


def dense_token_loss(
    shape_head: torch.nn.Module,
    color_head: torch.nn.Module,
    tokens: torch.Tensor,
    shape_labels: torch.Tensor,
    color_labels: torch.Tensor,
    background_weight: float = 1.0,
) -> torch.Tensor:
    """``(CE(shape_head(tokens), shape) + CE(color_head(tokens), colour)) / 2`` over merged image
    tokens, each labelled with the object covering it or the background class
    (:func:`common.models.pretrain.data.dense_cell_labels`); background tokens weigh
    ``background_weight`` (the weighted mean of ``torch.nn.functional.cross_entropy``)."""
    n_shapes, n_colors = shape_head.out_features, color_head.out_features
    shape_w = torch.ones(n_shapes, device=tokens.device)
    color_w = torch.ones(n_colors, device=tokens.device)
    shape_w[-1] = color_w[-1] = background_weight  # the last class is the background
    ce = torch.nn.functional.cross_entropy
    return 0.5 * (
        ce(shape_head(tokens).float(), shape_labels, weight=shape_w)
        + ce(color_head(tokens).float(), color_labels, weight=color_w)
    )


def dense_labels(scenes: list[Scene], grid_thw: torch.Tensor, merge: int) -> dict[str, torch.Tensor]:
    """The dense vision labels of ``scenes`` for the processor's ``image_grid_thw`` (one row per
    image, in the batch's image order)."""
    shapes: list[int] = []
    colors: list[int] = []
    for scene, (_, h, w) in zip(scenes, grid_thw.tolist(), strict=True):
        a, c = dense_cell_labels(scene, int(h) // merge, int(w) // merge)
        shapes += a
        colors += c
    return {DENSE_KEYS[0]: torch.tensor(shapes), DENSE_KEYS[1]: torch.tensor(colors)}
