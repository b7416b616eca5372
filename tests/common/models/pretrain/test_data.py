"""World data for pretraining: captions, VQA answers, edits and their pixel-level checks."""

from __future__ import annotations

import numpy as np
import pytest

from common.models.pretrain.data import (
    VQA_KINDS,
    changes_part,
    difference_changes,
    difference_pairs,
    edit_verdict,
    vlm_eval_items,
    vqa_item,
    world_edits,
    world_scenes,
)
from common.models.vocabulary import oov_words
from common.world.captions import POSITIONS, caption_triples, describe, parse_caption
from common.world.edits import EDIT_KINDS
from common.world.render import render_at
from common.world.scene import Scene, SceneObject


def scene(*objs: SceneObject) -> Scene:
    return Scene(objects=tuple(objs), background_seed=3)


RED_CIRCLE = SceneObject("circle", "red", 0.2, 0.2, 0.1)
BLUE_STAR = SceneObject("star", "blue", 0.8, 0.8, 0.1)
GREEN_CIRCLE = SceneObject("circle", "green", 0.5, 0.8, 0.09)


def test_caption_lists_objects_in_reading_order_with_grid_positions() -> None:
    s = scene(BLUE_STAR, GREEN_CIRCLE, RED_CIRCLE)
    text = describe(s)
    assert (
        text
        == "a red circle at the top left , a green circle at the bottom , a blue star at the bottom right ."
    )
    assert (
        parse_caption(text)
        == caption_triples(s)
        == [
            ("red", "circle", "top left"),
            ("green", "circle", "bottom"),
            ("blue", "star", "bottom right"),
        ]
    )
    assert describe(scene()) == "nothing ."
    assert parse_caption("a red blob at the top , an orange star at the center .") == [
        ("orange", "star", "center")
    ]


def test_captions_and_questions_use_only_the_tokenizer_vocabulary() -> None:
    scenes = [s for _, s in world_scenes(40, seed=1)]
    items = vlm_eval_items(scenes, seed=2)
    texts = [q.question for _, q in items] + [q.answer for _, q in items] + list(POSITIONS)
    assert oov_words(texts) == []
    assert {q.kind for _, q in items} == {"describe", *VQA_KINDS}
    assert all(parse_caption(describe(s)) == caption_triples(s) for s in scenes)


def test_vqa_answers_are_the_truth() -> None:
    s = scene(RED_CIRCLE, BLUE_STAR, GREEN_CIRCLE)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        for kind in VQA_KINDS:
            item = vqa_item(s, kind, rng)
            if item is None:
                continue
            seen.add(kind)
            words = item.question.split()
            if kind == "count" and words[2] == "circles":
                assert item.answer == "2"
            if kind == "color":
                assert (words[4], item.answer) == ("star", "blue")  # the only shape that occurs once
            if kind == "exists" and words[3:5] == ["blue", "star"]:
                assert item.answer == "yes"
    assert seen == {"count", "color", "exists"}  # one unique shape: no relation question
    t = scene(SceneObject("star", "blue", 0.15, 0.5, 0.08), SceneObject("square", "red", 0.85, 0.5, 0.08))
    answers = {
        item.question: item.answer for _ in range(100) if (item := vqa_item(t, "relation", rng)) is not None
    }
    assert answers["is the star left of the square ?"] == "yes"
    assert answers["is the square left of the star ?"] == "no"


@pytest.mark.parametrize("kind", EDIT_KINDS)
def test_world_edits_give_triples_whose_truth_the_checker_sees(kind: str) -> None:
    edits = world_edits(12, seed=5, kinds=[kind], phrasings=True)
    assert all(e.op == kind for e in edits)
    assert oov_words([e.instruction for e in edits]) == []
    sources = [render_at(e.source, 32) for e in edits]
    truth = [
        edit_verdict(e, render_at(e.target, 32), source_image=s) for e, s in zip(edits, sources, strict=True)
    ]
    copy = [edit_verdict(e, s, source_image=s) for e, s in zip(edits, sources, strict=True)]
    assert np.mean([v["correct"] for v in truth]) >= 0.5  # the ceiling at 32 pixels (0.64-0.92 by kind)
    assert np.mean([v["execution"] for v in copy]) <= 0.1  # doing nothing (almost) never executes
    for e in edits:
        assert e.source != e.target
        assert set(e.kept) <= set(e.source.objects) and set(e.kept) <= set(e.target.objects)
        assert set(e.new) <= set(e.target.objects) and not set(e.gone) & set(e.target.objects)
        assert len(e.kept) + len(e.gone) == len(e.source.objects)


def test_world_data_is_a_function_of_the_seed() -> None:
    assert [describe(s) for _, s in world_scenes(8, 3)] == [describe(s) for _, s in world_scenes(8, 3)]
    assert [e.instruction for e in world_edits(8, 3)] == [e.instruction for e in world_edits(8, 3)]
    assert [e.instruction for e in world_edits(8, 3)] != [e.instruction for e in world_edits(8, 4)]


def test_difference_pairs_answer_with_the_significant_changes() -> None:
    from common.models.vocabulary import canonical_text
    from common.world.edits import diff_scenes, significant_changes_text

    pairs = difference_pairs(60, 5)
    assert [p.answer for p in pairs] == [p.answer for p in difference_pairs(60, 5)]
    for p in pairs:
        assert p.answer == canonical_text(significant_changes_text(p.source, p.result))
        assert len(difference_changes(p.answer)) == len(diff_scenes(p.source, p.result).significant)
    n_changes = [len(difference_changes(p.answer)) for p in pairs]
    assert 0 in n_changes and 1 in n_changes and max(n_changes) >= 3  # none, one and several changes
    assert oov_words([p.answer for p in pairs] + [pairs[0].qa().question]) == []
    assert difference_changes("the red circle turned blue ; the blue star was added") == [
        "the red circle turned blue",
        "the blue star was added",
    ]
    assert difference_changes("no clear change") == []


def test_difference_pairs_with_captions_describe_both_images_then_the_same_changes() -> None:
    plain = difference_pairs(40, 5, level="basic")
    worded = difference_pairs(40, 5, level="basic", captions=True)
    for p, w in zip(plain, worded, strict=True):
        assert (w.source, w.result) == (p.source, p.result)  # the same draws
        assert w.answer == f"first : {describe(p.source)} second : {describe(p.result)} changes : {p.answer}"
        assert changes_part(w.answer) == p.answer == changes_part(p.answer)
        assert difference_changes(w.answer) == difference_changes(p.answer)
    assert oov_words([w.answer for w in worded]) == []


def test_dense_cell_labels_mark_the_object_on_top() -> None:
    from common.models.pretrain.data import dense_cell_labels
    from common.world.scene import Scene, SceneObject
    from common.world.vocab import COLORS, SHAPES

    big = SceneObject(shape="square", color="red", x=0.25, y=0.25, radius=0.24, rotation=0.0)
    top = SceneObject(shape="circle", color="blue", x=0.25, y=0.25, radius=0.2, rotation=0.0)
    scene = Scene(objects=(big, top))
    shapes, colors = dense_cell_labels(scene, 4, 4)
    bg_shape, bg_color = len(SHAPES), len(COLORS)
    # the circle is drawn last and covers the cells around (0.25, 0.25): cells 0, 1, 4, 5
    assert [shapes[i] for i in (0, 1, 4, 5)] == [SHAPES.index("circle")] * 4
    assert [colors[i] for i in (0, 1, 4, 5)] == [list(COLORS).index("blue")] * 4
    assert (shapes[15], colors[15]) == (bg_shape, bg_color)  # the far corner is background
    with_square = dense_cell_labels(Scene(objects=(big,)), 4, 4)[0]
    assert with_square[0] == SHAPES.index("square")


def test_difference_scores_count_exact_answers_and_change_phrases() -> None:
    from common.models.pretrain.data import DifferencePair
    from common.models.pretrain.vlm import difference_scores

    a, b = SceneObject("circle", "red", 0.2, 0.2, 0.1), SceneObject("star", "blue", 0.8, 0.8, 0.1)
    src = scene(a, b)
    pairs = [
        DifferencePair(src, src, "the red circle turned blue ; the blue star was added"),
        DifferencePair(src, src, "no clear change"),
        DifferencePair(src, src, "no clear change"),
    ]
    said = ["the blue star was added ; the red circle turned blue", "no clear change", "the red circle moved"]
    out = difference_scores(said, pairs)
    assert out["difference_exact"] == pytest.approx(1 / 3)  # order matters for the exact answer
    assert out["difference_chance"] == pytest.approx(2 / 3)  # "no clear change" every time
    assert out["difference_recall"] == 1.0  # both true changes named
    assert out["difference_precision"] == pytest.approx(2 / 3)  # one invented
    assert out["difference_any_accuracy"] == pytest.approx(2 / 3)
    assert out["difference_recall_by_kind"] == {
        "added": {"recalled": 1, "true": 1},
        "recoloured": {"recalled": 1, "true": 1},
    }
    missed = difference_scores(["the red circle was removed ; the blue circle was added"], pairs[:1])
    assert missed["difference_recall_by_kind"]["recoloured"] == {"recalled": 0, "true": 1}
