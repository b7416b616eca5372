"""Prompt templates: in-vocabulary wording, conversation structure for one and two images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from common.models.vocabulary import oov_words
from common.world.prompts import sample_prompts
from t2ieval_r1.prompts import (
    ASPECT_TEXT,
    PROMPT_TEMPLATES,
    build_messages,
    format_completion,
    template_oov_words,
)


@pytest.mark.parametrize("name", PROMPT_TEMPLATES.names())
def test_templates_have_no_out_of_vocabulary_words(name: str) -> None:
    world_prompts = [p.prompt for p in sample_prompts(30, np.random.default_rng(0))]
    assert template_oov_words(name, world_prompts) == []


def test_every_aspect_is_described() -> None:
    assert set(ASPECT_TEXT) == {"appearance", "intrinsic", "relationship", "overall", "faithfulness"}


def test_single_and_pairwise_conversations() -> None:
    im = Image.new("RGB", (8, 8))
    single = build_messages("a photo of a red circle", [im], aspect="intrinsic", scale=(1.0, 5.0))
    (user,) = single
    assert user["role"] == "user" and [c["type"] for c in user["content"]] == ["image", "text"]
    text = user["content"][1]["text"]
    assert (
        "from 1 to 5" in text
        and "<think>" in text
        and "<answer>" in text
        and ASPECT_TEXT["intrinsic"] in text
    )
    pair = build_messages("a photo of a red circle", [im, im])[0]["content"]
    assert [c["type"] for c in pair] == ["text", "image", "text", "image", "text"]
    assert pair[0]["text"] == "image 1 :" and pair[2]["text"] == "image 2 :"
    assert oov_words([c["text"] for c in pair if c["type"] == "text"]) == []
    with pytest.raises(ValueError, match="one image"):
        build_messages("p", [])
    with pytest.raises(ValueError, match="unknown aspect"):
        build_messages("p", [im], aspect="beauty")


def test_format_completion() -> None:
    assert format_completion(" a red circle ", "7") == "<think> a red circle </think> <answer> 7 </answer>"
