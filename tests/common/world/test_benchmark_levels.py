"""World benchmarks at each world level: full builds what was built before levels, basic stays in
its level, the two live in different directories and the cards name the level."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest

from common.world.benchmarks import (
    BENCHMARKS,
    build_benchmark,
    load_world_dataset,
    prompt_pools,
    prompt_side,
    read_manifest,
    world_dataset_path,
)
from common.world.checker_confusion import checker_records
from common.world.geneval import GenEvalPrompt
from common.world.levels import LEVELS

FULL_DIGESTS = {
    "t2i_eval": "e50c7aba9c20604d",
    "pairwise": "5ffd535dbe9fc966",
    "imagereward": "7d4c676adc9fa227",
    "tifa": "d4a94c17addb216e",
    "firm_bench_edit": "1163daa9c500def1",
    "firm_bench_gen": "3c0e92920c95171a",
    "prompts_gen": "fd43788f71f0b7bc",
    "prompts_edit": "222f05d6dbce00aa",
}
"""Content digests (:func:`content_digest`) of seed-3, scale-0.02 builds made before world levels
existed: a full-level build must reproduce them."""

SCENE_COLUMNS = ("scene", "source_scene", "edited_scene", "target_scene")
UPRIGHT_COLUMNS = ("scene", "source_scene", "target_scene")
"""Scenes drawn at the level (generated, sources, perfect edits); an edited scene may hold a
sloppy editor's unintended rotation of a source object, which its consistency score judges."""


def content_digest(data: datasets.DatasetDict) -> str:
    """SHA-256 (16 hex digits) over every row of every split, images as their PNG bytes."""
    h = hashlib.sha256()
    for split, d in data.items():
        h.update(split.encode())
        for col, feat in d.features.items():
            if isinstance(feat, datasets.Image):
                d = d.cast_column(col, datasets.Image(decode=False))

        def raw(value: Any) -> str:
            return value.hex() if isinstance(value, bytes) else str(value)

        for row in d:
            h.update(json.dumps(row, sort_keys=True, default=raw).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_full_level_builds_the_bytes_from_before_levels(name: str) -> None:
    full = build_benchmark(name, seed=3, scale=0.02, level="full").data
    assert content_digest(full) == FULL_DIGESTS[name]
    assert content_digest(build_benchmark(name, seed=3, scale=0.02).data) == FULL_DIGESTS[name]  # default


@pytest.fixture(scope="module")
def basic() -> dict[str, datasets.DatasetDict]:
    return {name: build_benchmark(name, scale=0.04, seed=1, level="basic").data for name in BENCHMARKS}


def _prompt_classes(metadata: str) -> set[str]:
    return set(GenEvalPrompt.from_json(metadata).classes)


def test_every_benchmark_builds_at_basic_within_the_level(basic: dict[str, datasets.DatasetDict]) -> None:
    lv = LEVELS["basic"]
    for name, bench in BENCHMARKS.items():
        data = basic[name]
        assert list(data) == list(bench.sizes), name
        for split, d in data.items():
            assert len(d) == bench.resolve_sizes(scale=0.04)[split], (name, split)
            if "metadata" in d.column_names:
                for meta in d["metadata"]:
                    assert _prompt_classes(meta) <= set(lv.shapes), (name, meta)
            for col in SCENE_COLUMNS:
                if col not in d.column_names:
                    continue
                for text in d[col]:
                    scene = json.loads(text)
                    assert scene["background"] == "plain", (name, col)
                    assert {o["shape"] for o in scene["objects"]} <= set(lv.shapes), (name, col)
                    if col in UPRIGHT_COLUMNS:
                        assert all(o["rotation"] == 0.0 for o in scene["objects"]), (name, col)
    prompts = basic["prompts_gen"]
    assert {prompt_side(p, "basic") for p in prompts["eval"]["prompt"]} == {"heldout"}
    assert {prompt_side(p, "basic") for p in prompts["train"]["prompt"]} == {"train"}


def test_basic_images_have_a_flat_background(basic: dict[str, datasets.DatasetDict]) -> None:
    rows = basic["prompts_edit"]["train"]
    for row in rows.select(range(3)):
        pixels = np.asarray(row["source_image"]).reshape(-1, 3)
        colours, counts = np.unique(pixels, axis=0, return_counts=True)
        assert counts.max() / len(pixels) > 0.5  # one flat grey holds most of the canvas
        assert len(colours) < 200  # objects and their anti-aliased edges only, no texture or grain


def test_basic_prompt_pools_hold_only_basic_prompts() -> None:
    full, basic = prompt_pools(), prompt_pools("basic")
    assert full is prompt_pools("full")
    for side in ("train", "heldout"):
        for tag, ps in basic[side].items():
            assert ps, (side, tag)
            assert all(set(p.classes) <= set(LEVELS["basic"].shapes) for p in ps)
    n_full = sum(len(ps) for ps in full["train"].values())
    assert sum(len(ps) for ps in basic["train"].values()) < n_full


def test_levels_live_in_their_own_directories_and_cards(tmp_path: Path) -> None:
    assert world_dataset_path(tmp_path, "tifa", seed=2) == tmp_path / "tifa-seed2"
    assert world_dataset_path(tmp_path, "tifa", seed=2, level="full") == tmp_path / "tifa-seed2"
    assert world_dataset_path(tmp_path, "tifa", seed=2, level="basic") == tmp_path / "tifa-basic-seed2"
    small = world_dataset_path(tmp_path, "tifa", seed=2, sizes={"test": 6}, level="basic")
    full_path = world_dataset_path(tmp_path, "tifa", seed=2, sizes={"test": 6})
    assert small.name == full_path.name.replace("tifa-seed2-", "tifa-basic-seed2-")  # same size hash

    b = load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 6}, level="basic")
    f = load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 6}, level="full")
    assert b["test"]["scene"] != f["test"]["scene"]
    assert read_manifest(small)["level"] == "basic" and read_manifest(full_path)["level"] == "full"
    card = (small / "README.md").read_text()
    assert "world level `basic`" in card and "World level: `basic`" in card and "plain background" in card
    assert "World level: `full`" in (full_path / "README.md").read_text()


def test_a_manifest_from_before_levels_is_a_full_build(tmp_path: Path) -> None:
    load_world_dataset(tmp_path, "prompts_gen", seed=0, sizes={"train": 4, "eval": 2})
    path = world_dataset_path(tmp_path, "prompts_gen", seed=0, sizes={"train": 4, "eval": 2})
    manifest = read_manifest(path)
    del manifest["level"]
    (path / "build.json").write_text(json.dumps(manifest))
    stamp = (path / "build.json").stat().st_mtime_ns
    load_world_dataset(tmp_path, "prompts_gen", seed=0, sizes={"train": 4, "eval": 2}, build=False)
    assert (path / "build.json").stat().st_mtime_ns == stamp  # kept, not rebuilt
    with pytest.raises(FileNotFoundError, match="world=basic"):
        load_world_dataset(
            tmp_path, "prompts_gen", seed=0, sizes=manifest["sizes"], level="basic", build=False
        )


def test_checker_records_at_basic_read_the_level() -> None:
    records = checker_records(6, 0, modes=("match",), level="basic")
    assert len(records) == 6
    others = set(LEVELS["full"].shapes) - set(LEVELS["basic"].shapes)
    assert not any(s in r["prompt"] for r in records for s in others)  # plural words contain the name
    assert sum(r["pred_correct"] == r["truth_correct"] for r in records) >= 4
