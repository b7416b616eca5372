"""The curation prompts carry the paper's rubrics and build well-formed requests."""

from __future__ import annotations

import numpy as np
from PIL import Image

from common.annotators import ChatRequest, request_images
from firm.prompts import (
    CONSISTENCY_PROMPT,
    EVALUATOR_PROMPT,
    EXECUTION_PROMPT,
    PLAN_GROUPS,
    PLANNER_PROMPT,
    QUALITY_KEYS,
    QUALITY_PROMPT,
    consistency_messages,
    difference_messages,
    evaluator_messages,
    execution_messages,
    merge_report,
    planner_messages,
    quality_messages,
)


def im(v: int) -> Image.Image:
    return Image.fromarray(np.full((8, 8, 3), v, dtype=np.uint8))


def test_edit_rubrics_have_five_levels_json_output_and_exclusions() -> None:
    for prompt in (EXECUTION_PROMPT, CONSISTENCY_PROMPT):
        for level in "12345":
            assert f"\n{level} - " in prompt
        assert '"reasoning"' in prompt and '"score"' in prompt and "{instruction}" in prompt
    assert "Ignore any extra changes" in EXECUTION_PROMPT
    for excluded in ("occlusion", "quality", "replaced", "physical consequences"):
        assert excluded in CONSISTENCY_PROMPT


def test_gen_prompts_name_the_groups_the_rating_and_the_subscores() -> None:
    for group in PLAN_GROUPS:
        assert f"[{group}]" in PLANNER_PROMPT
    assert "Final Alignment Rating: X" in EVALUATOR_PROMPT.format(prompt="p", plan="q")
    assert "\\boxed{X}" in EVALUATOR_PROMPT.format(prompt="p", plan="q")
    for key in QUALITY_KEYS:
        assert f'"{key}"' in QUALITY_PROMPT


def test_messages_put_source_before_edited_and_build_valid_requests() -> None:
    src, edited = im(1), im(2)
    for msgs in (
        difference_messages("obvious", src, edited),
        difference_messages("detailed", src, edited),
        execution_messages("make the circle red", "report", src, edited),
        consistency_messages("make the circle red", "report", src, edited),
    ):
        imgs = request_images(ChatRequest(msgs))
        assert imgs == [src, edited]
    assert (
        'Instruction: "make the circle red"'
        in ChatRequest(execution_messages("make the circle red", "R", src, edited)).text
    )
    assert request_images(ChatRequest(planner_messages("a photo of a cat"))) == []
    assert request_images(ChatRequest(evaluator_messages("p", "plan", src))) == [src]
    assert request_images(ChatRequest(quality_messages(src))) == [src]


def test_merge_report_keeps_both_passes() -> None:
    report = merge_report(" the circle is red \n", "Quantity: None")
    assert report.index("the circle is red") < report.index("Quantity: None")
    assert report.startswith("## Obvious differences")
