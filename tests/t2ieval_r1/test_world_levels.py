"""T2I-Eval-R1's world corpora at each world level: quick corpora, load_corpus, the benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from common.world.levels import LEVELS
from t2ieval_r1.data import corpus_at_level, load_corpus, quick_singlewise
from t2ieval_r1.data.world_benchmarks import load_world_benchmark

BASIC = set(LEVELS["basic"].shapes)


def _meta_shapes(ds: object) -> set[str]:
    metas = [m if isinstance(m, dict) else json.loads(m) for m in ds["meta"]]  # type: ignore[index]
    return {o["shape"] for m in metas for o in m["scene"]["objects"]}


def test_quick_corpora_at_basic_use_the_levels_scenes() -> None:
    basic = quick_singlewise(8, seed=1, level="basic")
    assert _meta_shapes(basic) <= BASIC
    metas = [m if isinstance(m, dict) else json.loads(m) for m in basic["meta"]]
    assert all(m["scene"]["background"] == "plain" for m in metas)
    assert quick_singlewise(8, seed=1)["prompt"] == quick_singlewise(8, seed=1, level="full")["prompt"]


def test_load_corpus_fills_in_the_level_of_world_sources_only() -> None:
    spec = {"source": "world_quick", "kind": "single", "n": 6, "seed": 2}
    assert corpus_at_level(spec, "basic") == {**spec, "level": "basic"}
    assert corpus_at_level(spec, "full") == spec  # full stays implicit: specs and keys as before
    assert corpus_at_level({**spec, "level": "full"}, "basic")["level"] == "full"  # the spec's own wins
    other = {"source": "hf_disk", "path": "x"}
    assert corpus_at_level(other, "basic") == other
    at_basic = load_corpus(spec, level="basic")
    assert at_basic["prompt"] == quick_singlewise(6, seed=2, level="basic")["prompt"]
    assert _meta_shapes(at_basic) <= BASIC


def test_world_benchmark_corpus_at_basic(tmp_path: Path) -> None:
    ds = load_world_benchmark("tifa", "test", root=str(tmp_path), sizes={"test": 5}, level="basic")
    assert len(ds) == 5
    (built,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert built.name.startswith("tifa-basic-seed0-")
    scenes = [json.loads(m)["scene"] for m in ds["meta"]]
    assert all(s["background"] == "plain" and {o["shape"] for o in s["objects"]} <= BASIC for s in scenes)
