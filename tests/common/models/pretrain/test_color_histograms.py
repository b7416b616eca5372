"""The conditioning probe's colour reading: colour shares that ignore where objects are."""

from __future__ import annotations

import numpy as np

from common.models.pretrain.flow_eval import color_histograms
from common.world.vocab import COLORS

NAMES = list(COLORS)


def _image(color: str, top: int, left: int, side: int = 8, size: int = 32) -> np.ndarray:
    img = np.full((size, size, 3), 160 / 255.0, dtype=np.float32)  # a plain grey background
    img[top : top + side, left : left + side] = np.asarray(COLORS[color], dtype=np.float32) / 255.0
    return img


def test_shares_are_the_object_area_per_colour_and_ignore_the_background() -> None:
    h = color_histograms(np.stack([_image("red", 2, 2), _image("blue", 20, 10, side=4)]))
    assert h.shape == (2, len(COLORS))
    assert h[0, NAMES.index("red")] == 64 / 1024 and h[0].sum() == 64 / 1024
    assert h[1, NAMES.index("blue")] == 16 / 1024 and h[1].sum() == 16 / 1024


def test_moving_an_object_keeps_the_histogram_and_recolouring_changes_it() -> None:
    h = color_histograms(np.stack([_image("green", 2, 2), _image("green", 20, 20), _image("pink", 2, 2)]))
    assert np.abs(h[0] - h[1]).sum() == 0.0
    assert np.abs(h[0] - h[2]).sum() == 2 * 64 / 1024
