"""meta_evaluate: alignment, missing policy report, bootstrap intervals, pairwise metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.scoring.correlation import kendall_tau_b, pearson, spearman
from common.scoring.meta import STATISTICS, meta_evaluate


def test_registry_names() -> None:
    assert STATISTICS.names() == ["kendall", "kendall_tau_b", "mae", "pearson", "rmse", "spearman"]


def test_sequences_with_mean_fill() -> None:
    pred = [1.0, 2.0, None, 4.0, 5.0]
    human = [1.0, 3.0, 2.0, 5.0, 4.0]
    out = meta_evaluate(pred, human, metrics=("pearson", "spearman", "kendall", "mae"), bootstrap=None)
    filled = [1.0, 2.0, 3.0, 4.0, 5.0]  # the mean of 1, 2, 4, 5 is 3
    assert out["pearson"] == pytest.approx(pearson(filled, human))
    assert out["spearman"] == pytest.approx(spearman(filled, human))
    assert out["kendall"] == pytest.approx(kendall_tau_b(filled, human))
    assert out["mae"] == pytest.approx(0.8)  # |errors| = 0, 1, 1, 1, 1
    assert (out["n"], out["n_total"], out["n_missing"], out["fill_value"]) == (5, 5, 1, 3.0)
    assert "pearson_ci" not in out and "bootstrap" not in out


def test_mappings_align_by_id_and_drop() -> None:
    human = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    pred = {"d": 40.0, "a": 10.0, "b": 20.0}  # "c" absent = missing; order irrelevant
    out = meta_evaluate(pred, human, metrics=("pearson",), bootstrap=None, missing="drop")
    assert out["pearson"] == pytest.approx(1.0)
    assert (out["n"], out["n_missing"], out["missing_policy"]) == (3, 1, "drop")
    with pytest.raises(ValueError, match=r"1 prediction id\(s\) are not benchmark items, e.g. \['z'\]"):
        meta_evaluate({"z": 1.0}, human, bootstrap=None)
    with pytest.raises(TypeError, match="mapping"):
        meta_evaluate([1.0], human, bootstrap=None)


def test_bootstrap_keys_and_reproducibility() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    out = meta_evaluate(x.tolist(), y.tolist(), bootstrap={"n_resamples": 100, "seed": 5})
    for m in ("pearson", "spearman", "kendall"):
        lo, hi = out[f"{m}_ci"]
        assert lo <= out[m] <= hi
    assert out["bootstrap"] == {
        "method": "percentile",
        "n_resamples": 100,
        "confidence": 0.95,
        "seed": 5,
        "n_invalid": {"pearson": 0, "spearman": 0, "kendall": 0},
    }
    assert meta_evaluate(x.tolist(), y.tolist(), bootstrap={"n_resamples": 100, "seed": 5}) == out


def test_pairwise_metrics() -> None:
    out = meta_evaluate(
        [1, 2, 3, 10, 20],
        [1, 2, 2, 5, 4],
        metrics=("pairwise_acc", "pairwise_acc_ties"),
        groups=["a", "a", "a", "b", "b"],
        bootstrap=50,
    )
    assert out["pairwise_acc"] == pytest.approx(2 / 3)
    assert out["pairwise_acc_ties"] == pytest.approx(0.5)
    assert (out["pairwise_n_pairs"], out["pairwise_n_human_ties"], out["pairwise_n_pred_ties"]) == (4, 1, 0)
    lo, hi = out["pairwise_acc_ci"]
    assert 0.0 <= lo <= hi <= 1.0
    with pytest.raises(ValueError, match="need `groups`"):
        meta_evaluate([1, 2], [1, 2], metrics=("pairwise_acc",))


def test_unknown_metric_and_empty_after_drop() -> None:
    with pytest.raises(KeyError, match="unknown meta-evaluation statistic 'pearsn'"):
        meta_evaluate([1, 2], [1, 2], metrics=("pearsn",))
    out = meta_evaluate([None, None], [1.0, 2.0], missing="drop", bootstrap=10)
    assert math.isnan(out["pearson"]) and out["n"] == 0 and out["n_missing"] == 2
