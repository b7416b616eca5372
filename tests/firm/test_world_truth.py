"""Ground truth the oracle answers with: the generation rubric table, plans, edit rebalancing."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from common.world.edits import EDIT_KINDS, Edit, execution_score
from common.world.geneval import GenEvalItem
from common.world.prompts import make_prompt
from common.world.scene import Scene, SceneObject
from firm.curation.edit import perturb_edit, rebalance, sample_edit_items
from firm.curation.gen import alignment_truth, plan_for_prompt, render_plan, sample_gen_items
from firm.curation.validate import validate_plan
from firm.prompts.gen import PLAN_GROUPS


def obj(shape: str, color: str = "red", x: float = 0.5, y: float = 0.5) -> SceneObject:
    return SceneObject(shape=shape, color=color, x=x, y=y, radius=0.08)


def scene(*objs: SceneObject) -> Scene:
    return Scene(objects=tuple(objs))


ROW = 0.5
TWO = make_prompt("two_object", [GenEvalItem("circle"), GenEvalItem("square")])
COUNT = make_prompt("counting", [GenEvalItem("star", 3)])
COLOR = make_prompt("colors", [GenEvalItem("circle", 1, "red")])
ATTR = make_prompt("color_attr", [GenEvalItem("circle", 1, "red"), GenEvalItem("square", 1, "blue")])
POS = make_prompt("position", [GenEvalItem("circle"), GenEvalItem("square", 1, None, ("left of", 0))])
SINGLE = make_prompt("single_object", [GenEvalItem("hexagon")])


def stars(n: int) -> list[SceneObject]:
    return [obj("star", x=0.12 + 0.19 * i, y=0.3) for i in range(n)]


CASES = [
    (SINGLE, scene(obj("hexagon")), 5),
    (SINGLE, scene(obj("cross")), 1),
    (TWO, scene(obj("circle", x=0.2), obj("square", x=0.8)), 5),
    (TWO, scene(obj("circle", x=0.2)), 3),
    (TWO, scene(obj("star")), 1),
    (COUNT, scene(*stars(3)), 5),
    (COUNT, scene(*stars(2)), 4),
    (COUNT, scene(*stars(4)), 4),
    (COUNT, scene(*stars(1)), 2),
    (COUNT, scene(*stars(5)), 3),
    (COLOR, scene(obj("circle", "red")), 5),
    (COLOR, scene(obj("circle", "blue")), 4),
    (ATTR, scene(obj("circle", "red", x=0.2), obj("square", "blue", x=0.8)), 5),
    (ATTR, scene(obj("circle", "green", x=0.2), obj("square", "blue", x=0.8)), 4),
    (ATTR, scene(obj("circle", "blue", x=0.2), obj("square", "red", x=0.8)), 3),
    (ATTR, scene(obj("circle", "red", x=0.2)), 3),
    (POS, scene(obj("square", x=0.2, y=ROW), obj("circle", x=0.8, y=ROW)), 5),
    (POS, scene(obj("square", x=0.8, y=ROW), obj("circle", x=0.2, y=ROW)), 3),
    (POS, scene(obj("circle", x=0.2, y=ROW)), 3),
]


@pytest.mark.parametrize(("prompt", "sc", "score"), CASES, ids=lambda v: getattr(v, "prompt", None))
def test_alignment_truth_follows_the_rubric_table(prompt: object, sc: Scene, score: int) -> None:
    assert alignment_truth(prompt, sc) == score  # type: ignore[arg-type]


def test_plan_groups_and_requirement_keys() -> None:
    plan = plan_for_prompt(COUNT)
    assert list(plan) == list(PLAN_GROUPS)  # counting has a negative constraint
    assert plan["Negative Constraints"] == [("Are there no more than three stars?", "exclude[0].count")]
    pos = plan_for_prompt(POS)
    assert list(pos) == list(PLAN_GROUPS[:3])
    assert pos["Style/Composition"] == [("Is the square left of the circle?", "include[1].position")]
    assert validate_plan(render_plan(plan_for_prompt(ATTR))).ok
    assert "- None" in render_plan(plan_for_prompt(SINGLE))


def test_world_gen_items_are_deterministic_and_span_the_scale() -> None:
    a = sample_gen_items(60, 3)
    b = sample_gen_items(60, 3)
    assert [x.prompt for x in a] == [x.prompt for x in b]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b, strict=True))
    scores = Counter(x.truth.score for x in a)  # type: ignore[union-attr]
    assert set(scores) == {1, 2, 3, 4, 5}
    assert {x.generator for x in a} == {"crisp", "soft", "grainy", "glitchy"}


@pytest.fixture(scope="module")
def edit_items() -> list:
    return sample_edit_items(40, 0)


def test_rebalance_rewrites_the_share_and_recomputes_execution(edit_items: list) -> None:
    before = [(it.instruction, it.truth.execution) for it in edit_items]
    rb = rebalance(edit_items, 0.25, 0)
    assert [(it.instruction, it.truth.execution) for it in edit_items] == before  # input untouched
    mism = [it for it in rb if it.mismatch]
    assert 8 <= len(mism) <= 10 and {it.mismatch for it in mism} <= {"swap", "perturb"}
    for it in mism:
        assert it.instruction != it.original_instruction
        assert it.truth.consistency is None
        edit = Edit.from_dict(it.info["mismatch_edit"])
        assert it.truth.execution == execution_score(edit, it.truth.source, it.truth.result, it.truth.diff)
    for it in rb:
        if not it.mismatch:
            assert it.instruction == it.original_instruction and it.truth.consistency is not None
    mean = lambda items: float(np.mean([it.truth.execution for it in items]))  # noqa: E731
    assert mean(rb) < mean(edit_items)
    assert not any(it.mismatch for it in rebalance(edit_items, 0.0, 0))
    swaps = rebalance(edit_items, 0.5, 1, strategies={"swap": 1.0})
    assert Counter(it.mismatch for it in swaps)["swap"] == 20


def test_perturb_keeps_the_operation_and_changes_the_request(edit_items: list) -> None:
    rng = np.random.default_rng(0)
    kinds = set()
    for it in edit_items:
        new = perturb_edit(it.truth.edit, it.truth.source, rng)
        if new is None:
            continue
        kinds.add(new.kind)
        assert new.kind == it.truth.edit.kind and new != it.truth.edit
    assert len(kinds) >= 4 and kinds <= set(EDIT_KINDS)
