"""World difficulty levels: what each level draws, and that the full level draws as before."""

from __future__ import annotations

import numpy as np
import pytest

from common.world.captions import GRID, cell_of
from common.world.edits import make_example, sample_edit
from common.world.levels import LEVELS, WorldLevel, get_level
from common.world.prompts import enumerate_prompts, sample_prompts
from common.world.render import render_array
from common.world.sampling import MODES, sample_scene
from common.world.scene import Scene
from common.world.vocab import GENEVAL_TAGS, SIZES


def _scenes(level: str, n: int = 60, seed: int = 0) -> list[Scene]:
    rng = np.random.default_rng(seed)
    out = []
    for i, p in enumerate(sample_prompts(n, rng, level=level)):
        out.append(sample_scene(p, rng, mode=MODES[i % 3], level=level).scene)
    return out


def test_get_level_names_and_errors() -> None:
    assert get_level(None) is LEVELS["full"]
    assert get_level("basic") is LEVELS["basic"]
    assert get_level(LEVELS["basic"]) is LEVELS["basic"]
    with pytest.raises(ValueError, match=r"unknown world level 'hard'.*world\.level"):
        get_level("hard")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shapes", ("circle",), "at least two"),
        ("shapes", ("square", "circle"), "world's order"),
        ("sizes", ("huge",), "sizes"),
        ("counts", (1, 2), "counts"),
        ("distractors", (2, 1), "distractors"),
        ("background", "stripes", "background"),
        ("cell_jitter", 0.2, "cell_jitter"),
    ],
)
def test_bad_levels_raise(field: str, value: object, message: str) -> None:
    kwargs = {**LEVELS["basic"].__dict__, field: value}
    with pytest.raises(ValueError, match=message):
        WorldLevel(**kwargs)


def test_basic_level_draws_only_its_shapes_sizes_and_upright_objects() -> None:
    lv = LEVELS["basic"]
    radii = {name: SIZES[name] for name in lv.sizes}
    scenes = _scenes("basic")
    shapes_seen = set()
    for s in scenes:
        assert s.background == "plain"
        assert len(s.objects) <= 3 + lv.distractors[1] + 2  # counting partial draws up to n + 2
        for o in s.objects:
            shapes_seen.add(o.shape)
            assert o.shape in lv.shapes
            assert o.rotation == 0.0
            assert any(0.9 * r - 1e-9 <= o.radius <= 1.1 * r + 1e-9 for r in radii.values())
    assert shapes_seen == set(lv.shapes)


def test_basic_level_puts_one_centre_per_grid_cell_away_from_its_borders() -> None:
    """Position words are never boundary calls at the basic level; the full level places freely."""
    jitter = LEVELS["basic"].cell_jitter
    assert jitter is not None
    for s in _scenes("basic", n=90):
        cells = [cell_of(o.x, o.y) for o in s.objects]
        if len(s.objects) <= GRID * GRID:
            assert len(set(cells)) == len(cells), s.objects
        for o in s.objects:
            for v in (o.x, o.y):  # distance to the nearest inner grid line: 1/6 - jitter, or less where
                # a large object's centre is clamped inside the canvas margin (>= 0.115 of the side)
                assert min(abs(v - k / GRID) for k in range(1, GRID)) >= 0.1
    full = [o for s in _scenes("full", n=90) for o in s.objects]
    margins = [min(abs(v - k / GRID) for k in range(1, GRID)) for o in full for v in (o.x, o.y)]
    assert min(margins) < 0.02  # free placement: some centres sit on a grid line


def test_basic_prompts_use_level_shapes_and_counts() -> None:
    lv = LEVELS["basic"]
    for p in sample_prompts(120, np.random.default_rng(1), level="basic"):
        assert set(p.classes) <= set(lv.shapes)
        if p.tag == "counting":
            assert p.include[0].count in lv.counts
    assert len(enumerate_prompts("single_object", level="basic")) == len(lv.shapes)
    assert len(enumerate_prompts("counting", level="basic")) == len(lv.shapes) * len(lv.counts)


def test_plain_background_is_flat_and_textured_is_not() -> None:
    scene = _scenes("basic", n=1)[0]
    empty = scene.with_objects(())
    plain = render_array(empty).reshape(-1, 3)
    assert np.ptp(plain, axis=0).max() == 0
    textured = render_array(Scene(background_seed=scene.background_seed)).reshape(-1, 3)
    assert np.ptp(textured, axis=0).max() > 5


def test_full_level_is_the_default_draw_byte_for_byte() -> None:
    a = _scenes("full", n=30, seed=5)
    rng = np.random.default_rng(5)
    b = [
        sample_scene(p, rng, mode=MODES[i % 3]).scene
        for i, p in enumerate(sample_prompts(30, rng, GENEVAL_TAGS))
    ]
    assert [s.to_dict() for s in a] == [s.to_dict() for s in b]
    assert all("background" not in s.to_dict() for s in a)


def test_scene_background_round_trips_and_is_validated() -> None:
    scene = _scenes("basic", n=1)[0]
    assert Scene.from_dict(scene.to_dict()) == scene
    with pytest.raises(ValueError, match="background"):
        Scene(background="stripes")


def test_basic_edits_and_sloppy_results_stay_in_the_level() -> None:
    lv = LEVELS["basic"]
    rng = np.random.default_rng(3)
    kinds_seen = set()
    for s in _scenes("basic", n=40, seed=3):
        edit = sample_edit(s, rng, level="basic")
        kinds_seen.add(edit.kind)
        if edit.shape is not None:
            assert edit.shape in lv.shapes
        ex = make_example(s, edit, rng, execution="barely", consistency="significant", level="basic")
        assert ex.result.background == "plain"
        assert {o.shape for o in ex.result.objects} <= set(lv.shapes)
    assert len(kinds_seen) >= 4
