"""GenEval-world summary pieces: shuffled-prompt chance, colour presence, the level's checker."""

from __future__ import annotations

import numpy as np

from common.models.pretrain.data import world_scenes
from common.models.pretrain.flow_eval import geneval_summary, shuffled_within_tag
from common.world.geneval import Detection, color_presence
from common.world.prompts import sample_prompts
from common.world.render import render_at


def test_shuffle_keeps_tags_moves_prompts_and_is_seeded() -> None:
    prompts = sample_prompts(60, np.random.default_rng(0), level="basic")
    a, b = shuffled_within_tag(prompts, 3), shuffled_within_tag(prompts, 3)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert [p.tag for p in a] == [p.tag for p in prompts]
    assert sorted(p.prompt for p in a) == sorted(p.prompt for p in prompts)
    moved = np.mean([x.prompt != y.prompt for x, y in zip(a, prompts, strict=True)])
    assert moved > 0.75  # single_object has four distinct prompts at the basic level: some repeat


def test_color_presence_is_shape_agnostic() -> None:
    prompt = next(p for p in sample_prompts(12, np.random.default_rng(1)) if p.tag == "color_attr")
    c1, c2 = (it.color for it in prompt.include)
    box = (0.1, 0.1, 0.3, 0.3)
    both = [Detection(cls="hexagon", bbox=box, color=c1), Detection(cls="star", bbox=box, color=c2)]
    assert color_presence(prompt, both) is True
    assert color_presence(prompt, both[:1]) is False
    single = next(p for p in sample_prompts(6, np.random.default_rng(1)) if p.tag == "single_object")
    assert color_presence(single, both) is None


def test_ground_truth_beats_its_shuffled_chance_at_the_basic_level() -> None:
    pairs = world_scenes(36, 5, modes=("match",), level="basic")
    prompts = [p for p, _ in pairs]
    images = [render_at(s, 32) for _, s in pairs]
    out = geneval_summary(prompts, images, level="basic", chance_seed=5)
    assert out["geneval_clean"] > 0.8
    assert out["color_presence"] > 0.9
    assert out["chance"]["geneval_clean"] < 0.5 * out["geneval_clean"]
    assert set(out["per_tag_clean"]) == set(out["per_tag"])
