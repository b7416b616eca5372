"""The reward models' prompts and answer parser (firm.prompts.rm)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from common.models.vocabulary import canonical_text
from common.rewards.modes import RM_MODES
from firm.prompts.rm import parse_rm_output, rm_messages, template_oov_words

IMG = Image.new("RGB", (16, 16), "white")
SRC = Image.new("RGB", (16, 16), "black")


def test_tiny_template_is_in_vocabulary() -> None:
    assert template_oov_words("tiny") == []


@pytest.mark.parametrize("template", ["tiny", "full"])
def test_messages_per_mode(template: str) -> None:
    for mode in RM_MODES:
        msgs = rm_messages(mode, image=IMG, source=SRC, instruction="make the circle red", template=template)
        images = [p["image"] for p in msgs[-1]["content"] if p["type"] == "image"]
        text = " ".join(p["text"] for p in msgs[-1]["content"] if p["type"] == "text")
        assert images == ([SRC, IMG] if mode in ("execution", "consistency") else [IMG])
        assert "report" not in text.lower() and "plan" not in text.lower()  # the RM never sees them
        if mode != "quality":
            assert "make the circle red" in text
    with pytest.raises(ValueError, match="needs the source image"):
        rm_messages("execution", image=IMG, instruction="x")
    with pytest.raises(ValueError, match="unknown RM mode"):
        rm_messages("aesthetics", image=IMG)


def test_full_template_keeps_the_curation_rubric() -> None:
    msgs = rm_messages("consistency", image=IMG, source=SRC, instruction="i", template="full")
    text = msgs[-1]["content"][-1]["text"]
    assert "4 - One significant and/or one or two minor unintended changes." in text
    assert "Check the two images carefully." in text


@pytest.mark.parametrize(
    ("mode", "text", "score", "normalised"),
    [
        ("execution", '{"reasoning": "the circle is red now.", "score": 4}', 4.0, 0.75),
        ("consistency", canonical_text('{"reasoning": "nothing else changed.", "score": 5}'), 5.0, 1.0),
        ("instruction", "Final Analysis: fine.\nFinal Alignment Rating: 2\n\\boxed{2}", 2.0, 0.25),
        ("instruction", canonical_text("final analysis : ok . rating : 3 \\boxed{3}"), 3.0, 0.5),
        ("quality", '{"reasoning": "x", "aesthetics": 4, "quality": 2, "structure_texture": 5}', 2.0, 0.25),
    ],
)
def test_parse_readable_answers(mode: str, text: str, score: float, normalised: float) -> None:
    verdict = parse_rm_output(mode, text)
    assert verdict.error is None and verdict.score == score and verdict.normalised == normalised
    if mode == "quality":
        assert verdict.parts == {"aesthetics": 4.0, "quality": 2.0, "structure_texture": 5.0}


@pytest.mark.parametrize(
    ("mode", "text", "error"),
    [
        ("execution", "", "empty"),
        ("execution", '{"reasoning": "x", "score": 9}', "score_out_of_range"),
        ("instruction", "Final Alignment Rating: 4\n\\boxed{2}", "score_conflicting_values"),
        ("quality", '{"aesthetics": 4, "quality": 2}', "missing_structure_texture"),
    ],
)
def test_unreadable_answers_are_flagged(mode: str, text: str, error: str) -> None:
    verdict = parse_rm_output(mode, text)
    assert verdict.score is None and verdict.normalised is None and verdict.error == error


@settings(max_examples=200, deadline=None)
@given(mode=st.sampled_from(RM_MODES), text=st.text(max_size=200))
def test_parser_never_raises(mode: str, text: str) -> None:
    verdict = parse_rm_output(mode, text)
    assert (verdict.score is None) == (verdict.error is not None)
    if verdict.normalised is not None:
        assert 0.0 <= verdict.normalised <= 1.0
