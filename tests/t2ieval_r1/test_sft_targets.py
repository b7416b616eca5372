"""Targets of the format warm-up and the SFT baselines (t2ieval_r1.sft_targets)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from common.models.vocabulary import oov_words
from common.parsing import parse_score_detailed
from common.world.scene import Scene
from t2ieval_r1.evaluate.rationale import check_rationale
from t2ieval_r1.sft_targets import random_score, scene_rationale, sft_targets, think_text

SCENE = {
    "background_seed": 1,
    "canvas": 128,
    "objects": [
        {"color": "blue", "radius": 0.15, "rotation": 0.0, "shape": "triangle", "x": 0.5, "y": 0.5},
        {"color": "purple", "radius": 0.1, "rotation": 0.0, "shape": "square", "x": 0.2, "y": 0.85},
    ],
}


def _meta(violated: list[str], defects: dict[str, int] | None = None) -> dict:
    include = [{"class": "triangle", "count": 1}, {"class": "star", "count": 2, "color": "red"}]
    return {"scene": SCENE, "metadata": {"include": include}, "violated": violated, "defects": defects or {}}


def test_scene_rationale_states_caption_violations_and_defects() -> None:
    text = scene_rationale(_meta(["include[1].count", "include[1].color"], {"blur": 2, "noise": 0}))
    assert text == (
        "the image shows a blue triangle at the center , a purple square at the bottom left . "
        "the number of stars is wrong . the star has the wrong colour . the image is blurry ."
    )
    clean = scene_rationale(_meta([]))
    assert clean.endswith("it matches the prompt .") and "blurry" not in clean
    assert oov_words([text, clean]) == []


def test_rationale_needs_world_scenes() -> None:
    with pytest.raises(ValueError, match="real corpora carry no ground-truth rationale"):
        scene_rationale({"ratings": [1, 2]})


def test_targets_per_kind() -> None:
    labels, scales = [9.33, 2.0, 5.5], [(0.0, 10.0)] * 3
    caps = ["a red circle at the top .", "nothing .", "a blue star at the left ."]
    scores = sft_targets("scores", labels=labels, scales=scales, captions=caps)
    assert scores[0] == "<think> a red circle at the top . </think> <answer> 9.3 </answer>"
    assert scores[1].endswith("<answer> 2 </answer>") and scores[2].endswith("<answer> 5.5 </answer>")
    metas = [json.dumps(_meta([]))] * 3
    rationale = sft_targets("rationale", labels=labels, scales=scales, metas=metas)
    assert rationale[0].startswith("<think> the image shows a blue triangle") and "9.3" in rationale[0]
    with pytest.raises(ValueError, match="own captions"):
        sft_targets("format", labels=labels, scales=scales)
    with pytest.raises(ValueError, match="unknown SFT kind"):
        sft_targets("nope", labels=labels, scales=scales, captions=caps)


def test_format_warmup_scores_are_label_free_and_uniform() -> None:
    n = 2000
    labels = list(np.linspace(0, 10, n))
    out = sft_targets("format", labels=labels, scales=[(0.0, 10.0)] * n, captions=["nothing ."] * n, seed=3)
    values = [parse_score_detailed(t, 0, 10).value for t in out]
    counts = Counter(values)
    assert set(counts) == {float(v) for v in range(11)}
    assert max(counts.values()) / min(counts.values()) < 1.6  # roughly uniform over 0..10
    assert abs(np.corrcoef(values, labels)[0, 1]) < 0.08  # uncorrelated with the labels
    again = sft_targets("format", labels=labels, scales=[(0.0, 10.0)] * n, captions=["nothing ."] * n, seed=3)
    assert again == out  # seeded


def test_random_score_respects_the_scale() -> None:
    rng = np.random.default_rng(0)
    assert {random_score((1.0, 5.0), rng) for _ in range(200)} == {"1", "2", "3", "4", "5"}


def test_compare_think_states_the_prompt_then_the_caption() -> None:
    caps = ["a blue triangle at the center , a purple square at the bottom left ."]
    prompts = ["a photo of a blue triangle and a red star. Centred!"]
    out = sft_targets(
        "scores", labels=[4.0], scales=[(0.0, 10.0)], captions=caps, think="compare", prompts=prompts
    )
    assert out == [
        "<think> the prompt asks for a blue triangle and a red star centred "
        ". the image shows a blue triangle at the center , a purple square at the bottom left . "
        "</think> <answer> 4 </answer>"
    ]
    assert sft_targets("format", labels=[4.0], scales=[(0.0, 10.0)], captions=caps) == sft_targets(
        "format", labels=[4.0], scales=[(0.0, 10.0)], captions=caps, think="caption", prompts=prompts
    )  # the default is the caption alone
    with pytest.raises(ValueError, match="needs the items' prompts"):
        think_text("nothing .", None, "compare")
    with pytest.raises(ValueError, match="think: unknown style"):
        think_text("nothing .", "a photo of a star", "both")


def test_the_restated_prompt_is_not_fact_checked() -> None:
    """Rationale accuracy reads only what the caption says: the prompt sentence states nothing
    about the image, even the objects it lists after "and"."""
    think = think_text(
        "a blue triangle at the center , a purple square at the bottom left .",
        "a photo of a red star and a green cross",
        "compare",
    )
    check = check_rationale(think, Scene.from_dict(SCENE))
    assert check.truth == [True, True] and check.n_unparseable == 0
    assert check.n_other == 1  # the prompt sentence
    # a restatement ends where the image is described again, in the same sentence too
    for text in (
        "the prompt asks for a red star but the image shows a blue triangle",
        "the prompt asks for a red star , the image shows a blue triangle",
        "The prompt wants a red star; a blue triangle at the center",
    ):
        check = check_rationale(text, Scene.from_dict(SCENE))
        assert [f.text for f in check.facts] == [
            next(t for t in ("a blue triangle at the center", "a blue triangle") if t in text.lower())
        ], text
        assert check.truth == [True]
