"""``meta_evaluate``: how well an evaluator's scores agree with human scores, in one call.

Steps: align predictions with human scores (by position, or by id when both are mappings), apply
the missing-prediction policy (:mod:`common.scoring.missing`, reported either way), compute each
requested statistic, and add paired percentile-bootstrap intervals (:mod:`common.scoring.bootstrap`)
computed from ONE shared matrix of resampled item indices.

Statistics by name (:data:`STATISTICS`): ``pearson``, ``spearman``, ``kendall`` (tau-b; alias
``kendall_tau_b``), ``mae``, ``rmse``; and, when ``groups`` is given, the pairwise accuracies
``pairwise_acc`` (human ties excluded) and ``pairwise_acc_ties`` (all pairs) over pairs of items of
the same group (:mod:`common.scoring.pairwise`). Pairwise intervals resample whole groups (a
cluster bootstrap), since pairs are formed within groups. Pass ``groups=[0] * n`` for all pairs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from common.registry import Registry
from common.scoring.bootstrap import (
    DEFAULT_BOOTSTRAP,
    BootstrapConfig,
    bootstrap_distribution,
    group_resample_weights,
    percentile_interval,
    resample_indices,
)
from common.scoring.correlation import Statistic, kendall_tau_b, pearson, spearman
from common.scoring.errors import mae, rmse
from common.scoring.missing import apply_missing_policy
from common.scoring.pairwise import group_pair_counts

STATISTICS: Registry[Statistic] = Registry("meta-evaluation statistic")
STATISTICS.register("pearson")(pearson)
STATISTICS.register("spearman")(spearman)
STATISTICS.register("kendall", "kendall_tau_b")(kendall_tau_b)
STATISTICS.register("mae")(mae)
STATISTICS.register("rmse")(rmse)

#: Pairwise accuracies (need ``groups``): without human ties, and over all pairs.
PAIRWISE_METRICS = ("pairwise_acc", "pairwise_acc_ties")

Scores = Sequence[float | None] | Mapping[Any, float | None]


def align(
    pred: Scores, human: Scores, groups: Sequence[Hashable] | Mapping[Any, Hashable] | None = None
) -> tuple[list[float | None], list[float], list[Hashable] | None]:
    """Line up predictions, human scores and groups.

    With mappings, ``human``'s keys define the items (in its order): an id absent from ``pred`` is
    a missing prediction, and an id in ``pred`` but not in ``human`` is an error (a wrong
    benchmark or a typo should not pass silently). With sequences, items are matched by position.
    """
    if isinstance(human, Mapping):
        if not isinstance(pred, Mapping):
            raise TypeError("when human scores are a mapping (id -> score), predictions must be one too")
        unknown = [k for k in pred if k not in human]
        if unknown:
            raise ValueError(f"{len(unknown)} prediction id(s) are not benchmark items, e.g. {unknown[:3]!r}")
        ids = list(human)
        p = [pred.get(k) for k in ids]
        h = [human[k] for k in ids]
        if groups is None:
            g = None
        elif isinstance(groups, Mapping):
            g = [groups[k] for k in ids]
        else:
            g = list(groups)
    else:
        if isinstance(pred, Mapping):
            raise TypeError("predictions are a mapping but human scores are not; pass both as mappings")
        p, h = list(pred), list(human)  # type: ignore[arg-type]
        g = None if groups is None else list(groups.values() if isinstance(groups, Mapping) else groups)
    if len(p) != len(h):
        raise ValueError(f"{len(p)} predictions but {len(h)} human scores")
    if g is not None and len(g) != len(h):
        raise ValueError(f"{len(g)} group labels but {len(h)} items")
    return p, [float(v) for v in h], g  # type: ignore[arg-type]


def meta_evaluate(
    pred: Scores,
    human: Scores,
    metrics: Sequence[str] = ("pearson", "spearman", "kendall"),
    bootstrap: BootstrapConfig | Mapping[str, Any] | int | None = DEFAULT_BOOTSTRAP,
    missing: str = "mean_fill",
    groups: Sequence[Hashable] | Mapping[Any, Hashable] | None = None,
    tie_tolerance: float = 0.0,
    human_tie_tolerance: float = 0.0,
) -> dict[str, Any]:
    """Statistics of ``pred`` against ``human`` with bootstrap intervals and a missing report.

    Returns ``{"<metric>": x, "<metric>_ci": [lo, hi], ..., "n": used items, "n_total",
    "n_missing", "missing_policy", "fill_value", "bootstrap": {...}}``; ``bootstrap=None`` (or 0)
    skips the intervals. Pairwise metrics add ``pairwise_n_pairs``, ``pairwise_n_human_ties`` and
    ``pairwise_n_pred_ties``.
    """
    cfg = BootstrapConfig.coerce(bootstrap)
    metrics = list(metrics)
    pairwise = [m for m in metrics if m in PAIRWISE_METRICS]
    scalar = [m for m in metrics if m not in PAIRWISE_METRICS]
    fns = {m: STATISTICS.get(m) for m in scalar}  # fail fast on a typo
    if pairwise and groups is None:
        raise ValueError(f"{pairwise} need `groups` (items are compared only within a group)")

    p_raw, h_raw, g_raw = align(pred, human, groups)
    res = apply_missing_policy(p_raw, h_raw, missing)
    x, y = res.pred, res.human
    g = None if g_raw is None else [gr for gr, keep in zip(g_raw, res.kept, strict=True) if keep]

    out: dict[str, Any] = {}
    idx = resample_indices(x.size, cfg.n_resamples, cfg.seed) if (cfg and scalar and x.size) else None
    n_invalid: dict[str, int] = {}
    for name, fn in fns.items():
        out[name] = fn(x, y) if x.size else float("nan")
        if cfg is not None:
            if idx is None:
                out[f"{name}_ci"] = [float("nan"), float("nan")]
                continue
            ci = percentile_interval(bootstrap_distribution(fn, x, y, idx), cfg.confidence)
            out[f"{name}_ci"] = ci.as_list()
            n_invalid[name] = ci.n_invalid

    if pairwise:
        assert g is not None
        counts = group_pair_counts(x, y, g, tie_tolerance, human_tie_tolerance)
        totals = {k: int(v.sum()) for k, v in counts.items()}
        values = {
            "pairwise_acc": (counts["n_correct"], counts["n_nontie"]),
            "pairwise_acc_ties": (counts["n_correct_with_ties"], counts["n_pairs"]),
        }
        weights = group_resample_weights(len(counts["n_pairs"]), cfg.n_resamples, cfg.seed) if cfg else None
        for name in pairwise:
            num, den = values[name]
            out[name] = float(num.sum() / den.sum()) if den.sum() else float("nan")
            if weights is not None and cfg is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    dist = (weights @ num) / (weights @ den)
                ci = percentile_interval(dist, cfg.confidence)
                out[f"{name}_ci"] = ci.as_list()
                n_invalid[name] = ci.n_invalid
        out["pairwise_n_pairs"] = totals["n_pairs"]
        out["pairwise_n_human_ties"] = totals["n_pairs"] - totals["n_nontie"]
        out["pairwise_n_pred_ties"] = totals["n_pred_ties"]

    rep = res.report
    out.update(
        {
            "n": rep.n_used,
            "n_total": rep.n_total,
            "n_missing": rep.n_missing,
            "missing_policy": rep.policy,
            "fill_value": rep.fill_value,
        }
    )
    if cfg is not None:
        out["bootstrap"] = {**cfg.as_dict(), "n_invalid": n_invalid}
    return out
