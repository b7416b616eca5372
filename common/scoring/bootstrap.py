"""Seeded percentile-bootstrap confidence intervals.

Given ``n`` items with a prediction ``x_i`` and a human score ``y_i``, one resample draws ``n``
item indices uniformly with replacement, ``I_b = (i_1, ..., i_n)``, and evaluates the statistic on
the *paired* resample ``(x[I_b], y[I_b])``: an item keeps its prediction and its human score
together, which is what a correlation needs. Over ``B`` resamples the percentile interval at
confidence ``c`` is ``[q(alpha / 2), q(1 - alpha / 2)]`` with ``alpha = 1 - c`` and ``q`` the
empirical quantile (linear interpolation, :func:`numpy.quantile`) of the ``B`` statistics.

Resamples on which the statistic is undefined (``nan``, e.g. a resample whose predictions are all
equal) are left out of the quantiles and counted in ``n_invalid``.

Indices come from ``numpy.random.default_rng(seed)``, so the same seed gives the same interval, and
one index matrix can be shared by several statistics (:func:`resample_indices`) so that their
intervals come from the same resamples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Batched statistic: ``f(x, y)`` with ``x, y`` of shape ``(B, n)`` returning shape ``(B,)``.
BatchedStatistic = Callable[[NDArray[np.float64], NDArray[np.float64]], Any]

#: Upper bound on ``rows * n`` evaluated at once (bounds memory for large benchmarks).
_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class BootstrapConfig:
    """Settings of a bootstrap: number of resamples, confidence level, seed."""

    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples must be >= 1, got {self.n_resamples}")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    @classmethod
    def coerce(cls, value: BootstrapConfig | Mapping[str, Any] | int | bool | None) -> BootstrapConfig | None:
        """``None``/``False``/``0`` -> no bootstrap; an int -> that many resamples; a mapping -> fields."""
        if value is None or value is False:
            return None
        if isinstance(value, cls):
            return value
        if value is True:
            return cls()
        if isinstance(value, int):
            return cls(n_resamples=value) if value > 0 else None
        if isinstance(value, Mapping):
            return cls(**dict(value))
        raise TypeError(f"cannot make a BootstrapConfig from {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": "percentile",
            "n_resamples": self.n_resamples,
            "confidence": self.confidence,
            "seed": self.seed,
        }


#: The default of :func:`common.scoring.meta.meta_evaluate`: 1000 resamples, 95%, seed 0.
DEFAULT_BOOTSTRAP = BootstrapConfig()


@dataclass(frozen=True)
class ConfidenceInterval:
    """A percentile interval ``[low, high]`` and how many resamples went into it."""

    low: float
    high: float
    confidence: float
    n_resamples: int
    n_invalid: int = 0

    def as_list(self) -> list[float]:
        return [self.low, self.high]

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.low <= value <= self.high


def resample_indices(n: int, n_resamples: int, seed: int = 0) -> NDArray[np.int64]:
    """A ``(n_resamples, n)`` matrix of item indices drawn uniformly with replacement."""
    if n < 1:
        raise ValueError(f"cannot resample {n} items")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_resamples, n), dtype=np.int64)


def percentile_interval(values: ArrayLike, confidence: float = 0.95) -> ConfidenceInterval:
    """The percentile interval of bootstrap statistics ``values`` (``nan`` entries left out)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    valid = v[np.isfinite(v)]
    n_invalid = int(v.size - valid.size)
    if valid.size == 0:
        return ConfidenceInterval(float("nan"), float("nan"), confidence, int(v.size), n_invalid)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    return ConfidenceInterval(float(lo), float(hi), confidence, int(v.size), n_invalid)


def bootstrap_distribution(
    statistic: BatchedStatistic, x: ArrayLike, y: ArrayLike, indices: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The statistic on every paired resample ``(x[I_b], y[I_b])``, in chunks of rows."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {xa.shape} and {ya.shape}")
    rows = max(1, _CHUNK_ELEMENTS // max(1, indices.shape[1]))
    out = [
        np.asarray(statistic(xa[indices[s : s + rows]], ya[indices[s : s + rows]]), dtype=np.float64).ravel()
        for s in range(0, indices.shape[0], rows)
    ]
    return np.concatenate(out) if out else np.empty(0)


def bootstrap_ci(
    statistic: BatchedStatistic,
    x: ArrayLike,
    y: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    indices: NDArray[np.int64] | None = None,
) -> ConfidenceInterval:
    """Paired percentile-bootstrap interval of ``statistic(x, y)`` (see module doc).

    ``statistic`` must accept ``(B, n)`` batches (every function of :mod:`common.scoring.correlation`
    and :mod:`common.scoring.errors` does). Pass ``indices`` to reuse resamples across statistics.
    """
    cfg = BootstrapConfig(n_resamples, confidence, seed)
    n = int(np.asarray(x).shape[0])
    idx = indices if indices is not None else resample_indices(n, cfg.n_resamples, cfg.seed)
    return percentile_interval(bootstrap_distribution(statistic, x, y, idx), cfg.confidence)


def group_resample_weights(n_groups: int, n_resamples: int, seed: int = 0) -> NDArray[np.int64]:
    """``W[b, g]`` = how many times group ``g`` is drawn in resample ``b`` (a cluster bootstrap)."""
    idx = resample_indices(n_groups, n_resamples, seed)
    offsets = idx + np.arange(n_resamples, dtype=np.int64)[:, None] * n_groups
    return np.bincount(offsets.ravel(), minlength=n_resamples * n_groups).reshape(n_resamples, n_groups)
