"""``common.scoring.paired_difference``: the mean over paired seeds of a statistic's difference
between two scorers, with a paired item bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from common.scoring import BootstrapConfig, paired_difference, spearman

N = 120


def _systems(seed: int = 0) -> tuple[np.ndarray, list[list[float]], list[list[float]]]:
    rng = np.random.default_rng(seed)
    human = rng.normal(size=N)
    good = [list(human + rng.normal(scale=0.5, size=N)) for _ in range(3)]  # rho about 0.9
    poor = [list(human + rng.normal(scale=3.0, size=N)) for _ in range(3)]  # rho about 0.3
    return human, good, poor


def test_each_seed_is_the_difference_of_the_two_statistics_and_the_mean_is_their_mean() -> None:
    human, good, poor = _systems()
    res = paired_difference(good, poor, human, spearman)
    expected = [
        float(spearman(g, human)) - float(spearman(p, human)) for g, p in zip(good, poor, strict=True)
    ]
    assert res.per_seed == pytest.approx(expected)
    assert res.mean == pytest.approx(np.mean(expected))
    assert res.n_items == N and res.n_missing_a == [0, 0, 0]
    assert res.mean_ci.low <= res.mean <= res.mean_ci.high
    assert res.mean_ci.low > 0  # a clearly better scorer: the interval excludes 0
    for d, ci in zip(res.per_seed, res.per_seed_ci, strict=True):
        assert ci.low <= d <= ci.high


def test_swapping_the_systems_negates_the_difference_and_mirrors_the_interval() -> None:
    human, good, poor = _systems(1)
    ab = paired_difference(good, poor, human, spearman)
    ba = paired_difference(poor, good, human, spearman)
    assert ba.mean == pytest.approx(-ab.mean)
    assert (ba.mean_ci.low, ba.mean_ci.high) == pytest.approx((-ab.mean_ci.high, -ab.mean_ci.low))


def test_a_scorer_against_itself_differs_by_exactly_zero() -> None:
    human, good, _ = _systems(2)
    res = paired_difference(good, good, human, spearman)
    assert res.mean == 0.0 and res.mean_ci.as_list() == [0.0, 0.0]


def test_the_interval_is_paired_narrower_than_two_independent_intervals_would_allow() -> None:
    """Two scorers that share most of their error: the paired interval of their difference is much
    narrower than that of the same scorer against an unrelated one (pairing cancels the shared error)."""
    rng = np.random.default_rng(3)
    human = rng.normal(size=N)
    shared = human + rng.normal(scale=1.5, size=N)
    a, b = [list(shared + rng.normal(scale=0.1, size=N))], [list(shared)]
    res = paired_difference(a, b, human, spearman)
    alone = paired_difference(a, [list(rng.normal(size=N))], human, spearman)
    assert res.mean_ci.high - res.mean_ci.low < 0.25 * (alone.mean_ci.high - alone.mean_ci.low)


def test_missing_predictions_are_mean_filled_per_system_and_seed() -> None:
    human, good, poor = _systems(4)
    holed = [list(row) for row in good]
    holed[1][:10] = [None] * 10  # type: ignore[list-item]
    res = paired_difference(holed, poor, human, spearman)
    filled = np.array(holed[1][10:], dtype=float)
    row = np.concatenate([np.full(10, filled.mean()), filled])
    assert res.per_seed[1] == pytest.approx(float(spearman(row, human)) - float(spearman(poor[1], human)))
    assert res.n_missing_a == [0, 10, 0] and res.n_missing_b == [0, 0, 0]


def test_the_same_bootstrap_seed_gives_the_same_interval_and_another_seed_another() -> None:
    human, good, poor = _systems(5)
    one = paired_difference(good, poor, human, spearman, BootstrapConfig(n_resamples=300, seed=1))
    same = paired_difference(good, poor, human, spearman, BootstrapConfig(n_resamples=300, seed=1))
    other = paired_difference(good, poor, human, spearman, BootstrapConfig(n_resamples=300, seed=2))
    assert one.mean_ci == same.mean_ci and one.mean_ci != other.mean_ci
    assert one.as_dict()["n_resamples"] == 300 and one.as_dict()["n_seeds"] == 3


def test_bad_input_names_the_system_and_seed() -> None:
    human, good, poor = _systems(6)
    with pytest.raises(ValueError, match="system b, seed index 2: 119 predictions for 120 items"):
        paired_difference(good, [*poor[:2], poor[2][:-1]], human, spearman)
    with pytest.raises(ValueError, match="same number of seeds"):
        paired_difference(good, poor[:2], human, spearman)
    with pytest.raises(ValueError, match="system a, seed index 0: all 120 predictions are missing"):
        paired_difference([[None] * N], [poor[0]], human, spearman)


def test_the_intervals_are_percentiles_of_the_same_item_resamples_for_every_seed() -> None:
    """Rebuilt by hand: one index matrix for both systems and all seeds; the mean's interval is the
    percentile interval of the per-resample mean over seeds (not of independent resamples per seed,
    nor the mean of the per-seed bounds)."""
    from common.scoring import percentile_interval, resample_indices
    from common.scoring.bootstrap import bootstrap_distribution

    human, good, poor = _systems(7)
    cfg = BootstrapConfig(n_resamples=200, seed=3)
    res = paired_difference(good, poor, human, spearman, cfg)
    idx = resample_indices(N, 200, 3)
    per_seed = [
        bootstrap_distribution(spearman, np.asarray(g), human, idx)
        - bootstrap_distribution(spearman, np.asarray(p), human, idx)
        for g, p in zip(good, poor, strict=True)
    ]
    assert res.per_seed_ci == [percentile_interval(d) for d in per_seed]
    assert res.mean_ci == percentile_interval(np.mean(per_seed, axis=0))
    same = paired_difference([good[0]] * 3, [poor[0]] * 3, human, spearman, cfg)
    assert same.mean_ci == same.per_seed_ci[0] and same.mean == pytest.approx(same.per_seed[0])


def test_an_undefined_statistic_on_a_seed_makes_the_mean_undefined() -> None:
    human, good, poor = _systems(8)
    res = paired_difference([good[0], [5.0] * N], [poor[0], poor[1]], human, spearman)
    assert np.isnan(res.per_seed[1]) and np.isnan(res.mean)
    assert np.isfinite(res.per_seed[0])
