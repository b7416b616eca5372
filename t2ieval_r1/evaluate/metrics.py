"""Benchmark metrics from parsed predictions: correlations per aspect, pairwise accuracy, parse rates.

Correlation benchmarks (T2I-Eval-like per aspect, TIFA-like): for the units of one aspect,
:func:`common.scoring.meta_evaluate` of the predicted scores against the human labels (the
raters' mean): Spearman rho, Kendall tau-b, Pearson r, each with a paired percentile-bootstrap
interval, and the missing-prediction policy (``mean_fill``: T2I-Eval-Bench's protocol, every
failed parse replaced by the mean of the valid predictions of that aspect; counted in
``n_missing``, the fill value in ``fill_value``). With no valid prediction at all the statistics
are ``None`` (nothing to fill with).

Pairwise benchmarks (ImageReward-like): each pair gets a predicted relation from its two scores
(:func:`common.scoring.pairwise.relation`, ties when ``|s_a - s_b| <= tie_tolerance``) and is
scored against the human preference (:func:`common.scoring.pairwise.accuracy_from_relations`):
``accuracy`` over the pairs humans did not tie, ``accuracy_with_ties`` over all pairs. Missing
scores are filled first: single-wise scoring fills a missing image score with the mean of the
valid image scores (the same mean-fill as above; with none valid, the scale's midpoint), so a
pair with one failed side compares against the mean; the pairwise prompt treats a failed pair
as a predicted tie (both sides filled with the same value). Intervals: a cluster bootstrap over
groups (images of one prompt; each pair its own group when the corpus has none), resampling
groups with replacement and taking the ratio of the summed counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.scoring.bootstrap import BootstrapConfig, group_resample_weights, percentile_interval
from common.scoring.meta import meta_evaluate
from common.scoring.pairwise import accuracy_from_relations, relation
from t2ieval_r1.evaluate.answers import ParsedPrediction
from t2ieval_r1.evaluate.units import Unit

__all__ = ["correlation_metrics", "pair_predictions", "pairwise_metrics", "parse_stats"]

_PREF_RELATION = {"a": 1, "b": -1, "tie": 0}


def parse_stats(preds: Sequence[ParsedPrediction]) -> dict[str, Any]:
    """``n``, ``n_failed``, ``failure_rate``, ``format_rate`` (exactly well formed) and failures by reason."""
    n = len(preds)
    failures = Counter(p.failure for p in preds if p.failure is not None)
    n_failed = sum(failures.values())
    return {
        "n": n,
        "n_failed": n_failed,
        "failure_rate": n_failed / n if n else None,
        "format_rate": sum(p.well_formed for p in preds) / n if n else None,
        "failures": dict(sorted(failures.items())),
    }


def correlation_metrics(
    units: Sequence[Unit],
    preds: Sequence[ParsedPrediction],
    *,
    statistics: Sequence[str] = ("spearman", "kendall", "pearson"),
    bootstrap: BootstrapConfig | None = None,
    missing: str = "mean_fill",
) -> dict[str, dict[str, Any]]:
    """Per aspect: statistics with intervals, missing-prediction report and parse rates."""
    by_aspect: dict[str, list[int]] = {}
    for k, unit in enumerate(units):
        if unit.label is None:
            raise ValueError(f"unit {unit.key!r} has no human score; correlation needs single-wise rows")
        by_aspect.setdefault(unit.aspect, []).append(k)
    out: dict[str, dict[str, Any]] = {}
    for aspect, idx in by_aspect.items():
        human = {units[k].key: float(units[k].label) for k in idx}  # type: ignore[arg-type]
        pred = {units[k].key: preds[k].value for k in idx}  # type: ignore[misc]
        stats = parse_stats([preds[k] for k in idx])
        if stats["n_failed"] == len(idx):
            res: dict[str, Any] = {s: None for s in statistics}
            res.update({f"{s}_ci": None for s in statistics} if bootstrap is not None else {})
            res.update(
                n=len(idx), n_total=len(idx), n_missing=len(idx), missing_policy=missing, fill_value=None
            )
            res["note"] = "every prediction is missing: no correlation"
        else:
            res = meta_evaluate(pred, human, metrics=list(statistics), bootstrap=bootstrap, missing=missing)
        res["parse"] = stats
        out[aspect] = res
    return out


def pair_predictions(
    units: Sequence[Unit], preds: Sequence[ParsedPrediction]
) -> tuple[list[str], list[str | None], np.ndarray, np.ndarray, int]:
    """Per pair: row id, group, filled scores ``s_a``, ``s_b`` and the number of filled values.

    Accepts the units of either pair mode (two ``single`` sides per row, or one ``pair`` unit);
    filling as in the module docstring.
    """
    if not units:
        return [], [], np.zeros(0), np.zeros(0), 0
    lo, hi = units[0].scale
    if units[0].kind == "pair":
        rows = [u.row_id for u in units]
        groups = [u.group for u in units]
        sa, sb, n_filled = [], [], 0
        for p in preds:
            if isinstance(p.value, tuple):
                sa.append(p.value[0])
                sb.append(p.value[1])
            else:
                sa.append((lo + hi) / 2)
                sb.append((lo + hi) / 2)
                n_filled += 2
        return rows, groups, np.asarray(sa), np.asarray(sb), n_filled
    valid = [float(p.value) for p in preds if isinstance(p.value, float)]
    fill = float(np.mean(valid)) if valid else (lo + hi) / 2
    sides: dict[str, dict[str, float]] = {}
    order: list[str] = []
    group_of: dict[str, str | None] = {}
    n_filled = 0
    for unit, p in zip(units, preds, strict=True):
        if unit.row_id not in sides:
            sides[unit.row_id] = {}
            order.append(unit.row_id)
            group_of[unit.row_id] = unit.group
        if isinstance(p.value, float):
            sides[unit.row_id][str(unit.side)] = p.value
        else:
            sides[unit.row_id][str(unit.side)] = fill
            n_filled += 1
    sa = np.asarray([sides[r]["a"] for r in order])
    sb = np.asarray([sides[r]["b"] for r in order])
    return order, [group_of[r] for r in order], sa, sb, n_filled


def pairwise_metrics(
    units: Sequence[Unit],
    preds: Sequence[ParsedPrediction],
    *,
    bootstrap: BootstrapConfig | None = None,
    tie_tolerance: float = 0.0,
) -> dict[str, Any]:
    """Pairwise accuracy (without / with human ties), intervals, fills and parse rates."""
    rows, groups, sa, sb, n_filled = pair_predictions(units, preds)
    pref_of: dict[str, str] = {}
    for u in units:
        if u.preference is None:
            raise ValueError(f"unit {u.key!r} has no preference; pairwise accuracy needs pairwise rows")
        pref_of[u.row_id] = u.preference
    human = np.asarray([_PREF_RELATION[pref_of[r]] for r in rows], dtype=np.int64)
    pred_rel = relation(sa, sb, tie_tolerance) if rows else np.zeros(0, dtype=np.int64)
    res = accuracy_from_relations(pred_rel, human)
    out: dict[str, Any] = {
        "accuracy": res.accuracy,
        "accuracy_with_ties": res.accuracy_with_ties,
        "n_pairs": res.n_pairs,
        "n_human_ties": res.n_human_ties,
        "n_pred_ties": res.n_pred_ties,
        "n_correct": res.n_correct,
        "n_correct_with_ties": res.n_correct_with_ties,
        "n_filled_scores": n_filled,
        "tie_tolerance": tie_tolerance,
        "pair_mode": units[0].kind if units else None,
    }
    if bootstrap is not None and rows:
        keys = [g if g is not None else f"row:{r}" for g, r in zip(groups, rows, strict=True)]
        codes: dict[str, int] = {}
        gid = np.asarray([codes.setdefault(k, len(codes)) for k in keys], dtype=np.int64)
        hit = pred_rel == human
        nontie = human != 0
        counts = {
            "accuracy": (np.bincount(gid, hit & nontie, len(codes)), np.bincount(gid, nontie, len(codes))),
            "accuracy_with_ties": (np.bincount(gid, hit, len(codes)), np.bincount(gid, minlength=len(codes))),
        }
        weights = group_resample_weights(len(codes), bootstrap.n_resamples, bootstrap.seed)
        for name, (num, den) in counts.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                dist = (weights @ num) / (weights @ den)
            out[f"{name}_ci"] = percentile_interval(dist, bootstrap.confidence).as_list()
        out["bootstrap"] = {**bootstrap.as_dict(), "unit": "group", "n_groups": len(codes)}
    out["parse"] = parse_stats(preds)
    return out
