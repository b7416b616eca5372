"""Simulated raters: shapes and scales, agreement, calibration on the generated T2I-Eval-like set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from common.world.raters import (
    T2I_EVAL_PANEL,
    TIFA_PANEL,
    TIFA_REAL_AGREEMENT,
    RaterPanel,
    agreement,
    calibrate_noise,
    consensus,
    pairwise_agreement,
)


def test_rate_shape_scale_and_seed() -> None:
    truth = np.linspace(-2, 12, 50)
    r = T2I_EVAL_PANEL.rate(truth, np.random.default_rng(0))
    assert r.shape == (50, 3)
    assert r.min() >= 0 and r.max() <= 10 and np.all(r == np.round(r))
    assert np.array_equal(r, T2I_EVAL_PANEL.rate(truth, np.random.default_rng(0)))
    two_d = RaterPanel(n_raters=2, low=1, high=5).rate(np.full((4, 3), 3.0), np.random.default_rng(1))
    assert two_d.shape == (4, 3, 2)
    cont = RaterPanel(integer=False, noise_sd=0.3).rate(np.full(10, 5.0), np.random.default_rng(2))
    assert not np.all(cont == np.round(cont))
    with pytest.raises(ValueError):
        RaterPanel(low=5, high=1)


def test_agreement_definition() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 10, 200)
    same = np.stack([truth] * 3, axis=1)
    assert agreement(same) == pytest.approx(1.0)
    two = np.stack([truth, truth + rng.normal(0, 2, 200)], axis=1)
    assert agreement(two) == pytest.approx(stats.spearmanr(two[:, 0], two[:, 1]).statistic)
    three = np.stack([truth + rng.normal(0, 1, 200) for _ in range(3)], axis=1)
    by_hand = np.mean(
        [stats.spearmanr(three[:, k], np.delete(three, k, axis=1).mean(axis=1)).statistic for k in range(3)]
    )
    assert agreement(three) == pytest.approx(by_hand)
    with pytest.raises(ValueError):
        agreement(truth[:, None])


def test_noise_lowers_agreement_and_calibration_hits_target() -> None:
    truth = np.random.default_rng(1).uniform(0, 10, 400)
    panel = RaterPanel(n_raters=3, low=0, high=10, bias_sd=0.3)
    values = [agreement(panel.with_noise(s).rate(truth, np.random.default_rng(0))) for s in (0.5, 1.5, 3.0)]
    assert values[0] > values[1] > values[2]
    noise = calibrate_noise(truth, panel, 0.9, iters=12)
    got = agreement(panel.with_noise(noise).rate(truth, np.random.default_rng(0)))
    assert got == pytest.approx(0.9, abs=0.01)


def test_consensus_and_pairwise_agreement() -> None:
    r = np.array([[1, 2, 2], [4, 5, 5]], dtype=float)
    assert consensus(r).tolist() == pytest.approx([5 / 3, 14 / 3])
    assert consensus(r, "median").tolist() == [2, 5]
    assert consensus(r, "rounded").tolist() == [2, 5]
    a = np.array([[5, 5], [1, 3]], dtype=float)
    b = np.array([[1, 1], [2, 3]], dtype=float)
    assert pairwise_agreement(a, b) == pytest.approx(0.5)  # pair 1: both prefer a; pair 2: b vs tie


def test_default_panels_are_calibrated_on_the_generated_sets() -> None:
    """One rater vs the mean of the others is about 0.9 on the T2I-Eval-like set (each aspect)
    and the TIFA-like pair agrees like the real TIFA annotators (0.72)."""
    from common.world.benchmarks import build_benchmark

    built = build_benchmark("t2i_eval", sizes={"train": 250, "test": 120}, seed=3)
    for split in ("train", "test"):
        ag = built.stats[split]["agreement"]
        assert 0.85 <= np.mean(list(ag.values())) <= 0.95, ag
        assert all(0.8 <= v <= 0.96 for v in ag.values()), ag
    tifa = build_benchmark("tifa", sizes={"test": 250}, seed=3)
    assert tifa.stats["test"]["agreement"] == pytest.approx(TIFA_REAL_AGREEMENT, abs=0.07)
    assert TIFA_PANEL.n_raters == 2
