"""Percentile bootstrap: hand-checked quantiles, pairing, seeding, invalid resamples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.scoring.bootstrap import (
    BootstrapConfig,
    bootstrap_ci,
    group_resample_weights,
    percentile_interval,
    resample_indices,
)
from common.scoring.correlation import kendall_tau_b, pearson, spearman
from common.scoring.errors import mae


def data(n: int = 120, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, x + rng.normal(size=n)


def test_percentile_interval_by_hand() -> None:
    # 101 values 0..100: the 5% and 95% quantiles are 5 and 95
    ci = percentile_interval(np.arange(101.0), confidence=0.90)
    assert (ci.low, ci.high) == (pytest.approx(5.0), pytest.approx(95.0))
    assert (ci.n_resamples, ci.n_invalid) == (101, 0)
    # quantiles 0.25 and 0.75 of [0, 1, 2, 3, 4] are 1 and 3; the nan is left out and counted
    ci = percentile_interval([0.0, 1.0, 2.0, 3.0, 4.0, np.nan], confidence=0.5)
    assert (ci.low, ci.high, ci.n_invalid) == (1.0, 3.0, 1)
    assert math.isnan(percentile_interval([np.nan]).low)


@pytest.mark.parametrize("stat", [pearson, spearman, kendall_tau_b, mae])
def test_ci_contains_point_estimate_and_is_reproducible(stat) -> None:
    x, y = data()
    ci = bootstrap_ci(stat, x, y, n_resamples=200, seed=3)
    assert stat(x, y) in ci
    assert ci.low < ci.high
    assert bootstrap_ci(stat, x, y, n_resamples=200, seed=3) == ci
    assert bootstrap_ci(stat, x, y, n_resamples=200, seed=4) != ci


def test_resampling_is_paired() -> None:
    # y is a strictly increasing function of x: every paired resample has r = rho = 1
    # (or nan when all drawn items are the same); unpaired resampling would not.
    x = np.arange(30.0)
    y = x**3
    ci = bootstrap_ci(spearman, x, y, n_resamples=100, seed=0)
    assert (ci.low, ci.high) == (pytest.approx(1.0), pytest.approx(1.0))


def test_invalid_resamples_are_counted() -> None:
    # two items: a resample draws the same item twice with probability 1/2 -> constant -> nan
    ci = bootstrap_ci(pearson, [0.0, 1.0], [0.0, 1.0], n_resamples=400, seed=0)
    assert 100 < ci.n_invalid < 300
    assert (ci.low, ci.high) == (1.0, 1.0)


def test_shared_indices_and_chunking() -> None:
    x, y = data(50)
    idx = resample_indices(50, 64, seed=9)
    assert idx.shape == (64, 50) and idx.min() >= 0 and idx.max() < 50
    assert bootstrap_ci(pearson, x, y, indices=idx) == bootstrap_ci(pearson, x, y, n_resamples=64, seed=9)


def test_group_weights() -> None:
    w = group_resample_weights(7, 20, seed=0)
    assert w.shape == (20, 7) and (w.sum(axis=1) == 7).all()


def test_config_coercion() -> None:
    assert BootstrapConfig.coerce(None) is None
    assert BootstrapConfig.coerce(0) is None
    assert BootstrapConfig.coerce(False) is None
    assert BootstrapConfig.coerce(True) == BootstrapConfig()
    assert BootstrapConfig.coerce(50) == BootstrapConfig(n_resamples=50)
    assert BootstrapConfig.coerce({"seed": 2, "confidence": 0.9}) == BootstrapConfig(1000, 0.9, 2)
    with pytest.raises(ValueError, match="confidence"):
        BootstrapConfig(confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        BootstrapConfig(n_resamples=0)
