"""Simulated human raters: ground truth plus rater bias plus noise, on the papers' scales.

A :class:`RaterPanel` of ``K`` raters scores items whose ground truth is known. Rater ``k`` gives
item ``i``::

    rating[i, k] = clip(round_half_up(truth[i] + bias[k] + noise[i, k]), low, high)
    bias[k] ~ N(0, bias_sd^2)    (drawn once per call: a harsh or lenient rater)
    noise[i, k] ~ N(0, noise_sd^2)

(``integer=False`` keeps the clipped value unrounded). Everything comes from the ``rng`` given,
so a seed reproduces the ratings exactly.

Agreement (:func:`agreement`): for each rater, the Spearman correlation of their ratings with the
mean of the other raters' ratings, averaged over raters; with two raters this is simply their
Spearman correlation. T2I-Eval-Bench reports about 0.95 for one annotator against the average;
the real TIFA v1.0 file gives 0.72 between its two annotators (55% identical scores).

Default panels (noise calibrated with :func:`calibrate_noise` on the world benchmarks built by
:mod:`common.world.benchmarks` at their default sizes and seed 0; the dataset cards report the
agreement actually measured on each built set):

    T2I_EVAL_PANEL  3 raters, 0-10, bias 0.4, noise per aspect (T2I_ASPECT_NOISE: appearance
                    0.74, intrinsic 0.8, relationship 0.4, overall 0.81) -> about 0.9 on each
                    aspect (relationship truth is mostly 0 or 10, so rounding ties need less noise)
    TIFA_PANEL      2 raters, 1-5,  bias 0.15, noise 0.67 -> about 0.72, the real TIFA value
    FIRM_PANEL      3 raters, 1-5,  bias 0.1, noise 0.35  -> careful annotators (about 0.93)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from common.scoring.correlation import spearman


@dataclass(frozen=True)
class RaterPanel:
    """``n_raters`` simulated raters on the scale ``[low, high]``."""

    n_raters: int = 3
    low: float = 0.0
    high: float = 10.0
    noise_sd: float = 1.0
    bias_sd: float = 0.4
    integer: bool = True

    def __post_init__(self) -> None:
        if self.n_raters < 1:
            raise ValueError("a panel needs at least one rater")
        if not self.low < self.high:
            raise ValueError(f"empty scale [{self.low}, {self.high}]")
        if self.noise_sd < 0 or self.bias_sd < 0:
            raise ValueError("noise_sd and bias_sd must be >= 0")

    def rate(self, truth: ArrayLike, rng: np.random.Generator) -> NDArray[np.float64]:
        """Ratings of shape ``truth.shape + (n_raters,)`` (see the module docstring)."""
        t = np.asarray(truth, dtype=np.float64)
        bias = rng.normal(0.0, self.bias_sd, size=self.n_raters)
        noise = rng.normal(0.0, self.noise_sd, size=(*t.shape, self.n_raters))
        raw = t[..., None] + bias + noise
        if self.integer:
            raw = np.floor(raw + 0.5)
        return np.clip(raw, self.low, self.high)

    def with_noise(self, noise_sd: float) -> RaterPanel:
        return replace(self, noise_sd=float(noise_sd))


T2I_EVAL_PANEL = RaterPanel(n_raters=3, low=0, high=10, noise_sd=0.81, bias_sd=0.4)
"""T2I-Eval-Bench: three annotators, 0-10 per aspect (noise per aspect: :data:`T2I_ASPECT_NOISE`)."""

T2I_ASPECT_NOISE: dict[str, float] = {
    "appearance": 0.74,
    "intrinsic": 0.8,
    "relationship": 0.4,
    "overall": 0.81,
}
"""Rater noise per T2I-Eval aspect, calibrated so each aspect's agreement is about 0.9."""

TIFA_PANEL = RaterPanel(n_raters=2, low=1, high=5, noise_sd=0.67, bias_sd=0.15)
"""TIFA v1.0: two annotators, faithfulness 1-5."""

FIRM_PANEL = RaterPanel(n_raters=3, low=1, high=5, noise_sd=0.35, bias_sd=0.1)
"""FIRM-Bench-like human scores, 1-5."""

TIFA_REAL_AGREEMENT = 0.722
"""Spearman between the two annotators of the real TIFA v1.0 human file (800 images)."""


def agreement(ratings: ArrayLike) -> float:
    """Mean over raters of Spearman(rater, mean of the other raters); ratings ``(n_items, K)``."""
    r = np.asarray(ratings, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"ratings must be (n_items, K >= 2), got shape {r.shape}")
    k = r.shape[1]
    total = r.sum(axis=1)
    vals = []
    for j in range(k):
        others = (total - r[:, j]) / (k - 1)
        vals.append(float(spearman(r[:, j], others)))
    vals = [v for v in vals if math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def consensus(ratings: ArrayLike, how: str = "mean") -> NDArray[np.float64]:
    """The panel's score per item: ``mean`` (T2I-Eval's avg, TIFA's human_avg), ``median``, or
    ``rounded`` (the mean rounded half up: one integer label, as FIRM-Bench gives)."""
    r = np.asarray(ratings, dtype=np.float64)
    if how == "mean":
        return r.mean(axis=-1)
    if how == "median":
        return np.median(r, axis=-1)
    if how == "rounded":
        return np.floor(r.mean(axis=-1) + 0.5)
    raise ValueError(f"unknown consensus {how!r}; use mean, median or rounded")


def calibrate_noise(
    truth: ArrayLike,
    panel: RaterPanel,
    target: float,
    *,
    seed: int = 0,
    lo: float = 0.0,
    hi: float = 5.0,
    iters: int = 24,
    score: Callable[[NDArray[np.float64]], float] = agreement,
) -> float:
    """The ``noise_sd`` at which ``panel`` reaches agreement ``target`` on ``truth``.

    Bisection with common random numbers (the same seed for every trial, so agreement falls
    monotonically in the noise up to rounding). Returns ``hi`` if even ``hi`` agrees too much.
    """
    t = np.asarray(truth, dtype=np.float64)

    def agree(noise: float) -> float:
        return score(panel.with_noise(noise).rate(t, np.random.default_rng(seed)))

    if agree(hi) > target:
        return hi
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if agree(mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pairwise_agreement(ratings_a: ArrayLike, ratings_b: ArrayLike, tie_margin: float = 0.0) -> float:
    """How often two raters agree on a pair's preference (a, b or tie), averaged over rater pairs.

    ``ratings_a`` / ``ratings_b``: ``(n_pairs, K)`` scores of the two images of each pair; a rater
    prefers the higher score, or calls a tie when the two differ by at most ``tie_margin``.
    """
    a = np.asarray(ratings_a, dtype=np.float64)
    b = np.asarray(ratings_b, dtype=np.float64)
    d = a - b
    votes = np.where(np.abs(d) <= tie_margin, 0, np.sign(d))
    k = votes.shape[1]
    same = [np.mean(votes[:, i] == votes[:, j]) for i in range(k) for j in range(i + 1, k)]
    return float(np.mean(same)) if same else float("nan")
