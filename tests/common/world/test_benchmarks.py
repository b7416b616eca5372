"""World benchmarks: schemas and scales, prompt split, bit-identical rebuilds, cache, the build command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

from common.world.benchmarks import (
    BENCHMARKS,
    arrow_fingerprint,
    build_benchmark,
    load_world_dataset,
    prompt_pools,
    prompt_side,
    read_manifest,
    save_benchmark,
    world_dataset_path,
)
from common.world.benchmarks.truth import generation_level, t2i_eval_truth
from common.world.geneval import GenEvalItem
from common.world.prompts import make_prompt
from common.world.scene import Scene, SceneObject

ROOT = Path(__file__).resolve().parents[3]
TINY = 0.04  # share of the default sizes the schema tests build


@pytest.fixture(scope="module")
def tiny() -> dict[str, datasets.DatasetDict]:
    return {name: build_benchmark(name, scale=TINY, seed=1).data for name in BENCHMARKS}


def test_every_benchmark_matches_its_documented_schema(tiny: dict[str, datasets.DatasetDict]) -> None:
    for name, bench in BENCHMARKS.items():
        data = tiny[name]
        assert list(data) == list(bench.sizes), name
        for split, d in data.items():
            assert len(d) == bench.resolve_sizes(scale=TINY)[split], (name, split)
            missing = [c for c in d.column_names if c not in bench.columns]
            assert not missing, f"{name}: undocumented columns {missing}"
            for col, feat in d.features.items():
                if isinstance(feat, datasets.Image):
                    im = d[0][col]
                    assert im.size == (128, 128) and im.mode == "RGB"


def test_scales_and_labels(tiny: dict[str, datasets.DatasetDict]) -> None:
    t2i = tiny["t2i_eval"]["test"]
    for aspect in ("appearance", "intrinsic", "relationship", "overall"):
        r = np.array(t2i[f"{aspect}_ratings"])
        assert r.shape[1] == 3 and r.min() >= 0 and r.max() <= 10 and np.all(r == np.round(r))
        assert np.allclose(np.array(t2i[aspect]), r.mean(axis=1), atol=1e-4)
    tifa = tiny["tifa"]["test"]
    h = np.array(tifa["human_scores"])
    assert h.shape[1] == 2 and h.min() >= 1 and h.max() <= 5
    for name, splits in (("firm_bench_edit", ("execution", "consistency")), ("firm_bench_gen", ("test",))):
        for split in splits:
            d = tiny[name][split]
            assert set(d["score"]) <= {1, 2, 3, 4, 5} and set(d["truth"]) <= {1, 2, 3, 4, 5}
            assert all(len(h) == 3 for h in d["human_scores"])
    edit = tiny["firm_bench_edit"]["execution"]
    assert list(edit["truth"]) == list(edit["execution_truth"])
    assert set(tiny["firm_bench_gen"]["test"]["difficulty"]) == {"easy", "hard"}
    pw = tiny["pairwise"]["train"]
    assert "tie" not in pw["preference"]
    ir = tiny["imagereward"]["test"]
    for row in ir.select_columns(["preference", "label", "score_a", "score_b"]):
        assert row["label"] == {"a": 0, "b": 1, "tie": 2}[row["preference"]]
        if row["preference"] != "tie":
            assert (row["score_a"] > row["score_b"]) == (row["preference"] == "a")


def test_prompt_split_is_disjoint(tiny: dict[str, datasets.DatasetDict]) -> None:
    pools = prompt_pools()
    train = {p.prompt for ps in pools["train"].values() for p in ps}
    held = {p.prompt for ps in pools["heldout"].values() for p in ps}
    assert train and held and not train & held
    assert all(pools["heldout"][t] for t in pools["heldout"])
    t2i = tiny["t2i_eval"]
    assert {prompt_side(p) for p in t2i["train"]["prompt"]} == {"train"}
    assert {prompt_side(p) for p in t2i["test"]["prompt"]} == {"heldout"}
    assert {prompt_side(p) for p in tiny["tifa"]["test"]["text"]} == {"heldout"}
    assert {prompt_side(p) for p in tiny["prompts_gen"]["eval"]["prompt"]} == {"heldout"}
    assert len(set(tiny["prompts_gen"]["eval"]["prompt"])) == len(tiny["prompts_gen"]["eval"])


def _files(path: Path) -> dict[str, bytes]:
    return {str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()}


@pytest.mark.parametrize("name", ["t2i_eval", "firm_bench_edit", "imagereward"])
def test_rebuild_is_bit_identical(name: str, tmp_path: Path) -> None:
    a = save_benchmark(name, tmp_path / "a", seed=5, scale=0.03)
    b = save_benchmark(name, tmp_path / "b", seed=5, scale=0.03)
    assert a["fingerprints"] == b["fingerprints"]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")  # data, card and manifest alike
    c = save_benchmark(name, tmp_path / "c", seed=6, scale=0.03)
    assert c["fingerprints"] != a["fingerprints"]
    first = next(iter(a["fingerprints"]))
    assert arrow_fingerprint(tmp_path / "a" / first) == a["fingerprints"][first]


def test_card_and_cache(tmp_path: Path) -> None:
    assert world_dataset_path(tmp_path, "tifa", seed=2) == tmp_path / "tifa-seed2"  # default sizes
    path = world_dataset_path(tmp_path, "tifa", seed=2, sizes={"test": 12})
    assert path.parent == tmp_path and path.name.startswith("tifa-seed2-")
    data = load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 12})
    assert len(data["test"]) == 12
    card = (path / "README.md").read_text()
    assert "agreement" in card and "human_scores" in card and "```" in card
    stamp = (path / "build.json").stat().st_mtime_ns
    load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 12})  # cached: not rebuilt
    assert (path / "build.json").stat().st_mtime_ns == stamp
    assert read_manifest(path)["sizes"] == {"test": 12}
    with pytest.raises(FileNotFoundError):
        load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 13}, build=False)
    assert len(load_world_dataset(tmp_path, "tifa", seed=2, sizes={"test": 13})["test"]) == 13
    # the other size lives beside it: the first build is still there, untouched
    assert (path / "build.json").stat().st_mtime_ns == stamp
    assert world_dataset_path(tmp_path, "tifa", seed=2, sizes={"test": 13}) != path
    with pytest.raises(KeyError):
        world_dataset_path(tmp_path, "nope")


def test_generation_truth_levels() -> None:
    two = make_prompt("two_object", [GenEvalItem("circle"), GenEvalItem("square")])
    circle = SceneObject("circle", "red", 0.3, 0.3, 0.1)
    square = SceneObject("square", "blue", 0.7, 0.7, 0.1)
    star = SceneObject("star", "green", 0.7, 0.3, 0.1)
    assert generation_level(two, Scene((circle, square))) == 5
    assert generation_level(two, Scene((circle, star))) == 3  # half the subjects, nothing else wrong
    assert generation_level(two, Scene((star,))) == 1
    col = make_prompt("colors", [GenEvalItem("circle", 1, "blue")])
    assert generation_level(col, Scene((circle,))) == 4  # right subject, wrong colour
    four = make_prompt("counting", [GenEvalItem("circle", 4)])
    circles = [SceneObject("circle", "red", x, 0.5, 0.06) for x in (0.15, 0.35, 0.55, 0.75, 0.9)]
    assert generation_level(four, Scene(tuple(circles[:4]))) == 5
    assert generation_level(four, Scene(tuple(circles[:3]))) == 4  # off by one
    assert generation_level(four, Scene(tuple(circles[:2]))) == 3  # off by two
    assert generation_level(four, Scene(tuple(circles[:1]))) == 2  # most subjects missing
    t = t2i_eval_truth(two, Scene((circle, square)))
    assert t == {"appearance": 10.0, "intrinsic": 10.0, "relationship": 10.0, "overall": 10.0}
    assert t2i_eval_truth(two, Scene((star,)), {"blur": 2})["intrinsic"] == 0.0


def test_world_build_command(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.run",
            "+exp=world_build",
            "world=full",
            f"paths.output_dir={out}",
            f"paths.cache_dir={cache}",
            "task.scale=0.02",
            "task.preview_items=4",
            "runtime.progress=false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (out / "runs" / "world_build").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["datasets"]) == set(BENCHMARKS)
    for name in BENCHMARKS:
        path = world_dataset_path(cache / "world", name, 0, scale=0.02)  # a scaled build: its own directory
        assert path.name.startswith(f"{name}-seed0-") and Path(metrics["datasets"][name]["path"]) == path
        assert (path / "README.md").is_file() and read_manifest(path) is not None
        data = datasets.load_from_disk(str(path))
        assert list(data) == list(BENCHMARKS[name].sizes)
    sheets = sorted(p.name for p in (run_dir / "contact_sheets").glob("*.png"))
    assert "t2i_eval-test.png" in sheets and "firm_bench_edit-execution.png" in sheets
    assert "overall" in metrics["t2i_eval_agreement"]["test"]
    # another process (another str-hash seed) built the same bytes as this one does
    here = save_benchmark("firm_bench_edit", tmp_path / "here", seed=0, scale=0.02)
    built = world_dataset_path(cache / "world", "firm_bench_edit", 0, scale=0.02)
    assert here["fingerprints"] == read_manifest(built)["fingerprints"]
