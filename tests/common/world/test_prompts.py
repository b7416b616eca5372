"""World prompts: GenEval schema, wording inside the vocabulary, all six tags."""

from __future__ import annotations

import numpy as np

from common.world.geneval import GenEvalPrompt
from common.world.prompts import PROMPT_WORDS, enumerate_prompts, make_prompt, sample_prompt, sample_prompts
from common.world.vocab import GENEVAL_TAGS, SHAPES


def test_sampled_prompts_valid_and_in_vocabulary() -> None:
    rng = np.random.default_rng(0)
    ps = sample_prompts(600, rng)
    assert {p.tag for p in ps} == set(GENEVAL_TAGS)
    for p in ps:
        again = GenEvalPrompt.from_dict(p.to_dict(), vocabulary=SHAPES)
        assert again == p
        assert set(p.prompt.split()) <= PROMPT_WORDS, p.prompt
        if p.tag == "counting":
            assert p.exclude[0].cls == p.include[0].cls and p.exclude[0].count == p.include[0].count + 1
        if p.tag in ("two_object", "position", "color_attr"):
            assert p.include[0].cls != p.include[1].cls


def test_wording_examples() -> None:
    from common.world.geneval import GenEvalItem as It

    assert make_prompt("counting", [It("cross", 3)]).prompt == "a photo of three crosses"
    assert make_prompt("colors", [It("star", 1, "orange")]).prompt == "a photo of an orange star"
    p = make_prompt("position", [It("circle"), It("square", 1, None, ("left of", 0))])
    assert p.prompt == "a photo of a square left of a circle"
    p = make_prompt("color_attr", [It("circle", 1, "red"), It("hexagon", 1, "white")])
    assert p.prompt == "a photo of a red circle and a white hexagon"


def test_enumerate_and_determinism() -> None:
    sizes = {t: len(enumerate_prompts(t)) for t in GENEVAL_TAGS}
    assert sizes == {
        "single_object": 6,
        "two_object": 30,
        "counting": 18,
        "colors": 60,
        "position": 120,
        "color_attr": 2700,
    }
    a = [p.to_dict() for p in sample_prompts(50, np.random.default_rng(5))]
    assert a == [p.to_dict() for p in sample_prompts(50, np.random.default_rng(5))]
    assert sample_prompt("single_object", np.random.default_rng(1)).tag == "single_object"
