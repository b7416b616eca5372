"""The in-process VLM backend answers with the tiny model zoo VLM (random weights) and caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.annotators import ChatRequest, TransformersVLMAnnotator, system_message, user_message
from common.models.tiny import build_tiny_vlm

SMALL = {
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


def test_answers_in_order_and_caches(tmp_path: Path) -> None:
    bundle = build_tiny_vlm("qwen3_vl", **SMALL)
    ann = TransformersVLMAnnotator(bundle, model="tiny-test", batch_size=2, max_tokens=4, cache_dir=tmp_path)
    im = Image.fromarray(np.full((128, 128, 3), 120, dtype=np.uint8))
    reqs = [
        ChatRequest([system_message("you are a judge ."), user_message("a red circle", [im])]),
        ChatRequest([user_message("a blue square")]),
        ChatRequest([user_message("two stars", [im, im])]),
    ]
    first = ann.complete(reqs)
    assert len(first) == 3 and all(r.ok and isinstance(r.text, str) for r in first)
    assert all(r.finish_reason in ("stop", "length") for r in first)
    again = TransformersVLMAnnotator(bundle, model="tiny-test", max_tokens=4, cache_dir=tmp_path).complete(
        reqs
    )
    assert [r.text for r in again] == [r.text for r in first] and all(r.cached for r in again)


def test_needs_exactly_one_model_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TransformersVLMAnnotator()
