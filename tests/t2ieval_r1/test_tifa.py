"""The vendored TIFA v1.0 human judgments and their meta-evaluation."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from t2ieval_r1.benchmarks.tifa import (
    PUBLISHED_TIFA_CORRELATIONS,
    TIFA_GENERATORS,
    TIFA_METRICS,
    human_targets,
    load_predictions,
    load_tifa_human,
    meta_evaluate_tifa,
    metric_predictions,
    tifa_human_path,
)

SHA256 = "1720bb802c3c0821dd56df0d8c20a1214ff5085d7e5d9236a75736b1d39b7b3c"


@pytest.fixture(scope="module")
def records():
    return load_tifa_human()


def test_vendored_file_license_and_provenance() -> None:
    path = tifa_human_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256
    assert "Apache License" in (path.parent / "LICENSE").read_text()
    assert SHA256 in (path.parent / "PROVENANCE.md").read_text()


def test_counts_and_fields(records) -> None:
    assert len(records) == 800
    assert len({r.id for r in records}) == 800
    assert len({r.text_id for r in records}) == 160
    assert Counter(r.generator for r in records) == dict.fromkeys(TIFA_GENERATORS, 160)
    assert len(TIFA_METRICS) == 10
    for r in records:
        assert set(r.metric_scores) == set(TIFA_METRICS)
        assert r.image_path == f"{r.id}.jpg"
        assert len(r.human_scores) == 2 and all(1 <= s <= 5 for s in r.human_scores)
        assert r.human_avg == pytest.approx(np.mean(r.human_scores))
    first = records[0]
    assert (first.id, first.text) == ("coco_669925_mini_dalle", "A Christmas tree with lights and teddy bear")


def test_bad_file_is_reported(tmp_path: Path) -> None:
    doc = json.loads(tifa_human_path().read_text())
    key = next(iter(doc))
    del doc[key]["spice"]
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=rf"t\.json: id '{key}': field 'spice' missing"):
        load_tifa_human(bad)


def test_metric_row_matches_scipy(records) -> None:
    preds = metric_predictions("tifa_mplug-large", records)
    out = meta_evaluate_tifa(preds, records, bootstrap=None)
    x = np.array([r.metric_scores["tifa_mplug-large"] for r in records])
    y = np.array([r.human_avg for r in records])
    assert out["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)
    assert out["spearman"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert out["kendall"] == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert (out["n"], out["n_missing"]) == (800, 0)
    with pytest.raises(KeyError, match="unknown TIFA metric"):
        metric_predictions("clip", records)


def test_user_predictions_roundtrip_with_missing(tmp_path: Path, records) -> None:
    # a scorer that answered for half of the images, one of them unparsable (null)
    lines = [{"id": r.id, "score": r.metric_scores["clipscore_vitb32"]} for r in records[::2]]
    lines[0]["score"] = None
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    preds = load_predictions(path)
    filled = meta_evaluate_tifa(preds, records, bootstrap=None)
    assert (filled["n"], filled["n_missing"], filled["missing_policy"]) == (800, 401, "mean_fill")
    dropped = meta_evaluate_tifa(preds, records, bootstrap=None, missing="drop")
    assert (dropped["n"], dropped["n_missing"]) == (399, 401)
    kept = [r for r in records[2::2]]
    x = [r.metric_scores["clipscore_vitb32"] for r in kept]
    assert dropped["spearman"] == pytest.approx(stats.spearmanr(x, [r.human_avg for r in kept]).statistic)


def test_unknown_ids_and_targets(records) -> None:
    with pytest.raises(
        ValueError, match=r"TIFA meta-evaluation: 1 prediction id\(s\) are not benchmark items"
    ):
        meta_evaluate_tifa({"not_an_image": 1.0}, records, bootstrap=None)
    assert human_targets(records, "human_1")[records[0].id] == records[0].human_scores[1]
    with pytest.raises(ValueError, match="unknown target"):
        human_targets(records, "avg")


def test_pairwise_within_prompts(records) -> None:
    out = meta_evaluate_tifa(metric_predictions("tifa_vilt", records), records, bootstrap=20, pairwise=True)
    assert out["pairwise_n_pairs"] == 160 * 10  # C(5, 2) pairs per prompt
    assert 0.0 <= out["pairwise_acc"] <= 1.0 and 0.0 <= out["pairwise_acc_ties"] <= 1.0


def test_reproduced_correlations_equal_the_tifa_authors_published_ones(records) -> None:
    """docs/papers/tifa.md §4: on the vendored file, the Pearson and Kendall tau-b of every metric
    equal the TIFA authors' published ones (recorded to 4 decimals) up to that rounding."""
    assert list(PUBLISHED_TIFA_CORRELATIONS) == list(TIFA_METRICS)
    for metric, published in PUBLISHED_TIFA_CORRELATIONS.items():
        out = meta_evaluate_tifa(
            metric_predictions(metric, records), records, metrics=("pearson", "kendall"), bootstrap=None
        )
        for stat, value in published.items():
            assert out[stat] == pytest.approx(value, abs=5e-5), (metric, stat)
