"""Paired bootstrap of the difference between two scorers on the same items, over paired seeds.

Two systems A and B (e.g. a GRPO-trained evaluator and an SFT baseline) score the same ``n`` items
with human scores ``h``; each ran with ``S`` seeds, seed ``s`` of A paired with seed ``s`` of B.
For a statistic ``f`` of (predictions, human scores), e.g. Spearman's rho, the difference of seed
``s`` is

    d_s = f(a_s, h) - f(b_s, h)

and the reported difference is its mean over seeds, ``d = (1/S) sum_s d_s``.

One bootstrap resample draws ``n`` item indices ``I`` with replacement
(:func:`common.scoring.bootstrap.resample_indices`) and recomputes every ``d_s`` on
``(a_s[I], b_s[I], h[I])``: the same items for both systems and for every seed, so an item keeps
its two predictions and its human score together (the pairing) and the interval measures how much
the difference owes to which items the benchmark holds. The interval of ``d`` and of each ``d_s``
is the percentile interval of the resampled values (resamples where ``f`` is undefined, e.g. all
predictions equal, are left out and counted in ``n_invalid``; a resample is left out of the
mean's interval when any seed's is undefined). An undefined observed ``d_s`` makes ``d`` ``nan``
(shown as undefined), where the meta-evaluation's gain counts an undefined correlation as 0.
Seeds are not resampled, as three are too few to resample; the per-seed ``d_s`` show how much the
seeds vary. When the two systems are independent trainings, which seed is paired with which does
not change ``d`` or its interval, only the per-seed lines.

Missing predictions (``None``, e.g. an unparsed answer) are filled per system and seed before
resampling, with :func:`common.scoring.missing.apply_missing_policy`'s ``mean_fill``: the same
protocol as the meta-evaluation's own numbers (which fill per aspect, so pass one aspect's items),
so ``d_s`` is the difference of the two reported values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common.scoring.bootstrap import (
    BatchedStatistic,
    BootstrapConfig,
    ConfidenceInterval,
    bootstrap_distribution,
    percentile_interval,
    resample_indices,
)
from common.scoring.missing import apply_missing_policy

__all__ = ["PairedDifference", "paired_difference"]


@dataclass(frozen=True)
class PairedDifference:
    """``d`` and ``d_s`` of the module docstring, with their paired bootstrap intervals."""

    mean: float
    mean_ci: ConfidenceInterval
    per_seed: list[float]
    per_seed_ci: list[ConfidenceInterval]
    n_items: int
    n_missing_a: list[int]
    n_missing_b: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "mean_ci": self.mean_ci.as_list(),
            "per_seed": list(self.per_seed),
            "per_seed_ci": [ci.as_list() for ci in self.per_seed_ci],
            "n_items": self.n_items,
            "n_seeds": len(self.per_seed),
            "n_missing_a": list(self.n_missing_a),
            "n_missing_b": list(self.n_missing_b),
            "n_resamples": self.mean_ci.n_resamples,
            "confidence": self.mean_ci.confidence,
        }


def _filled(
    preds: Sequence[float | None], human: NDArray[np.float64], which: str, s: int
) -> tuple[NDArray[np.float64], int]:
    try:
        res = apply_missing_policy(preds, human, "mean_fill")
    except ValueError as e:
        raise ValueError(f"system {which}, seed index {s}: {e}") from None
    return res.pred, res.report.n_missing


def paired_difference(
    a: Sequence[Sequence[float | None]],
    b: Sequence[Sequence[float | None]],
    human: Sequence[float],
    statistic: BatchedStatistic,
    bootstrap: BootstrapConfig | None = None,
) -> PairedDifference:
    """The mean over paired seeds of ``f(a_s, h) - f(b_s, h)`` with its paired item bootstrap.

    ``a`` and ``b``: one row of ``n`` predictions per seed (row ``s`` of ``a`` paired with row ``s``
    of ``b``), aligned item by item with ``human``. ``statistic`` must accept ``(B, n)`` batches
    (:mod:`common.scoring.correlation`'s functions do).
    """
    cfg = bootstrap or BootstrapConfig()
    h = np.asarray(human, dtype=np.float64)
    if h.ndim != 1 or h.size < 2:
        raise ValueError(f"human must be 1-D with at least 2 items, got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("human scores must all be finite")
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"a and b need the same number of seeds (at least 1), got {len(a)} and {len(b)}")
    for name, rows in (("a", a), ("b", b)):
        for s, row in enumerate(rows):
            if len(row) != h.size:
                raise ValueError(f"system {name}, seed index {s}: {len(row)} predictions for {h.size} items")
    idx = resample_indices(h.size, cfg.n_resamples, cfg.seed)
    observed: list[float] = []
    resampled: list[NDArray[np.float64]] = []
    miss_a: list[int] = []
    miss_b: list[int] = []
    for s, (row_a, row_b) in enumerate(zip(a, b, strict=True)):
        pa, ma = _filled(row_a, h, "a", s)
        pb, mb = _filled(row_b, h, "b", s)
        miss_a.append(ma)
        miss_b.append(mb)
        observed.append(float(statistic(pa, h)) - float(statistic(pb, h)))
        resampled.append(
            bootstrap_distribution(statistic, pa, h, idx) - bootstrap_distribution(statistic, pb, h, idx)
        )
    per_seed_ci = [percentile_interval(r, cfg.confidence) for r in resampled]
    mean_ci = percentile_interval(np.mean(np.stack(resampled), axis=0), cfg.confidence)
    return PairedDifference(
        mean=float(np.mean(observed)),
        mean_ci=mean_ci,
        per_seed=observed,
        per_seed_ci=per_seed_ci,
        n_items=int(h.size),
        n_missing_a=miss_a,
        n_missing_b=miss_b,
    )
