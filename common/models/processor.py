"""The real Qwen-VL processors, set up for images only (no torchvision needed).

transformers 5 ships two image-processor backends per model: a torchvision one and a PIL one
(``Qwen2VLImageProcessorPil``). Qwen2.5-VL and Qwen3-VL both use the Qwen2-VL image processor;
only the patch size (14 vs 16) and normalisation constants differ.

The video-processor pitfall
---------------------------
``Qwen2_5_VLProcessor`` / ``Qwen3VLProcessor`` take ``(image_processor, tokenizer,
video_processor)``. Without torchvision no video processor can be built, and passing ``None``
fails inside ``ProcessorMixin``'s argument check: it looks up the ``VideoProcessorMixin`` class,
which transformers does not export without torchvision, and falls back to
``VIDEO_PROCESSOR_MAPPING._extra_content`` (``AttributeError: 'VIDEO_PROCESSOR_MAPPING' has no
attribute '_extra_content'``). ``from_pretrained`` would likewise try to build a video processor.

The fix here: thin subclasses whose ``__init__`` has no ``video_processor`` parameter.
``ProcessorMixin`` derives a processor's sub-processors from the ``__init__`` signature, so these
classes have exactly two (image processor, tokenizer): the argument check never sees a video
processor, ``save_pretrained`` / ``from_pretrained`` round-trip only those two, and everything
else (placeholder expansion, ``mm_token_type_ids``, ``apply_chat_template``) is the real code.
Videos are unsupported (no paper here uses them). The same classes load the processors of the
real hub checkpoints (their video-processor config is simply ignored).
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase, Qwen2_5_VLProcessor, Qwen3VLProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)

VISION_PRESETS: dict[str, dict[str, Any]] = {
    # 128x128 world image -> resized to 112x112 (pixel budget 112*112, factor 28) -> 8x8 patches of
    # 14 px -> 16 merged image tokens.
    "qwen2_5_vl": {"patch_size": 14, "pixels": 112 * 112, "mean": OPENAI_CLIP_MEAN, "std": OPENAI_CLIP_STD},
    # 128x128 world image -> kept at 128 (factor 32) -> 8x8 patches of 16 px -> 16 image tokens.
    "qwen3_vl": {"patch_size": 16, "pixels": 128 * 128, "mean": HALF, "std": HALF},
}
"""Image-processor settings of the tiny models, by architecture."""


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):  # noqa: N801 (mirrors transformers' name)
    """``Qwen2_5_VLProcessor`` without a video processor (see the module docstring)."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


class ImageOnlyQwen3VLProcessor(Qwen3VLProcessor):
    """``Qwen3VLProcessor`` without a video processor (see the module docstring)."""

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: PreTrainedTokenizerBase | None = None,
        chat_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


PROCESSOR_CLASSES: dict[str, type] = {
    "qwen2_5_vl": ImageOnlyQwen2_5_VLProcessor,
    "qwen3_vl": ImageOnlyQwen3VLProcessor,
}
"""Processor class by model type (``config.model_type``)."""


def build_image_processor(
    arch: str,
    *,
    pixels: int | None = None,
    patch_size: int | None = None,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
) -> Qwen2VLImageProcessorPil:
    """The PIL-backend Qwen2-VL image processor for a tiny model of architecture ``arch``.

    Args:
        arch: ``"qwen2_5_vl"`` or ``"qwen3_vl"``.
        pixels: pixel budget (min = max): every image is resized to about this many pixels, a
            multiple of ``patch_size * merge_size`` on each side.
        patch_size: vision patch size; must equal the vision config's.
        merge_size: spatial merge (2x2 patches -> one LLM token).
        temporal_patch_size: frames per temporal patch (an image is repeated to fill it).
    """
    preset = VISION_PRESETS[arch]
    pixels = pixels or preset["pixels"]
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": pixels, "longest_edge": pixels},
        patch_size=patch_size or preset["patch_size"],
        merge_size=merge_size,
        temporal_patch_size=temporal_patch_size,
        image_mean=list(preset["mean"]),
        image_std=list(preset["std"]),
    )


def build_processor(
    arch: str,
    tokenizer: PreTrainedTokenizerBase,
    image_processor: Qwen2VLImageProcessorPil | None = None,
    chat_template: str | None = None,
) -> ImageOnlyQwen2_5_VLProcessor | ImageOnlyQwen3VLProcessor:
    """The image-only Qwen processor of ``arch`` around ``tokenizer``.

    ``chat_template`` defaults to the tokenizer's. The result turns chat messages + images into
    ``input_ids``, ``attention_mask``, ``mm_token_type_ids``, ``pixel_values`` and
    ``image_grid_thw``, the standard way::

        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        batch = processor(text=text, images=images, padding=True, return_tensors="pt")
    """
    cls = PROCESSOR_CLASSES[arch]
    image_processor = image_processor or build_image_processor(arch)
    template = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
    return cls(image_processor, tokenizer, chat_template=template)


def load_processor(arch: str, name_or_path: str, **kwargs: Any) -> ImageOnlyQwen2_5_VLProcessor:
    """Load the image-only processor of ``arch`` from a hub id or a directory (``from_pretrained``)."""
    return PROCESSOR_CLASSES[arch].from_pretrained(name_or_path, **kwargs)
