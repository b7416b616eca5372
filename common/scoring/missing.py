"""An explicit policy for missing predictions, and a report of its use.

A prediction is *missing* when it is ``None`` or not finite (``nan``, ``inf``): the evaluator's
answer could not be parsed, it timed out, or the item was never scored. Policies:

* ``"mean_fill"`` (T2I-Eval's protocol): replace each missing prediction by the mean of the valid
  predictions, ``fill = mean{p_i : p_i valid}``; every item is kept (``n_used = n_total``).
* ``"drop"``: remove the items whose prediction is missing (from the human side too).
* ``"error"``: raise if any prediction is missing.

Either way the number of missing predictions is reported (:class:`MissingReport`), so a table can
say "12 of 800 filled" and a reader can tell a strong evaluator from one that often fails to answer.
Human scores must all be present and finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

MISSING_POLICIES = ("mean_fill", "drop", "error")


@dataclass(frozen=True)
class MissingReport:
    """How many predictions were missing and what was done about it."""

    policy: str
    n_total: int
    n_missing: int
    n_used: int
    fill_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "missing_policy": self.policy,
            "n_total": self.n_total,
            "n_missing": self.n_missing,
            "n_used": self.n_used,
            "fill_value": self.fill_value,
        }


@dataclass(frozen=True)
class MissingResult:
    """Predictions and human scores after the policy, the kept-item mask, and the report."""

    pred: NDArray[np.float64]
    human: NDArray[np.float64]
    kept: NDArray[np.bool_]
    report: MissingReport


def is_missing(value: Any) -> bool:
    """``True`` for ``None`` and non-finite numbers; raises ``TypeError`` on non-numbers."""
    if value is None:
        return True
    if isinstance(value, bool | str | bytes):
        raise TypeError(f"a prediction must be a number or None, got {value!r}")
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        raise TypeError(f"a prediction must be a number or None, got {value!r}") from None


def apply_missing_policy(
    pred: Sequence[float | None] | ArrayLike, human: ArrayLike, policy: str = "mean_fill"
) -> MissingResult:
    """Apply ``policy`` (one of :data:`MISSING_POLICIES`) to ``pred`` aligned with ``human``."""
    if policy not in MISSING_POLICIES:
        raise ValueError(
            f"unknown missing-prediction policy {policy!r}; known: {', '.join(MISSING_POLICIES)}"
        )
    values = list(pred)  # type: ignore[arg-type]
    h = np.asarray(human, dtype=np.float64)
    if h.ndim != 1 or h.size != len(values):
        raise ValueError(f"pred and human must be 1-D of equal length, got {len(values)} and {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError("human scores must all be finite")
    missing = np.array([is_missing(v) for v in values], dtype=bool)
    p = np.array([np.nan if m else float(v) for v, m in zip(values, missing, strict=True)], dtype=np.float64)
    n_total, n_missing = len(values), int(missing.sum())
    if policy == "error" and n_missing:
        first = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{n_missing} of {n_total} predictions are missing (first at position {first})")
    if policy in ("drop", "error"):
        kept = ~missing
        report = MissingReport(policy, n_total, n_missing, int(kept.sum()))
        return MissingResult(p[kept], h[kept], kept, report)
    # mean_fill
    if n_missing == n_total and n_total > 0:
        raise ValueError(f"all {n_total} predictions are missing: no mean to fill with")
    fill = float(p[~missing].mean()) if n_missing else None
    if fill is not None:
        p[missing] = fill
    kept = np.ones(n_total, dtype=bool)
    return MissingResult(p, h, kept, MissingReport(policy, n_total, n_missing, n_total, fill))
