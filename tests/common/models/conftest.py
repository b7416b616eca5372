"""Small models and images shared by the model-zoo tests (built once per session, never mutated)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PIL import Image

from common.models.t2i import T2IBundle
from common.models.tiny import build_tiny_vlm
from common.models.tiny_generators import build_tiny_editor, build_tiny_flow_unet, build_tiny_sd3
from common.models.vlm_bundle import VLMBundle

SMALL_VLM: dict[str, Any] = {
    "text_hidden_size": 64,
    "text_intermediate_size": 128,
    "text_layers": 2,
    "text_heads": 2,
    "text_kv_heads": 1,
    "vision_hidden_size": 32,
    "vision_intermediate_size": 64,
    "vision_depth": 2,
    "vision_heads": 2,
}
"""Test-size VLM (text hidden 64 x 2 layers, vision 32 x 2): ~0.25M parameters."""

SMALL_IMAGE_MODEL: dict[str, Any] = {"num_layers": 2}


def random_image(seed: int, size: tuple[int, int] = (128, 128)) -> Image.Image:
    rng = np.random.RandomState(seed)
    return Image.fromarray((rng.rand(size[1], size[0], 3) * 255).astype("uint8"))


@pytest.fixture(scope="session")
def images() -> list[Image.Image]:
    return [random_image(i) for i in range(4)]


@pytest.fixture(scope="session", params=["qwen2_5_vl", "qwen3_vl"])
def small_vlm(request: pytest.FixtureRequest) -> VLMBundle:
    """A small VLM of each architecture (do not add adapters to it: build your own)."""
    return build_tiny_vlm(request.param, **SMALL_VLM)


@pytest.fixture(scope="session")
def small_sd3() -> T2IBundle:
    return build_tiny_sd3(**SMALL_IMAGE_MODEL)


@pytest.fixture(scope="session")
def small_unet() -> T2IBundle:
    return build_tiny_flow_unet(block_out_channels=(16, 32), cross_attention_levels=1, attention_heads=2)


@pytest.fixture(scope="session")
def small_unet_editor() -> T2IBundle:
    return build_tiny_flow_unet(
        block_out_channels=(16, 32), cross_attention_levels=1, attention_heads=2, editor=True
    )


@pytest.fixture(scope="session")
def small_editor() -> T2IBundle:
    return build_tiny_editor(**SMALL_IMAGE_MODEL)


def chats(images: list[Image.Image]) -> list[list[dict[str, Any]]]:
    """Three prompts of different lengths: one image, two images, text only."""
    return [
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": images[0]},
                    {"type": "text", "text": "describe the image"},
                ],
            }
        ],
        [
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": images[1]},
                    {"type": "image", "image": images[2]},
                    {
                        "type": "text",
                        "text": "which image is better ? think first , then rate both from 0 to 10 .",
                    },
                ],
            }
        ],
        [{"role": "system", "content": "you are a judge ."}, {"role": "user", "content": "a red circle"}],
    ]
