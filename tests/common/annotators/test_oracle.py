"""The world oracle writes the real output formats; the project's parsers read them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from common.annotators import ChatRequest, WorldOracleAnnotator, oracle_meta, user_message
from common.parsing import parse_answer, parse_score
from firm.curation.validate import validate_boxed_rating, validate_json_score, validate_quality

GROUPS = {"Main Subject/Element": [["Is there a circle in the image?", True, "I see one circle."]]}


def req(i: int, fmt: str, **spec: object) -> ChatRequest:
    im = Image.fromarray(np.full((8, 8, 3), i % 256, dtype=np.uint8))
    return ChatRequest([user_message(f"question {i}", [im])], meta=oracle_meta(fmt, **spec))


@pytest.mark.parametrize("score", [1, 2, 3, 4, 5])
def test_exact_answers_parse_to_the_truth(score: int) -> None:
    oracle = WorldOracleAnnotator()
    js, boxed, think, scores, text = oracle.complete(
        [
            req(0, "json_score", score=score, reasoning="the circle is now blue"),
            req(1, "boxed_rating", score=score, groups=GROUPS, summary="all good"),
            req(2, "think_answer", score=score, reasoning="ok", lo=1, hi=5),
            req(3, "json_scores", scores={"aesthetics": score, "quality": 5, "structure_texture": 1}),
            req(4, "text", text="a report"),
        ]
    )
    assert parse_score(js.text, 1, 5) == score and validate_json_score(js.text).value == score
    assert validate_json_score(js.text).reasoning == "the circle is now blue"
    assert parse_score(boxed.text, 1, 5) == score and validate_boxed_rating(boxed.text).value == score
    assert boxed.text.rstrip().endswith(f"Final Alignment Rating: {score}\n\\boxed{{{score}}}")
    assert parse_answer(think.text, "score", 1, 5).value == score
    assert validate_quality(scores.text).value == {"aesthetics": score, "quality": 5, "structure": 1}
    assert text.text == "a report"


def test_noise_is_seeded_clipped_and_has_the_requested_size() -> None:
    reqs = [req(i, "json_score", score=3, reasoning="r") for i in range(400)]
    a = [parse_score(r.text, 1, 5) for r in WorldOracleAnnotator(noise=1.0, seed=1).complete(reqs)]
    b = [parse_score(r.text, 1, 5) for r in WorldOracleAnnotator(noise=1.0, seed=1).complete(reqs)]
    c = [parse_score(r.text, 1, 5) for r in WorldOracleAnnotator(noise=1.0, seed=2).complete(reqs)]
    assert a == b and a != c
    assert set(a) <= {1.0, 2.0, 3.0, 4.0, 5.0} and len(set(a)) == 5
    mae = float(np.mean([abs(x - 3) for x in a]))  # type: ignore[operator]
    assert 0.55 < mae < 0.95  # E|round(N(0, 1))| ~ 0.76 before clipping
    exact = WorldOracleAnnotator(noise=0.0).complete(reqs)
    assert all(parse_score(r.text, 1, 5) == 3 for r in exact)


@pytest.mark.parametrize(
    ("fmt", "spec", "validator"),
    [
        ("json_score", {"score": 4, "reasoning": "r"}, validate_json_score),
        ("boxed_rating", {"score": 4, "groups": GROUPS, "summary": "s"}, validate_boxed_rating),
        (
            "json_scores",
            {"scores": {"aesthetics": 4, "quality": 4, "structure_texture": 4}},
            validate_quality,
        ),
    ],
)
def test_malformed_answers_are_rejected_by_the_validators(fmt: str, spec: dict, validator: object) -> None:
    resps = WorldOracleAnnotator(malformed_rate=1.0).complete([req(i, fmt, **spec) for i in range(60)])
    results = [validator(r.text) for r in resps]  # type: ignore[operator]
    assert all(not v.ok for v in results)
    assert len({v.reason for v in results}) >= 2  # several kinds of malformation


def test_without_a_spec_the_oracle_returns_an_error_response() -> None:
    (resp,) = WorldOracleAnnotator().complete([ChatRequest([user_message("hi")])])
    assert not resp.ok and "meta['oracle']" in (resp.error or "")
    with pytest.raises(ValueError, match="unknown oracle format"):
        oracle_meta("nope")


def test_same_prompt_other_truth_is_another_request() -> None:
    a = req(0, "json_score", score=1, reasoning="r")
    b = req(0, "json_score", score=5, reasoning="r")
    ra, rb = WorldOracleAnnotator().complete([a, b])
    assert parse_score(ra.text, 1, 5) == 1 and parse_score(rb.text, 1, 5) == 5
