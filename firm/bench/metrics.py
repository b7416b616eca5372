"""Mean absolute error per FIRM-Bench column, with an explicit policy for unparseable answers.

``MAE = mean_i |p_i - h_i|`` over a column's items (:func:`common.scoring.errors.mae`), ``p``
the critic's parsed 1-5 score and ``h`` the human-like reference. A critic's answer that cannot
be parsed (or whose request failed) is *missing*; the policies are those of
:mod:`common.scoring.missing`:

* ``mean_fill`` (default; T2I-Eval's protocol): a missing prediction becomes the mean of the
  column's parsed predictions. When nothing in a column parses there is no mean: the scale's
  midpoint, 3, is used instead (an uninformed guess; ``fill_value`` reports it);
* ``drop``: missing items leave the column (``n_used`` says how many remain; this flatters a
  critic that often fails, so it is not the default);
* ``error``: any missing prediction is an error.

The number of missing answers per column and their reasons are always reported. An overall
column pools the items of its columns after each column's policy. Each column also reports
Spearman's rho between the (filled) predictions and the human scores (:attr:`ColumnResult.spearman`;
not a FIRM-Bench metric: it tells a critic that ranks the items apart from one that scores
near their mean, which MAE alone does not; None when either side is constant).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.scoring.correlation import spearman
from common.scoring.errors import mae
from common.scoring.missing import MISSING_POLICIES, apply_missing_policy
from firm.bench.items import OVERALL
from firm.bench.verdicts import JudgeItem
from firm.prompts.rm import RMVerdict

__all__ = [
    "MIDPOINT",
    "ColumnResult",
    "best_constant_columns",
    "overall_result",
    "score_column",
    "score_columns",
]

MIDPOINT = 3.0
"""The fill value of ``mean_fill`` when no answer of a column parses (the middle of 1-5)."""


@dataclass
class ColumnResult:
    """A column's MAE and how it was reached."""

    mae: float
    n: int
    n_used: int
    n_missing: int
    fill_value: float | None
    failures: dict[str, int] = field(default_factory=dict)
    pred: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    human: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @property
    def spearman(self) -> float | None:
        """Spearman's rho of the predictions used for the MAE against the human scores (None if undefined)."""
        if len(self.pred) < 2 or np.ptp(self.pred) == 0 or np.ptp(self.human) == 0:
            return None
        return float(spearman(self.pred, self.human))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mae": self.mae,
            "spearman": self.spearman,
            "n": self.n,
            "n_used": self.n_used,
            "n_missing": self.n_missing,
            "fill_value": self.fill_value,
            "failures": dict(self.failures),
        }


def score_column(
    verdicts: Sequence[RMVerdict], items: Sequence[JudgeItem], policy: str = "mean_fill"
) -> ColumnResult:
    """MAE of ``verdicts`` against the items' scores under ``policy`` (module docstring)."""
    if policy not in MISSING_POLICIES:
        raise ValueError(f"unknown missing-answer policy {policy!r}; known: {', '.join(MISSING_POLICIES)}")
    if len(verdicts) != len(items):
        raise ValueError(f"{len(verdicts)} verdicts for {len(items)} items")
    pred = [v.score for v in verdicts]
    human = np.array([it.score for it in items], dtype=np.float64)
    failures = dict(Counter(str(v.error) for v in verdicts if v.score is None))
    n_missing = sum(failures.values())
    if policy == "mean_fill" and items and n_missing == len(items):
        p = np.full(len(items), MIDPOINT)
        return ColumnResult(
            float(mae(p, human)), len(items), len(items), n_missing, MIDPOINT, failures, p, human
        )
    res = apply_missing_policy(pred, human, policy)
    value = float(mae(res.pred, res.human)) if len(res.pred) else float("nan")
    rep = res.report
    return ColumnResult(
        value, rep.n_total, rep.n_used, rep.n_missing, rep.fill_value, failures, res.pred, res.human
    )


def overall_result(parts: Sequence[ColumnResult]) -> ColumnResult:
    """The pooled MAE of several columns (item-weighted), with their counts summed."""
    pred = np.concatenate([p.pred for p in parts]) if parts else np.zeros(0)
    human = np.concatenate([p.human for p in parts]) if parts else np.zeros(0)
    failures: Counter[str] = Counter()
    for p in parts:
        failures.update(p.failures)
    return ColumnResult(
        float(mae(pred, human)) if len(pred) else float("nan"),
        sum(p.n for p in parts),
        sum(p.n_used for p in parts),
        sum(p.n_missing for p in parts),
        None,
        dict(failures),
        pred,
        human,
    )


def best_constant_columns(items: Mapping[str, Sequence[JudgeItem]]) -> dict[str, ColumnResult]:
    """The honest floor: per column, the constant prediction with the lowest MAE, the median of the
    column's human scores (``argmin_c mean_i |c - h_i|``); an overall column pools its columns'
    constants (a critic may answer one constant per column). It is fitted on the scored items
    themselves, so it is a little better than any constant chosen without them."""
    out: dict[str, ColumnResult] = {}
    for col, its in items.items():
        human = np.array([it.score for it in its], dtype=np.float64)
        pred = np.full(len(human), float(np.median(human)) if len(human) else MIDPOINT)
        out[col] = ColumnResult(
            float(mae(pred, human)) if len(human) else float("nan"),
            len(human),
            len(human),
            0,
            None,
            {},
            pred,
            human,
        )
    for name, parts in OVERALL.items():
        if all(p in out for p in parts):
            out[name] = overall_result([out[p] for p in parts])
    return out


def score_columns(
    verdicts: Mapping[str, Sequence[RMVerdict]],
    items: Mapping[str, Sequence[JudgeItem]],
    policy: str = "mean_fill",
) -> dict[str, ColumnResult]:
    """Every judged column, plus the overall columns whose parts were all judged."""
    out = {col: score_column(verdicts[col], items[col], policy) for col in verdicts}
    for name, parts in OVERALL.items():
        if all(p in out for p in parts):
            out[name] = overall_result([out[p] for p in parts])
    return out
