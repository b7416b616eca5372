"""Corpora: schemas, the quick world corpora, the world-benchmark adapter and the real-format loaders
on small files written here."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from PIL import Image

from t2ieval_r1.data import (
    ASPECTS,
    DataFormatError,
    corpus_kind,
    load_corpus,
    load_ranked_pairs,
    load_t2i_eval_bench,
    load_t2i_eval_distill,
    make_pairwise,
    make_singlewise,
    quick_pairwise,
    quick_singlewise,
)
from t2ieval_r1.data.real import aspect_key
from t2ieval_r1.data.world import quick_scores


def _images(root: Path, names: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (16, 16), (10 * i, 100, 200)).save(root / name)


# ----------------------------------------------------------------------------- schema


def _row(**kw: object) -> dict:
    row = {
        "id": "x",
        "prompt": "a photo of a red circle",
        "image": Image.new("RGB", (8, 8)),
        "score": 7.0,
        "scale_lo": 0.0,
        "scale_hi": 10.0,
        "aspect": "overall",
    }
    row.update(kw)
    return row


def test_singlewise_schema_round_trip(tmp_path: Path) -> None:
    ds = make_singlewise([_row(id="a", meta={"k": 1}), _row(id="b", score=0.0, aspect="intrinsic")])
    assert corpus_kind(ds) == "single"
    assert json.loads(ds[0]["meta"]) == {"k": 1} and ds[1]["meta"] == "{}"
    ds.save_to_disk(str(tmp_path / "ds"))
    again = load_corpus({"source": "hf_disk", "path": str(tmp_path / "ds")})
    assert again["id"] == ["a", "b"] and isinstance(again[0]["image"], Image.Image)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"score": 11.0}, "is not on"),
        ({"aspect": "beauty"}, "aspect 'beauty'"),
        ({"scale_lo": 10.0}, "lo < hi"),
        ({"id": ""}, "non-empty"),
    ],
)
def test_singlewise_validation_names_the_problem(change: dict, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        make_singlewise([_row(**change)])


def test_duplicate_ids_and_bad_preferences_are_rejected() -> None:
    with pytest.raises(DataFormatError, match="duplicate id"):
        make_singlewise([_row(), _row()])
    pair = {
        "id": "p",
        "prompt": "p",
        "image_a": Image.new("RGB", (8, 8)),
        "image_b": Image.new("RGB", (8, 8)),
        "preference": "left",
        "scale_lo": 0.0,
        "scale_hi": 10.0,
        "aspect": "overall",
    }
    with pytest.raises(DataFormatError, match="preference 'left'"):
        make_pairwise([pair])
    assert corpus_kind(make_pairwise([{**pair, "preference": "tie"}])) == "pair"


# ----------------------------------------------------------------------------- world corpora


def test_quick_scores_formulas() -> None:
    reqs = {"include[0].count": True, "include[1].count": False, "include[1].position": False}
    s = quick_scores(reqs, quality=1.0)
    assert s == {"appearance": 10.0, "intrinsic": 5.0, "relationship": 0.0, "overall": 4.5}
    assert quick_scores({"include[0].count": True}, 0.5)["relationship"] == 10.0  # no position: intrinsic


def test_quick_corpora_are_seeded_and_valid() -> None:
    a = quick_singlewise(6, seed=3, aspects=("overall", "intrinsic"))
    b = quick_singlewise(6, seed=3, aspects=("overall", "intrinsic"))
    assert len(a) == 12 and a["score"] == b["score"] and a["id"] == b["id"]
    meta = json.loads(a[0]["meta"])
    assert {"scene", "geneval", "violated"} <= set(meta)
    pairs = quick_pairwise(5, seed=1)
    assert set(pairs["preference"]) <= {"a", "b", "tie"} and len(pairs) == 5


def test_world_benchmark_adapter(tmp_path: Path) -> None:
    root = str(tmp_path / "world")
    t2i = load_corpus(
        {
            "source": "world",
            "name": "t2i_eval",
            "split": "test",
            "aspects": ["overall", "relationship"],
            "sizes": {"train": 2, "test": 3},
            "root": root,
        }
    )
    assert len(t2i) == 6 and set(t2i["aspect"]) == {"overall", "relationship"}
    meta = json.loads(t2i[0]["meta"])
    assert len(meta["ratings"]) == 3 and "scene" in meta and isinstance(t2i[0]["image"], Image.Image)
    pairs = load_corpus(
        {"source": "world", "name": "imagereward", "split": "test", "sizes": {"test": 4}, "root": root}
    )
    assert corpus_kind(pairs) == "pair" and len(pairs) == 4
    tifa = load_corpus(
        {"source": "world", "name": "tifa", "split": "test", "sizes": {"test": 3}, "root": root}
    )
    assert (
        set(tifa["aspect"]) == {"faithfulness"} and tifa[0]["scale_lo"] == 1.0 and tifa[0]["scale_hi"] == 5.0
    )
    with pytest.raises(DataFormatError, match="splits"):
        load_corpus({"source": "world", "name": "tifa", "split": "train", "root": root})


def test_load_corpus_filters_and_errors() -> None:
    ds = load_corpus(
        {"source": "world_quick", "kind": "single", "n": 4, "aspects": ["overall", "appearance"], "limit": 5}
    )
    assert len(ds) == 5
    with pytest.raises(DataFormatError, match="unknown corpus source"):
        load_corpus({"source": "nope"})
    with pytest.raises(DataFormatError, match="needs a `source`"):
        load_corpus({"path": "x"})
    with pytest.raises(DataFormatError, match="does not exist"):
        load_corpus({"source": "hf_disk", "path": "/nonexistent/ds"})


# ----------------------------------------------------------------------------- real formats


def test_aspect_names_of_real_files() -> None:
    assert aspect_key("Appearance Quality") == "appearance"
    assert aspect_key("intrinsic_attribute_consistency") == "intrinsic"
    assert aspect_key("Relationship Attribute Consistency") == "relationship"
    assert aspect_key("overall") == "overall" and aspect_key("colour") is None
    assert set(ASPECTS) >= {"appearance", "intrinsic", "relationship", "overall", "faithfulness"}


def test_t2i_eval_distill_loader(tmp_path: Path) -> None:
    _images(tmp_path / "imgs", ["0.png", "1.png"])
    records = [
        {
            "id": "d0",
            "prompt": "a red circle",
            "image": "0.png",
            "scores": {
                "Appearance Quality": {"score": 7, "explanation": "clean"},
                "Intrinsic Attribute Consistency": {"score": 5},
                "Relationship Attribute Consistency": 4,
                "Overall": 6,
            },
        },
        {
            "image_caption": "two stars",
            "image_path": "1.png",
            "appearance": 9,
            "intrinsic": 8,
            "relationship": 7,
            "overall": 8,
        },
    ]
    path = tmp_path / "distill.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    ds = load_t2i_eval_distill(path, image_root=tmp_path / "imgs")
    assert len(ds) == 8 and ds["id"][:2] == ["d0:appearance", "d0:intrinsic"]
    assert ds["score"] == [7.0, 5.0, 4.0, 6.0, 9.0, 8.0, 7.0, 8.0]
    assert json.loads(ds[0]["meta"])["explanation"] == "clean"
    assert ds[4]["id"] == "1:appearance" and ds[4]["prompt"] == "two stars"
    assert ds[0]["image"].size == (16, 16)
    only = load_t2i_eval_distill(path, image_root=tmp_path / "imgs", aspects=["overall"])
    assert only["aspect"] == ["overall", "overall"]


def test_t2i_eval_distill_errors_say_what_to_do(tmp_path: Path) -> None:
    _images(tmp_path, ["0.png"])
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"prompt": "p", "image": "0.png", "overall": 12}]))
    with pytest.raises(DataFormatError, match=r"d.json: record 0 .* overall score 12 .* set `scale`"):
        load_t2i_eval_distill(path, aspects=["overall"])
    path.write_text(json.dumps([{"prompt": "p", "image": "missing.png", "overall": 5}]))
    with pytest.raises(DataFormatError, match=r"not found .* set image_root"):
        load_t2i_eval_distill(path, aspects=["overall"])
    assert len(load_t2i_eval_distill(path, aspects=["overall"], check_images=False)) == 1
    path.write_text(json.dumps([{"image": "0.png", "overall": 5}]))
    with pytest.raises(DataFormatError, match="no prompt field; expected one of"):
        load_t2i_eval_distill(path, aspects=["overall"])
    path.write_text(json.dumps([{"prompt": "p", "image": "0.png", "overall": 5}]))
    with pytest.raises(DataFormatError, match="no score for aspect 'appearance'"):
        load_t2i_eval_distill(path)
    with pytest.raises(DataFormatError, match="no such file"):
        load_t2i_eval_distill(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        load_t2i_eval_distill(tmp_path / "bad.json")


def test_t2i_eval_bench_loader(tmp_path: Path) -> None:
    _images(tmp_path / "images", ["a.png", "b.png"])
    bench = [
        {"id": 1, "image_caption": "a red circle", "gt_image": "images/a.png", "ref_image": None},
        {"id": 2, "image_caption": "a blue star", "gt_image": "images/b.png"},
    ]
    scores = [
        {
            "id": i,
            "overall": {
                aspect: {"score": 5, "manual_score": [m, m + 1, m + 2, m + 1]}
                for aspect, m in (("appearance", 1), ("intrinsic", 2), ("relationship", 3), ("overall", 4))
            },
        }
        for i in (1, 2)
    ]
    (tmp_path / "t2i-eval-bench.json").write_text(json.dumps(bench))
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    ds = load_t2i_eval_bench(tmp_path / "t2i-eval-bench.json", tmp_path / "scores.json")
    assert len(ds) == 8
    overall = ds.filter(lambda a: a == "overall", input_columns="aspect")
    assert overall["score"] == [5.0, 5.0] and overall["prompt"] == ["a red circle", "a blue star"]
    meta = json.loads(overall[0]["meta"])
    assert meta["raters"] == [4.0, 5.0, 6.0] and meta["reference_score"] == 5.0
    scores[1]["id"] = 9
    (tmp_path / "scores.json").write_text(json.dumps(scores))
    with pytest.raises(DataFormatError, match=r"id '9', which t2i-eval-bench\.json does not contain"):
        load_t2i_eval_bench(tmp_path / "t2i-eval-bench.json", tmp_path / "scores.json")


def test_ranked_pairs_loader(tmp_path: Path) -> None:
    _images(tmp_path, ["g0.png", "g1.png", "g2.png"])
    records = [
        {
            "prompt_id": "p7",
            "prompt": "a cat",
            "generations": ["g0.png", "g1.png", "g2.png"],
            "ranking": [2, 1, 2],
        }
    ]
    (tmp_path / "test.json").write_text(json.dumps(records))
    ds = load_ranked_pairs(tmp_path / "test.json")
    assert ds["id"] == ["p7:0-1", "p7:0-2", "p7:1-2"]
    assert ds["preference"] == ["b", "tie", "a"]
    assert len(load_ranked_pairs(tmp_path / "test.json", include_ties=False)) == 2
    via = load_corpus({"source": "imagereward", "path": str(tmp_path / "test.json")})
    assert isinstance(via, datasets.Dataset) and len(via) == 3
    records[0]["ranking"] = [1, 2]
    (tmp_path / "test.json").write_text(json.dumps(records))
    with pytest.raises(DataFormatError, match="same length"):
        load_ranked_pairs(tmp_path / "test.json")
