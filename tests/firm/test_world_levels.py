"""FIRM's world data at each world level: curation items, the curation cache key, FIRM-Bench items."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.runtime import RunSettings
from common.world.levels import LEVELS
from firm.bench.items import load_bench_items
from firm.curation.edit import perturb_edit, rebalance, sample_edit_items
from firm.curation.gen import sample_gen_items
from firm.rm.data import curated_cache_dir

BASIC = set(LEVELS["basic"].shapes)


def test_edit_items_at_basic_stay_in_the_level() -> None:
    items = sample_edit_items(16, 3, level="basic")
    for it in items:
        assert it.truth is not None
        assert it.truth.source.background == "plain" and it.truth.result.background == "plain"
        assert {o.shape for o in it.truth.source.objects} <= BASIC
        assert all(o.rotation == 0.0 for o in it.truth.source.objects)
        assert {o.shape for o in it.truth.result.objects} <= BASIC
        if it.truth.edit.shape is not None:
            assert it.truth.edit.shape in BASIC
    rng = np.random.default_rng(0)
    shaped = [it for it in items if it.truth is not None and it.truth.edit.kind in ("add", "replace")]
    for it in shaped:
        assert it.truth is not None
        wrong = perturb_edit(it.truth.edit, it.truth.source, rng, level="basic")
        assert wrong is not None and wrong.shape in BASIC and wrong.shape != it.truth.edit.shape
    rebalanced = rebalance(items, 0.5, 3, strategies={"perturb": 1.0}, level="basic")
    assert any(it.mismatch for it in rebalanced)


def test_gen_items_at_basic_stay_in_the_level_and_full_is_the_default() -> None:
    for it in sample_gen_items(12, 4, level="basic"):
        assert {o["class"] for o in it.info["geneval"]["include"]} <= BASIC
    default = [it.prompt for it in sample_gen_items(6, 4)]
    assert default == [it.prompt for it in sample_gen_items(6, 4, level="full")]
    assert default != [it.prompt for it in sample_gen_items(6, 4, level="basic")]


def test_curation_cache_key_has_the_level_and_full_keeps_its_key(tmp_path: Path) -> None:
    cfg = RunSettings.from_config({"paths": {"cache_dir": str(tmp_path)}})
    before = curated_cache_dir(cfg, "edit", {"n_examples": 10}, 0)
    assert curated_cache_dir(cfg, "edit", {"n_examples": 10}, 0, level="full") == before
    basic = curated_cache_dir(cfg, "edit", {"n_examples": 10}, 0, level="basic")
    assert basic != before and basic.parent == before.parent


def test_bench_items_come_from_the_levels_benchmark(tmp_path: Path) -> None:
    items = load_bench_items(str(tmp_path), template="tiny", max_items=2, world_scale=0.02, level="basic")
    assert items and all(len(v) <= 2 for v in items.values())
    built = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert built and all(name.split("-")[1:3] == ["basic", "seed0"] for name in built)
