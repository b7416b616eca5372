"""GenEval schema on the real 553 prompts, the correctness rule, and one scorer for real and world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.world.geneval import (
    VENDORED_PATH,
    Detection,
    GenEvalItem,
    GenEvalPrompt,
    GenEvalSchemaError,
    Verdict,
    evaluate_prompt,
    load_geneval_jsonl,
    relative_position,
    score_geneval,
)
from common.world.prompts import sample_prompt
from common.world.vocab import GENEVAL_TAGS


def _real_path() -> Path:
    assert VENDORED_PATH.is_file(), f"the vendored GenEval metadata is missing: {VENDORED_PATH}"
    return VENDORED_PATH


def test_real_geneval_validates_and_round_trips() -> None:
    path = _real_path()
    prompts = load_geneval_jsonl(path)
    assert len(prompts) == 553
    counts = {t: sum(p.tag == t for p in prompts) for t in GENEVAL_TAGS}
    assert counts == {
        "single_object": 80,
        "two_object": 99,
        "counting": 80,
        "colors": 94,
        "position": 100,
        "color_attr": 100,
    }
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    assert [p.to_dict() for p in prompts] == lines


@pytest.mark.parametrize(
    "record",
    [
        {"tag": "nope", "include": [{"class": "cat", "count": 1}], "prompt": "x"},
        {"tag": "single_object", "include": [], "prompt": "x"},
        {"tag": "single_object", "include": [{"class": "cat", "count": 0}], "prompt": "x"},
        {"tag": "colors", "include": [{"class": "cat", "count": 1, "color": "teal"}], "prompt": "x"},
        {"tag": "counting", "include": [{"class": "cat", "count": 2}], "prompt": "two cats"},
        {
            "tag": "position",
            "include": [{"class": "a", "count": 1}, {"class": "b", "count": 1, "position": ["near", 0]}],
            "prompt": "x",
        },
        {"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "x", "extra": 1},
    ],
)
def test_schema_errors(record: dict) -> None:
    with pytest.raises(GenEvalSchemaError):
        GenEvalPrompt.from_dict(record)


def test_vocabulary_check_is_optional() -> None:
    rec = {"tag": "single_object", "include": [{"class": "bowl", "count": 1}], "prompt": "a photo of a bowl"}
    GenEvalPrompt.from_dict(rec)
    with pytest.raises(GenEvalSchemaError):
        GenEvalPrompt.from_dict(rec, vocabulary=["circle"])


def test_relative_position_rule() -> None:
    a, b = (0.0, 0.4, 0.2, 0.6), (0.6, 0.4, 0.8, 0.6)
    assert relative_position(a, b) == {"left of"}
    assert relative_position(b, a) == {"right of"}
    assert relative_position((0.4, 0.0, 0.6, 0.2), (0.4, 0.6, 0.6, 0.8)) == {"above"}
    assert relative_position((0.6, 0.6, 0.8, 0.8), (0.0, 0.0, 0.2, 0.2)) == {"right of", "below"}
    # overlapping boxes within the margin: no relation
    assert relative_position((0.40, 0.4, 0.6, 0.6), (0.43, 0.4, 0.63, 0.6)) == set()


def test_evaluate_real_prompt_with_coco_detections() -> None:
    p = GenEvalPrompt.from_dict(
        {
            "tag": "position",
            "include": [
                {"class": "laptop", "count": 1},
                {"class": "cow", "count": 1, "position": ["right of", 0]},
            ],
            "prompt": "a photo of a cow right of a laptop",
        }
    )
    laptop = Detection("laptop", (0.1, 0.4, 0.3, 0.6))
    cow_right = Detection("cow", (0.6, 0.4, 0.9, 0.6))
    cow_left = Detection("cow", (0.0, 0.7, 0.05, 0.75))
    assert evaluate_prompt(p, [laptop, cow_right]).correct
    v = evaluate_prompt(p, [laptop])
    assert v.requirements == {
        "include[0].count": True,
        "include[1].count": False,
        "include[1].position": False,
    }
    v = evaluate_prompt(p, [laptop, cow_left])
    assert not v.correct and v.violated == {"include[1].position"}

    counting = GenEvalPrompt.from_dict(
        {
            "tag": "counting",
            "include": [{"class": "cat", "count": 2}],
            "exclude": [{"class": "cat", "count": 3}],
            "prompt": "a photo of two cats",
        }
    )
    cat = Detection("cat", (0, 0, 0.1, 0.1))
    assert evaluate_prompt(counting, [cat, cat]).correct
    assert evaluate_prompt(counting, [cat, cat, cat]).violated == {"exclude[0].count"}
    assert evaluate_prompt(counting, [cat]).violated == {"include[0].count"}


def test_score_geneval_hand_computed_same_for_real_and_world() -> None:
    real = load_geneval_jsonl(_real_path())
    first = {}
    for p in real:
        first.setdefault(p.tag, []).append(p)
    # correctness pattern per tag: single 2/3, two 1/2, counting 0/1, colors 1/1, position 1/4, color_attr 3/4
    pattern = {
        "single_object": [1, 1, 0],
        "two_object": [1, 0],
        "counting": [0],
        "colors": [1],
        "position": [0, 1, 0, 0],
        "color_attr": [1, 1, 0, 1],
    }
    expected_per_tag = {"single_object": 2 / 3, "two_object": 0.5, "counting": 0.0, "colors": 1.0}
    expected_per_tag |= {"position": 0.25, "color_attr": 0.75}
    expected_overall = (2 / 3 + 0.5 + 0.0 + 1.0 + 0.25 + 0.75) / 6  # mean over tags, not prompts (8/15)
    rng = np.random.default_rng(0)
    real_v = [Verdict(t, bool(c)) for t, cs in pattern.items() for c, _ in zip(cs, first[t], strict=False)]
    world_v = [Verdict(sample_prompt(t, rng).tag, bool(c)) for t, cs in pattern.items() for c in cs]
    dict_v = [{"tag": t, "correct": bool(c)} for t, cs in pattern.items() for c in cs]
    for vs in (real_v, world_v, dict_v):
        s = score_geneval(vs)
        assert s["per_tag"] == pytest.approx(expected_per_tag)
        assert s["overall"] == pytest.approx(expected_overall)
        assert list(s["per_tag"]) == list(GENEVAL_TAGS)
        assert s["n"] == 15
    assert score_geneval(real_v) == score_geneval(world_v) == score_geneval(dict_v)


def test_item_round_trip() -> None:
    it = GenEvalItem("star", 1, "red", ("left of", 0))
    assert GenEvalItem.from_dict(it.to_dict()) == it
