"""A vision-language model with its processor and tokenizer: :class:`VLMBundle`.

Qwen2.5-VL and Qwen3-VL evaluators / reward models. ``encode_chat`` turns chat messages with
images into a model batch. A saved VLM directory is what ``save_pretrained`` of the model and
processor write (as a hub repo); :func:`common.models.builders.load_vlm` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from common.models.module_io import ADAPTERS_DIR, save_module


@dataclass
class VLMBundle:
    """A vision-language model with its processor and tokenizer.

    Attributes:
        model: ``Qwen2_5_VLForConditionalGeneration`` or ``Qwen3VLForConditionalGeneration``
            (possibly with LoRA adapters injected: the class stays the same).
        processor: the image-only Qwen processor (:mod:`common.models.processor`).
        tokenizer: the processor's tokenizer (filled in when omitted).
    """

    model: Any
    processor: Any
    tokenizer: Any = None

    def __post_init__(self) -> None:
        if self.tokenizer is None:
            self.tokenizer = self.processor.tokenizer

    @property
    def arch(self) -> str:
        """``"qwen2_5_vl"`` or ``"qwen3_vl"`` (the config's ``model_type``)."""
        return str(self.model.config.model_type)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def merged_token_counts(self, grid_thw: torch.Tensor) -> list[int]:
        """Merged image tokens per image of the processor's ``image_grid_thw`` (patches / merge^2)."""
        merge = int(self.model.config.vision_config.spatial_merge_size)
        return (grid_thw.prod(-1) // merge**2).tolist()

    def presize(self, images: Sequence[Image.Image]) -> list[Image.Image]:
        """``images`` resized as the image processor would resize them (its target size for each
        input size, its resampling filter), where the processor keeps an image of the target size
        as it is; otherwise the image itself. Either way processing the result gives the same
        ``pixel_values``; a training pool presized once saves the resize at every step (the
        224-px tiny presets upsample every 128-px world image)."""
        image_processor = self.processor.image_processor
        patch = int(image_processor.patch_size)
        resample = Image.Resampling(int(image_processor.resample))

        def target(size: tuple[int, int]) -> tuple[int, int]:
            probe = Image.new("RGB", size)
            _, h, w = image_processor(images=[probe], return_tensors="pt")["image_grid_thw"][0].tolist()
            return int(w) * patch, int(h) * patch

        sizes: dict[tuple[int, int], tuple[int, int]] = {}
        out = []
        for im in images:
            if im.size not in sizes:
                size = target(im.size)
                sizes[im.size] = size if target(size) == size else im.size  # a fixed point only
            size = sizes[im.size]
            out.append(im if im.size == size else im.convert("RGB").resize(size, resample=resample))
        return out

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> VLMBundle:
        """Move the model (in place) and return the bundle."""
        self.model.to(device=device, dtype=dtype)
        return self

    def encode_chat(
        self,
        conversations: Sequence[Sequence[dict[str, Any]]],
        add_generation_prompt: bool = True,
    ) -> Any:
        """Chat conversations (with PIL images inside) -> a padded model batch on the model's device.

        Each conversation is a list of messages ``{"role": ..., "content": str | list}``; content
        items are ``{"type": "text", "text": ...}`` or ``{"type": "image", "image": PIL.Image}``.
        Images are taken in reading order. Returns the processor's ``BatchFeature``:
        ``input_ids``, ``attention_mask``, ``mm_token_type_ids`` and, when there are images,
        ``pixel_values`` and ``image_grid_thw``. Padding is on the tokenizer's side (left).
        """
        texts = self.processor.apply_chat_template(
            [list(c) for c in conversations], add_generation_prompt=add_generation_prompt, tokenize=False
        )
        images = [
            item["image"]
            for conv in conversations
            for message in conv
            if not isinstance(message["content"], str)
            for item in message["content"]
            if item.get("type") == "image"
        ]
        batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        return batch.to(self.device)

    def save_pretrained(self, path: str | Path) -> None:
        """Write model + processor (+ tokenizer + chat template) as a hub-style directory.

        A LoRA adapter on the model is saved under ``adapters/model`` and re-attached on load.
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_module(self.model, path, path / ADAPTERS_DIR / "model")
        self.processor.save_pretrained(path)
