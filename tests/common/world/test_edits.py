"""Edits: FIRM execution / consistency rubric levels on hand-built cases, diff, reports, sampling."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from common.models.vocabulary import oov_words
from common.world.edits import (
    CONSISTENCY_VARIANTS,
    EDIT_KINDS,
    EXECUTION_VARIANTS,
    Edit,
    EditError,
    Ref,
    apply_edit,
    consistency_from_counts,
    consistency_score,
    diff_scenes,
    difference_report,
    execution_score,
    instruction_text,
    make_example,
    sample_edit,
    significant_changes_text,
)
from common.world.scene import Scene, SceneObject

CIRCLE = SceneObject("circle", "red", 0.2, 0.2, 0.1)
SQUARE = SceneObject("square", "blue", 0.75, 0.25, 0.1)
TRIANGLE = SceneObject("triangle", "green", 0.25, 0.75, 0.1)
STAR = SceneObject("star", "yellow", 0.75, 0.75, 0.09)
BASE = Scene(objects=(CIRCLE, SQUARE, TRIANGLE, STAR), background_seed=7)


def with_circle(obj: SceneObject | None) -> Scene:
    """BASE with the red circle replaced by ``obj`` (or removed)."""
    objs = [obj, SQUARE, TRIANGLE, STAR] if obj is not None else [SQUARE, TRIANGLE, STAR]
    return BASE.with_objects(objs)


def with_objects(*objs: SceneObject, seed: int = 7) -> Scene:
    return Scene(objects=objs, background_seed=seed)


# ----------------------------------------------------------------------------- execution levels

RECOLOUR = Edit("recolour", target=Ref("circle", "red"), color="blue")
MOVE = Edit("move", target=Ref("circle"), region="center")
BIGGER = Edit("resize", target=Ref("circle", "red"), factor=1.5)
REPLACE = Edit("replace", target=Ref("circle"), shape="star", color="blue")
REMOVE = Edit("remove", target=Ref("circle", "red"))
ADD = Edit("add", shape="hexagon", color="red", relation="right of", anchor=Ref("triangle", "green"))
HEX = SceneObject("hexagon", "red", 0.5, 0.75, 0.1)


@pytest.mark.parametrize(
    ("edit", "result", "level"),
    [
        # recolour: exact 5, neighbouring colour 3, another colour 2, unchanged 1
        (RECOLOUR, with_circle(CIRCLE.recoloured("blue")), 5),
        (RECOLOUR, with_circle(CIRCLE.recoloured("purple")), 3),
        (RECOLOUR, with_circle(CIRCLE.recoloured("yellow")), 2),
        (RECOLOUR, BASE, 1),
        (RECOLOUR, with_circle(None), 1),
        # move to the center: inside 5, within 0.06 4, half way 3, moved elsewhere 2, still 1
        (MOVE, with_circle(CIRCLE.moved(0.5, 0.5)), 5),
        (MOVE, with_circle(CIRCLE.moved(0.3, 0.3)), 4),
        (MOVE, with_circle(CIRCLE.moved(0.27, 0.28)), 3),
        (MOVE, with_circle(CIRCLE.moved(0.25, 0.25)), 2),
        (MOVE, with_circle(CIRCLE.moved(0.12, 0.12)), 2),
        (MOVE, BASE, 1),
        # resize 1.5x: done 5, less than asked 4, a little 3, the wrong way 2, nothing 1, far too much 4
        (BIGGER, with_circle(replace(CIRCLE, radius=0.15)), 5),
        (BIGGER, with_circle(replace(CIRCLE, radius=0.12)), 4),
        (BIGGER, with_circle(replace(CIRCLE, radius=0.107)), 3),
        (BIGGER, with_circle(replace(CIRCLE, radius=0.08)), 2),
        (BIGGER, with_circle(replace(CIRCLE, radius=0.103)), 1),
        (BIGGER, with_circle(replace(CIRCLE, radius=0.25)), 4),
        # replace with a blue star: exact 5, near colour 4, other colour 3, wrong shape 2, nothing 1
        (REPLACE, with_circle(replace(CIRCLE, shape="star", color="blue")), 5),
        (REPLACE, with_circle(replace(CIRCLE, shape="star", color="purple")), 4),
        (REPLACE, with_circle(replace(CIRCLE, shape="star", color="yellow")), 3),
        (REPLACE, with_circle(replace(CIRCLE, shape="hexagon", color="blue")), 2),
        (REPLACE, with_circle(CIRCLE.recoloured("blue")), 2),
        (REPLACE, with_circle(replace(CIRCLE, shape="star", color="blue", x=0.45, y=0.45)), 4),
        (REPLACE, BASE, 1),
        # remove: gone 5, shrunk instead 2, untouched 1
        (REMOVE, with_circle(None), 5),
        (REMOVE, with_circle(replace(CIRCLE, radius=0.06)), 2),
        (REMOVE, BASE, 1),
        # add a red hexagon right of the triangle
        (ADD, with_objects(*BASE.objects, HEX), 5),
        (ADD, with_objects(*BASE.objects, HEX.recoloured("orange")), 4),
        (ADD, with_objects(*BASE.objects, HEX.recoloured("blue")), 3),
        (ADD, with_objects(*BASE.objects, HEX.moved(0.3, 0.45)), 3),
        (ADD, with_objects(*BASE.objects, HEX.moved(0.3, 0.45).recoloured("blue")), 2),
        (ADD, with_objects(*BASE.objects, replace(HEX, shape="square")), 2),
        (ADD, with_objects(*BASE.objects, replace(HEX, shape="square", color="blue")), 1),
        (ADD, BASE, 1),
    ],
)
def test_execution_levels(edit: Edit, result: Scene, level: int) -> None:
    assert execution_score(edit, BASE, result) == level


def test_add_size_detail_is_subtle() -> None:
    edit = replace(ADD, size="large")
    big = replace(HEX, radius=0.18, x=0.55)
    assert execution_score(edit, BASE, with_objects(*BASE.objects, big)) == 5
    assert execution_score(edit, BASE, with_objects(*BASE.objects, HEX)) == 4


def test_several_targets_combine() -> None:
    circles = [SceneObject("circle", "red", x, 0.5, 0.08) for x in (0.2, 0.5, 0.8)]
    src = with_objects(*circles)
    edit = Edit("recolour", target=Ref("circle", None, True), color="green")
    green = [c.recoloured("green") for c in circles]
    assert execution_score(edit, src, with_objects(*green)) == 5
    assert execution_score(edit, src, with_objects(green[0], green[1], circles[2])) == 3  # 2 of 3
    assert execution_score(edit, src, with_objects(green[0], circles[1], circles[2])) == 2  # 1 of 3
    assert execution_score(edit, src, src) == 1
    assert instruction_text(edit) == "change the colour of all the circles to green"


# ----------------------------------------------------------------------------- consistency levels

PERFECT = with_circle(CIRCLE.recoloured("blue"))


def recoloured_and(
    *changes: tuple[int, SceneObject | None], extra: tuple[SceneObject, ...] = (), seed: int = 7
) -> Scene:
    objs: list[SceneObject | None] = list(PERFECT.objects)
    for i, obj in changes:
        objs[i] = obj
    return with_objects(*[o for o in objs if o is not None], *extra, seed=seed)


@pytest.mark.parametrize(
    ("result", "level"),
    [
        (PERFECT, 5),
        (recoloured_and((3, STAR.recoloured("red"))), 4),  # one significant
        (recoloured_and((1, SQUARE.moved(0.75, 0.3))), 4),  # one minor (small move)
        (recoloured_and((1, SQUARE.moved(0.75, 0.3)), seed=8), 4),  # two minor (+ background)
        (recoloured_and((3, STAR.recoloured("red")), (1, SQUARE.moved(0.75, 0.3))), 4),  # 1 sig + 1 minor
        (recoloured_and((3, STAR.recoloured("red")), (2, None)), 3),  # two significant
        (
            recoloured_and(
                (1, SQUARE.moved(0.75, 0.3)),
                (2, replace(TRIANGLE, radius=0.115)),
                (3, replace(STAR, rotation=30.0)),
            ),
            3,
        ),  # three minor
        (
            recoloured_and(
                (1, replace(SQUARE, color="red", x=0.7, y=0.45, radius=0.13)),
                (2, TRIANGLE.recoloured("pink")),
            ),
            2,
        ),  # four significant on two of three other objects
        (
            recoloured_and(
                (1, SQUARE.moved(0.75, 0.3)),
                (2, replace(TRIANGLE, radius=0.115)),
                (3, replace(STAR, rotation=30.0, x=0.71)),
                seed=9,
            ),
            2,
        ),  # five minor
        (
            recoloured_and(
                (1, None), (2, None), (3, None), extra=(SceneObject("cross", "white", 0.7, 0.7, 0.1),), seed=9
            ),
            1,
        ),  # everything else gone, something new: almost entirely different
    ],
)
def test_consistency_levels(result: Scene, level: int) -> None:
    assert consistency_score(RECOLOUR, BASE, result) == level


def test_instructed_changes_are_not_counted() -> None:
    # the requested attribute, even wrongly executed, is execution's business
    assert consistency_score(RECOLOUR, BASE, with_circle(CIRCLE.recoloured("yellow"))) == 5
    # but an unrequested change of the target counts
    assert consistency_score(RECOLOUR, BASE, with_circle(replace(CIRCLE, color="blue", radius=0.16))) == 4
    # every attribute of an explicitly replaced entity is exempt
    star = replace(CIRCLE, shape="star", color="blue", radius=0.13, x=0.24)
    assert consistency_score(REPLACE, BASE, with_circle(star)) == 5
    # the added object is exempt, a second one is not
    assert consistency_score(ADD, BASE, with_objects(*BASE.objects, HEX)) == 5
    cross = SceneObject("cross", "pink", 0.5, 0.45, 0.08)
    assert consistency_score(ADD, BASE, with_objects(*BASE.objects, HEX, cross)) == 4


def test_wrong_target() -> None:
    result = BASE.with_objects([CIRCLE, SQUARE, TRIANGLE.recoloured("blue"), STAR])
    assert execution_score(RECOLOUR, BASE, result) == 1
    assert consistency_score(RECOLOUR, BASE, result) == 4


def test_consistency_from_counts_table() -> None:
    table = {
        (0, 0): 5,
        (1, 0): 4,
        (0, 2): 4,
        (1, 2): 4,
        (2, 0): 3,
        (3, 4): 3,
        (0, 3): 3,
        (4, 0): 2,
        (0, 5): 2,
    }
    for (s, m), level in table.items():
        assert consistency_from_counts(s, m) == level
    assert consistency_from_counts(4, 0, affected_share=0.8, background_changed=True) == 1
    assert consistency_from_counts(4, 0, affected_share=0.8) == 2  # same background: a busy edit
    assert consistency_from_counts(3, 0, affected_share=1.0, background_changed=True) == 3


# ----------------------------------------------------------------------------- diff and report


def test_diff_pairing_and_thresholds() -> None:
    far = with_circle(CIRCLE.moved(0.85, 0.5))  # a pure move stays one object however far
    (ch,) = diff_scenes(BASE, far).changes
    assert (ch.kind, ch.significant) == ("moved", True)
    inplace = with_circle(replace(CIRCLE, shape="square", color="pink"))
    assert {c.kind for c in diff_scenes(BASE, inplace).changes} == {"reshaped", "recoloured"}
    jumped = with_circle(replace(CIRCLE, color="pink", x=0.5, y=0.6))  # recoloured and moved 0.5
    assert sorted(c.kind for c in diff_scenes(BASE, jumped).changes) == ["added", "removed"]
    tiny = with_circle(replace(CIRCLE, x=0.21, radius=0.104, rotation=3.0))
    assert diff_scenes(BASE, tiny).changes == ()
    minor = diff_scenes(BASE, with_circle(replace(CIRCLE, x=0.25, radius=0.11)))
    assert sorted((c.kind, c.significant) for c in minor.changes) == [("moved", False), ("resized", False)]


def test_difference_report_words_and_content() -> None:
    result = recoloured_and((3, None), (1, SQUARE.moved(0.75, 0.3)), seed=8)
    rep = difference_report(BASE, result)
    assert "the red circle is now blue" in rep["details"]
    assert "is removed" in rep["details"] and "moved slightly" in rep["details"]
    assert "background changed slightly" in rep["details"]
    assert "edited image : a small blue circle at the top left" in rep["obvious"]
    assert rep["report"].startswith("obvious changes :")
    assert oov_words(list(rep.values())) == []
    same = difference_report(BASE, BASE)
    assert "no obvious change" in same["obvious"] and "number : no change" in same["details"]


def test_significant_changes_text_lists_only_significant_changes() -> None:
    result = recoloured_and((3, None), (1, SQUARE.moved(0.75, 0.3)), seed=8)
    text = significant_changes_text(BASE, result)
    assert text == "the red circle turned blue; the yellow star was removed"  # the small move is minor
    assert significant_changes_text(BASE, BASE) == "no clear change"
    assert oov_words(text) == []


def test_significant_changes_follow_reading_order_not_object_indices() -> None:
    """Objects listed bottom-right first: the changes still read top left -> bottom right, source
    objects before added ones, and an object's own changes in the diff's order."""
    source = Scene(objects=(STAR, TRIANGLE, SQUARE, CIRCLE), background_seed=7)
    result = source.with_objects(
        [
            replace(STAR, color="blue"),
            replace(TRIANGLE, shape="square", color="red"),
            CIRCLE,
            SceneObject("cross", "white", 0.5, 0.5, 0.1),
            SceneObject("circle", "black", 0.2, 0.5, 0.1),
        ]
    )
    assert significant_changes_text(source, result).split("; ") == [
        "the blue square was removed",
        "the green triangle became a square",
        "the green triangle turned red",
        "the yellow star turned blue",
        "the black circle was added",
        "the white cross was added",
    ]


# ----------------------------------------------------------------------------- apply and sampling


def test_apply_edit_examples() -> None:
    moved = apply_edit(BASE, MOVE)
    assert execution_score(MOVE, BASE, moved) == 5 and consistency_score(MOVE, BASE, moved) == 5
    added = apply_edit(BASE, ADD)
    assert len(added.objects) == 5 and execution_score(ADD, BASE, added) == 5
    with pytest.raises(EditError):
        apply_edit(BASE, Edit("remove", target=Ref("cross")))
    edit = Edit.from_json(ADD.to_json())
    assert edit == ADD


def _source(rng: np.random.Generator) -> Scene:
    from common.world.prompts import sample_prompts
    from common.world.sampling import sample_scene

    return sample_scene(sample_prompts(1, rng)[0], rng, distractors=(1, 3)).scene


def test_sampled_edits_perfect_none_and_vocabulary() -> None:
    rng = np.random.default_rng(3)
    kinds_seen: set[str] = set()
    texts: list[str] = []
    for _ in range(60):
        src = _source(rng)
        edit = sample_edit(src, rng)
        kinds_seen.add(edit.kind)
        perfect = make_example(src, edit, rng)
        assert (perfect.execution, perfect.consistency) == (5, 5), edit
        nothing = make_example(src, edit, rng, execution="none")
        assert (nothing.execution, nothing.consistency) == (1, 5)
        for o in perfect.result.objects:
            assert o.radius <= o.x <= 1 - o.radius and o.radius <= o.y <= 1 - o.radius
        texts += [instruction_text(edit, s) for s in range(3)]
        texts.append(perfect.report()["report"])
    assert kinds_seen == set(EDIT_KINDS)
    assert oov_words(texts) == []


def test_sloppy_variants_reach_every_level_and_reproduce() -> None:
    rng = np.random.default_rng(5)
    ex_levels: set[int] = set()
    co_levels: set[int] = set()
    for i in range(80):
        src = _source(rng)
        edit = sample_edit(src, rng)
        ev = EXECUTION_VARIANTS[i % len(EXECUTION_VARIANTS)]
        cv = CONSISTENCY_VARIANTS[(i // 2) % len(CONSISTENCY_VARIANTS)]
        a = make_example(src, edit, np.random.default_rng(i), execution=ev, consistency=cv)
        b = make_example(src, edit, np.random.default_rng(i), execution=ev, consistency=cv)
        assert a.result == b.result and a.instruction == b.instruction
        ex_levels.add(a.execution)
        co_levels.add(a.consistency)
    assert ex_levels == {1, 2, 3, 4, 5}
    assert co_levels == {1, 2, 3, 4, 5}


def test_change_kind_reads_back_the_kind_of_every_change_phrase() -> None:
    """Every kind :func:`change_text` words is read back from its phrase (the per-kind recall of
    the VLMs' "what changed" answers relies on it), over the sloppy edits of 300 pretraining pairs."""
    from common.models.pretrain.data import difference_pairs
    from common.world.edits import CHANGE_KINDS, change_kind, change_text, diff_scenes

    seen: set[str] = set()
    for pair in difference_pairs(300, seed=0):
        for c in diff_scenes(pair.source, pair.result).changes:
            assert c.kind in CHANGE_KINDS
            assert change_kind(change_text(c, pair.source)) == c.kind, change_text(c, pair.source)
            seen.add(c.kind)
    assert seen == set(CHANGE_KINDS)  # every kind, rotated and background included
    assert change_kind("the red circle") is None and change_kind("no clear change") is None
