"""The real Qwen processors without torchvision: shapes, placeholder expansion, save/load."""

from __future__ import annotations

import pytest
import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from common.models.processor import (
    ImageOnlyQwen2_5_VLProcessor,
    ImageOnlyQwen3VLProcessor,
    build_image_processor,
    build_processor,
)
from common.models.tiny import build_tiny_vlm
from common.models.tokenizer import build_tokenizer
from tests.common.models.conftest import SMALL_VLM, random_image

TOKENIZER = build_tokenizer()


def _batch(processor, images, text="rate the image"):
    messages = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}] for _ in images
    ]
    texts = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return processor(text=texts, images=images, padding=True, return_tensors="pt")


@pytest.mark.parametrize(
    ("arch", "size", "patch_dim"),
    [("qwen2_5_vl", 112, 3 * 2 * 14 * 14), ("qwen2_5_vl", 128, 1176), ("qwen3_vl", 128, 3 * 2 * 16 * 16)],
)
def test_one_image_gives_16_image_tokens(arch: str, size: int, patch_dim: int) -> None:
    processor = build_processor(arch, TOKENIZER)
    batch = _batch(processor, [random_image(0, (size, size))])
    assert set(batch) == {
        "input_ids",
        "attention_mask",
        "mm_token_type_ids",
        "pixel_values",
        "image_grid_thw",
    }
    assert batch["pixel_values"].shape == (64, patch_dim)
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]]
    image_id = TOKENIZER.convert_tokens_to_ids("<|image_pad|>")
    assert int((batch["input_ids"] == image_id).sum()) == 16
    assert torch.equal(batch["mm_token_type_ids"].bool(), batch["input_ids"] == image_id)


def test_batch_is_left_padded_and_image_sizes_may_differ() -> None:
    processor = build_processor("qwen2_5_vl", TOKENIZER)
    images = [random_image(0, (128, 128)), random_image(1, (224, 112))]
    messages = [
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "rate"}]}],
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "rate the image please"}]}],
    ]
    texts = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    batch = processor(text=texts, images=images, padding=True, return_tensors="pt")
    grids = batch["image_grid_thw"].tolist()
    assert grids[0] == [1, 8, 8] and grids[1][0] == 1 and grids[1][1] < grids[1][2]  # wide image: wide grid
    assert batch["pixel_values"].shape[0] == sum(t * h * w for t, h, w in grids)
    mask = batch["attention_mask"]
    assert (mask[:, 0] == 0).sum() == 1 and mask[:, -1].all()  # the shorter row is padded on the left
    assert torch.equal(mask, mask.cummax(dim=1).values)


def test_processor_classes_have_no_video_processor_and_use_the_pil_backend() -> None:
    assert ImageOnlyQwen2_5_VLProcessor.get_attributes() == ["image_processor", "tokenizer"]
    assert ImageOnlyQwen3VLProcessor.get_attributes() == ["image_processor", "tokenizer"]
    processor = build_processor("qwen3_vl", TOKENIZER)
    assert isinstance(processor.image_processor, Qwen2VLImageProcessorPil)
    assert not hasattr(processor, "video_processor")
    assert processor.image_token_id == TOKENIZER.convert_tokens_to_ids("<|image_pad|>")
    assert processor.vision_start_token_id == TOKENIZER.convert_tokens_to_ids("<|vision_start|>")


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_save_and_reload_gives_identical_batches(arch: str, tmp_path) -> None:
    processor = build_processor(arch, TOKENIZER, build_image_processor(arch))
    processor.save_pretrained(tmp_path)
    loaded = type(processor).from_pretrained(tmp_path)
    assert isinstance(loaded.image_processor, Qwen2VLImageProcessorPil)
    images = [random_image(3)]
    a, b = _batch(processor, images), _batch(loaded, images)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.tokenizer.padding_side == "left"


def test_apply_chat_template_can_tokenize_with_images_inline() -> None:
    processor = build_processor("qwen2_5_vl", TOKENIZER)
    image = random_image(5)
    messages = [
        [{"role": "user", "content": [{"type": "image", "image": image}, {"type": "text", "text": "rate"}]}]
    ]
    batch = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert batch["image_grid_thw"].tolist() == [[1, 8, 8]]
    assert "mm_token_type_ids" in batch


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_presized_images_give_the_same_pixel_values(arch: str) -> None:
    """``VLMBundle.presize`` resizes as the processor does, so a pool presized once feeds the model
    exactly what the processor makes of the world-sized images (the 224-px presets upsample 128).
    A size the processor would resize again (the 96x160 one) is left as it is."""
    bundle = build_tiny_vlm(arch, **{**SMALL_VLM, "image_pixels": 224 * 224})
    images = [random_image(k, (128, 128)) for k in range(3)] + [random_image(3, (96, 160))]
    presized = bundle.presize(images)
    assert [im.size for im in presized] == [(224, 224)] * 3 + [(96, 160)]
    assert bundle.presize(presized) == presized  # at the target size already: kept as they are
    image_processor = bundle.processor.image_processor
    want = image_processor(images=images, return_tensors="pt")
    got = image_processor(images=presized, return_tensors="pt")
    assert torch.equal(got["image_grid_thw"], want["image_grid_thw"])
    assert torch.equal(got["pixel_values"], want["pixel_values"])
