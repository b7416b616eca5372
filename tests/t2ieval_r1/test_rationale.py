"""Rationale facts: parsing hand-written texts, checking them against known scenes, the summary."""

from __future__ import annotations

import numpy as np
import pytest

from common.models.pretrain.data import world_scenes
from common.world.captions import POSITIONS, describe
from common.world.scene import Scene, SceneObject
from common.world.vocab import COLORS
from t2ieval_r1.evaluate.facts import parse_position, parse_rationale
from t2ieval_r1.evaluate.rationale import check_rationale, scene_from_meta, summarize_checks


def obj(shape: str, color: str, x: float, y: float, radius: float = 0.08) -> SceneObject:
    return SceneObject(shape=shape, color=color, x=x, y=y, radius=radius)


# red circle top left, blue square centre, green star bottom right, a second red circle top right
SCENE = Scene(
    objects=(
        obj("circle", "red", 0.15, 0.15),
        obj("square", "blue", 0.5, 0.5),
        obj("star", "green", 0.85, 0.85),
        obj("circle", "red", 0.85, 0.15),
    )
)
EMPTY = Scene(objects=())


def verdicts(text: str, scene: Scene = SCENE) -> list[tuple[str, bool]]:
    check = check_rationale(text, scene)
    return [(f.kind, t) for f, t in zip(check.facts, check.truth, strict=True)]


def test_caption_format_facts_are_read_and_checked() -> None:
    text = "a red circle at the top left , a blue square at the center , a green star at the bottom right ."
    check = check_rationale(text, SCENE)
    assert [f.kind for f in check.facts] == ["object"] * 3
    assert check.truth == [True, True, True]
    assert (check.n_unparseable, check.n_other) == (0, 0)
    assert check.n_scene_objects == 4 and check.n_objects_recalled == 3
    # wrong colour, wrong place, absent shape: three false facts
    check = check_rationale(
        "a blue circle at the top left , a blue square at the top , a cross at the center .", SCENE
    )
    assert check.truth == [False, False, False]
    assert check.n_objects_recalled == 0


def test_new_mentions_are_matched_one_to_one() -> None:
    # two red circles exist (top left, top right): two unplaced mentions are true, a third is not
    assert [t for _, t in verdicts("a red circle , a red circle , a red circle")] == [True, True, False]
    # both placed at the top left: only one object is there
    assert [t for _, t in verdicts("a red circle at the top left , a red circle at the top left")] == [
        True,
        False,
    ]
    # matching must not be greedy: the unplaced mention must leave the top-left circle to the placed one
    assert [t for _, t in verdicts("a red circle , a red circle at the top left")] == [True, True]
    # a definite mention only needs one to exist and uses no object
    assert [t for _, t in verdicts("the red circle , a red circle , a red circle")] == [True, True, True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("there are two red circles", [("count", True)]),
        ("three red circles", [("count", False)]),
        ("2 circles", [("count", True)]),
        ("one star", [("count", True)]),
        ("there is no cross", [("absence", True)]),
        ("no red circles", [("absence", False)]),
        ("the green hexagon is missing", [("absence", True)]),
        ("the blue square is missing", [("absence", False)]),
        ("the red circle is left of the blue square", [("relation", True)]),
        ("the blue square is left of the red circle", [("relation", True)]),  # the top-right circle
        ("the green star is above the blue square", [("relation", False)]),
        ("a green star below a blue square", [("relation", True)]),
        ("the star is green", [("object", True)]),
        ("the star is red", [("object", False)]),
        ("the image is empty", [("empty", False)]),
        ("some purple triangles", [("object", False)]),
    ],
)
def test_free_text_facts(text: str, expected: list[tuple[str, bool]]) -> None:
    assert verdicts(text) == expected


def test_free_text_positions_become_regions() -> None:
    assert parse_position("in", "top left", "corner") == frozenset({0})
    assert parse_position("on", "left", None) == frozenset({0, 3, 6})
    assert parse_position("at", "left", None) == frozenset({3})  # the caption's exact cell
    assert parse_position("at", "top", "of the image") == frozenset({0, 1, 2})
    assert parse_position("in", "center", None) == frozenset({4})
    assert parse_position("at", "top center", None) == frozenset({1})
    assert parse_position("at", "left right", None) is None
    text = (
        "The image shows a red circle in the upper-left corner; a blue square sits in the middle. "
        "A star is on the right side."
    )
    assert verdicts(text) == [("object", True), ("object", True), ("object", True)]
    assert verdicts("a green star on the left") == [("object", False)]


def test_unparseable_and_other_clauses_are_counted_not_guessed() -> None:
    parsed = parse_rationale("a red circle at the top left , a red")
    assert parsed.n_facts == 1 and parsed.unparseable == ["a red"] and parsed.other == []
    parsed = parse_rationale(
        "The image matches the prompt well. The prompt asks for a green star. Blue and red everywhere"
    )
    assert parsed.n_facts == 0
    assert parsed.other == ["the image matches the prompt well", "the prompt asks for a green star"]
    assert parsed.unparseable == ["blue", "red everywhere"]
    assert parse_rationale(None).n_facts == 0 and parse_rationale("   ").other == []


def test_empty_scene_caption() -> None:
    assert verdicts("nothing .", EMPTY) == [("empty", True)]
    assert verdicts("nothing .", SCENE) == [("empty", False)]
    assert check_rationale("nothing .", EMPTY).n_scene_objects == 0


def test_summary_numbers() -> None:
    checks = [
        check_rationale(
            "a red circle at the top left , a blue circle , a red", SCENE
        ),  # 1 true / 2, 1 unparseable
        check_rationale("two red circles , no star", SCENE),  # 1 true / 2
        check_rationale("the image looks fine", SCENE),  # no fact, 1 other
    ]
    s = summarize_checks(checks)
    assert (s["n_rationales"], s["n_with_facts"], s["n_facts"], s["n_true"]) == (3, 2, 4, 2)
    assert s["accuracy"] == pytest.approx(0.5)
    assert s["accuracy_macro"] == pytest.approx(0.5)
    assert s["facts_per_rationale"] == pytest.approx(4 / 3)
    assert s["unparseable_share"] == pytest.approx(1 / 5)
    assert s["n_other"] == 1
    assert s["object_recall"] == pytest.approx(1 / 12)  # 1 of 4 objects, three times
    assert s["per_kind"]["count"] == {"n": 1, "accuracy": 1.0}
    assert s["per_kind"]["absence"] == {"n": 1, "accuracy": 0.0}
    assert s["per_kind"]["relation"] == {"n": 0, "accuracy": None}
    assert summarize_checks([])["accuracy"] is None


def test_true_captions_of_world_scenes_are_all_true() -> None:
    """The tiny models' caption format, written from the scene, is read back with every fact true."""
    checks = []
    scenes = [scene for _, scene in world_scenes(150, seed=3)]
    for scene in scenes:
        check = check_rationale(describe(scene), scene)
        assert all(check.truth) and check.n_unparseable == 0, describe(scene)
        assert check.n_objects_recalled == len(scene.objects)
        checks.append(check)
    s = summarize_checks(checks)
    assert s["accuracy"] == 1.0 and s["object_recall"] == 1.0
    # one fact per object; an empty scene's caption "nothing ." is one fact too
    assert s["facts_per_rationale"] == pytest.approx(np.mean([len(sc.objects) or 1 for sc in scenes]))


def test_one_wrong_colour_makes_exactly_one_false_fact() -> None:
    rng = np.random.default_rng(0)
    n_tested = 0
    for _, scene in world_scenes(80, seed=5):
        if not scene.objects:
            continue
        caption = describe(scene)
        first = caption.split(" , ")[0].removesuffix(" .")
        words = first.split()
        taken = {o.color for o in scene.objects if o.shape == words[2]}
        other = [c for c in COLORS if c not in taken]
        new = other[int(rng.integers(len(other)))]
        article = "an" if new[0] in "aeiou" else "a"
        wrong = " ".join([article, new, *words[2:]])
        check = check_rationale(caption.replace(first, wrong, 1), scene)
        assert check.n_facts == len(scene.objects)
        assert check.n_true == len(scene.objects) - 1
        assert check.truth[0] is False
        n_tested += 1
    assert n_tested > 40


def test_scene_from_meta() -> None:
    meta = {"scene": SCENE.to_dict()}
    assert scene_from_meta(meta) == SCENE
    import json

    assert scene_from_meta({"scene": json.dumps(SCENE.to_dict())}) == SCENE
    assert scene_from_meta({"scene": "not json"}) is None
    assert scene_from_meta({}) is None and scene_from_meta(None) is None
    assert len(POSITIONS) == 9
