"""Correlation coefficients between predicted scores and human scores.

Every function takes two arrays ``x`` (e.g. a metric's predictions) and ``y`` (e.g. the human
average) of shape ``(..., n)`` and correlates them along the last axis: a pair of 1-D arrays gives
a Python ``float``, a batch of shape ``(B, n)`` (one row per bootstrap resample) gives an array of
shape ``(B,)``. Inputs must be finite (apply a :mod:`common.scoring.missing` policy first).
A coefficient that is undefined (a constant row, fewer than two items) is ``nan``, never an error
and never a warning.

Formulas, for items ``i = 1..n``:

* Pearson: ``r = sum_i (x_i - mean x)(y_i - mean y) / sqrt(sum_i (x_i - mean x)^2 * sum_i (y_i - mean y)^2)``.
* Spearman: Pearson's ``r`` of the ranks of ``x`` and of ``y``, tied values sharing the average of
  the ranks they span (so ``[2, 4, 5, 4]`` ranks as ``[1, 2.5, 4, 2.5]``).
* Kendall tau-b: over the ``n0 = n (n - 1) / 2`` unordered pairs ``(i, j)``, ``C`` pairs are
  concordant (``sign(x_i - x_j) * sign(y_i - y_j) = +1``), ``D`` discordant (``= -1``), ``n1``
  pairs are tied in ``x`` and ``n2`` tied in ``y`` (a pair tied in both counts in both), and
  ``tau_b = (C - D) / sqrt((n0 - n1) * (n0 - n2))``. Computed by :func:`scipy.stats.kendalltau`
  (``variant="b"``, an O(n log n) algorithm); the tests check it against this definition by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

#: A correlation-like statistic: ``f(x, y)`` along the last axis, ``float`` for 1-D inputs.
Statistic = Callable[[ArrayLike, ArrayLike], "float | NDArray[np.float64]"]


def check_pair(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate and convert two arrays of equal shape ``(..., n)`` with finite values."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape:
        raise ValueError(f"x and y must have the same shape, got {xa.shape} and {ya.shape}")
    if xa.ndim == 0:
        raise ValueError("x and y must be arrays of shape (..., n), got scalars")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise ValueError("x and y must be finite; apply a missing-prediction policy first")
    return xa, ya


def as_result(values: NDArray[np.float64]) -> float | NDArray[np.float64]:
    """A 0-d result as a Python float, a batch as an array."""
    return float(values) if values.ndim == 0 else values


def _pearson_along_last(xa: NDArray[np.float64], ya: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pearson's r along the last axis; ``nan`` where either row is constant or n < 2."""
    if xa.shape[-1] < 2:
        return np.full(xa.shape[:-1], np.nan)
    dx = xa - xa.mean(axis=-1, keepdims=True)
    dy = ya - ya.mean(axis=-1, keepdims=True)
    sxx = np.einsum("...i,...i->...", dx, dx)
    syy = np.einsum("...i,...i->...", dy, dy)
    sxy = np.einsum("...i,...i->...", dx, dy)
    denom = np.sqrt(sxx * syy)
    ok = (np.ptp(xa, axis=-1) > 0) & (np.ptp(ya, axis=-1) > 0)  # a constant row has no correlation
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(ok, sxy / np.where(ok, denom, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def pearson(x: ArrayLike, y: ArrayLike) -> float | NDArray[np.float64]:
    """Pearson's linear correlation ``r`` of ``x`` and ``y`` along the last axis (see module doc)."""
    xa, ya = check_pair(x, y)
    return as_result(_pearson_along_last(xa, ya))


def spearman(x: ArrayLike, y: ArrayLike) -> float | NDArray[np.float64]:
    """Spearman's ``rho``: Pearson's ``r`` of the average ranks (ties share their mean rank)."""
    xa, ya = check_pair(x, y)
    rx = stats.rankdata(xa, method="average", axis=-1)
    ry = stats.rankdata(ya, method="average", axis=-1)
    return as_result(_pearson_along_last(np.asarray(rx, np.float64), np.asarray(ry, np.float64)))


def _kendall_1d(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    if x.size < 2 or np.ptp(x) == 0.0 or np.ptp(y) == 0.0:
        return float("nan")
    tau = float(stats.kendalltau(x, y, variant="b").statistic)
    return float(np.clip(tau, -1.0, 1.0))


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> float | NDArray[np.float64]:
    """Kendall's tau-b ``(C - D) / sqrt((n0 - n1)(n0 - n2))`` along the last axis (see module doc)."""
    xa, ya = check_pair(x, y)
    if xa.ndim == 1:
        return _kendall_1d(xa, ya)
    flat_x = xa.reshape(-1, xa.shape[-1])
    flat_y = ya.reshape(-1, ya.shape[-1])
    taus = np.array([_kendall_1d(a, b) for a, b in zip(flat_x, flat_y, strict=True)], dtype=np.float64)
    return taus.reshape(xa.shape[:-1])


def kendall_tau_b_pairs(x: ArrayLike, y: ArrayLike) -> float:
    """Kendall's tau-b by the O(n^2) pair-counting definition (1-D only; a reference for tests).

    Slow but literal: counts ``C``, ``D``, ``n1``, ``n2`` over all ``i < j``.
    """
    xa, ya = check_pair(x, y)
    if xa.ndim != 1:
        raise ValueError("kendall_tau_b_pairs takes 1-D arrays")
    n = xa.size
    iu, ju = np.triu_indices(n, k=1)
    sx = np.sign(xa[iu] - xa[ju])
    sy = np.sign(ya[iu] - ya[ju])
    n0 = iu.size
    n1 = int(np.sum(sx == 0))
    n2 = int(np.sum(sy == 0))
    s = sx * sy
    c, d = int(np.sum(s > 0)), int(np.sum(s < 0))
    denom = float(np.sqrt(float(n0 - n1) * float(n0 - n2)))
    return float("nan") if denom == 0.0 else (c - d) / denom
