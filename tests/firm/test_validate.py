"""Parsing and validation tables: what enters a dataset and why the rest is rejected."""

from __future__ import annotations

import pytest

from firm.curation.validate import (
    first_json_object,
    validate_boxed_rating,
    validate_json_score,
    validate_plan,
    validate_quality,
    validate_text,
)

JSON_TABLE = [
    ('{"reasoning": "done", "score": 4}', 4, "ok"),
    ('```json\n{"reasoning": "done", "score": 5}\n```', 5, "ok"),
    ('Sure. {"reasoning": "missing a star", "score": "3"}', 3, "ok"),
    ('{"reasoning": "done", "score": 7}', None, "score_out_of_range"),
    ('{"reasoning": "done", "score": 0}', None, "score_out_of_range"),
    ('{"reasoning": "done", "score": 3.5}', None, "score_not_integer"),
    ('{"reasoning": "done", "score": "4/10"}', None, "score_scale_mismatch"),
    ('{"reasoning": "done", "score": NaN}', None, "score_not_finite"),
    ('{"reasoning": "", "score": 4}', None, "no_reasoning"),
    ('{"score": 4}', None, "no_reasoning"),
    ("Score: 4", None, "score_not_in_json"),
    ('{"reasoning": "I would say', None, "score_no_number"),
    ("", None, "empty"),
    (None, None, "empty"),
]


@pytest.mark.parametrize(("text", "value", "reason"), JSON_TABLE)
def test_json_score(text: str, value: int | None, reason: str) -> None:
    v = validate_json_score(text)
    assert (v.value, v.reason) == (value, reason)


BOXED_TABLE = [
    ("- Is there a circle? Yes.\nFinal Alignment Rating: 4\n\\boxed{4}", 4, "ok"),
    ("1. Is there a circle? Yes.\n2. Two stars? No.\nFinal Alignment Rating: 3\n\\boxed{3}", 3, "ok"),
    ("Checked.\n\\boxed{5}", 5, "ok"),
    ("Checked.\nFinal Alignment Rating: 4\n\\boxed{2}", None, "score_conflicting_values"),
    ("Checked.\nFinal Alignment Rating: 4", None, "no_boxed"),
    ("1. Is there a circle? Yes.", None, "no_boxed"),
    ("Checked.\n\\boxed{6}", None, "score_out_of_range"),
    ("Checked.\n\\boxed{4.5}", None, "score_not_integer"),
    ("Checked.\n\\boxed{good}", None, "score_no_number"),
    ("\\boxed{4}", None, "no_reasoning"),
    ("", None, "empty"),
]


@pytest.mark.parametrize(("text", "value", "reason"), BOXED_TABLE)
def test_boxed_rating(text: str, value: int | None, reason: str) -> None:
    v = validate_boxed_rating(text)
    assert (v.value, v.reason) == (value, reason)


QUALITY_TABLE = [
    (
        '{"reasoning": "r", "aesthetics": 4, "quality": 3, "structure_texture": 5}',
        {"aesthetics": 4, "quality": 3, "structure": 5},
        "ok",
    ),
    (
        '{"aesthetics": "4", "quality": 3, "structure": 2}',
        {"aesthetics": 4, "quality": 3, "structure": 2},
        "ok",
    ),
    (
        '{"Aesthetics": 4, "Quality": 3, "Structure & Texture": 2}',
        {"aesthetics": 4, "quality": 3, "structure": 2},
        "ok",
    ),
    ('{"aesthetics": 4, "quality": 3}', None, "missing_structure_texture"),
    ('{"aesthetics": 9, "quality": 3, "structure_texture": 2}', None, "aesthetics_out_of_range"),
    ('{"aesthetics": 4, "quality": 2.5, "structure_texture": 2}', None, "quality_not_integer"),
    ('{"aesthetics": true, "quality": 3, "structure_texture": 2}', None, "bad_aesthetics"),
    ('{"aesthetics": 4, "quality": 3, "struc', None, "no_json"),
    ("aesthetics 4, quality 3, structure 2", None, "no_json"),
    ("", None, "empty"),
]


@pytest.mark.parametrize(("text", "value", "reason"), QUALITY_TABLE)
def test_quality(text: str, value: dict | None, reason: str) -> None:
    v = validate_quality(text)
    assert (v.value, v.reason) == (value, reason)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[Main Subject/Element]\n- Is there a circle?\n[Attribute/Action]\n- None", "ok"),
        ("**[Main Subject/Element]**\n* Are there three stars ?", "ok"),
        ("[Attribute/Action]\n- Is it red?", "no_main_subject_group"),
        ("[Main Subject/Element]\nA circle.", "no_questions"),
        ("   ", "empty"),
    ],
)
def test_plan(text: str, reason: str) -> None:
    assert validate_plan(text).reason == reason


def test_text_and_json_helper() -> None:
    assert validate_text(" a report ").value == "a report"
    assert validate_text("").reason == "empty"
    assert first_json_object('x {"a": {"b": 1}} {"c": 2}') == {"a": {"b": 1}}
    assert first_json_object("[1, 2] {bad") is None
