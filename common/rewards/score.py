"""Single-wise score rewards: how close a predicted score ``p`` is to the label ``y`` on [lo, hi].

Source: T2I-Eval-R1 (docs/papers/t2i_eval_r1.md §3, this project's formulation, configurable):

* continuous (default): ``r = 1 - |p - y| / (hi - lo)``, clipped to [0, 1];
* gaussian kernel:      ``r = exp(-(p - y)^2 / (2 s^2))`` with ``s = sigma`` in score units;
* discrete (ablation):  ``r = 1[|p - y| <= tol]``.

A missing prediction (None, or NaN/inf) gets reward 0. A non-finite label or an empty scale
(``hi <= lo``) is a caller bug and raises ``ValueError``. All rewards lie in [0, 1].
"""

from __future__ import annotations

import math

from common.rewards.registry import ITEM_REWARDS

__all__ = ["check_scale", "finite_or_none", "score_continuous", "score_discrete", "score_gaussian"]


def check_scale(lo: float, hi: float) -> float:
    """Validate a score scale and return its width ``hi - lo``."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"a score scale needs finite lo < hi, got lo={lo!r}, hi={hi!r}")
    return float(hi - lo)


def finite_or_none(x: float | None) -> float | None:
    """``float(x)`` if ``x`` is a finite number (not a string or bool), else None."""
    if x is None or isinstance(x, str | bytes | bool):
        return None
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _label(y: float) -> float:
    value = finite_or_none(y)
    if value is None:
        raise ValueError(f"the label must be a finite number, got {y!r}")
    return value


@ITEM_REWARDS.register("score_continuous", "continuous")
def score_continuous(pred: float | None, label: float, *, lo: float = 0.0, hi: float = 10.0) -> float:
    """``clip(1 - |p - y| / (hi - lo), 0, 1)``; 0 when ``pred`` is missing."""
    width = check_scale(lo, hi)
    y = _label(label)
    p = finite_or_none(pred)
    if p is None:
        return 0.0
    return min(1.0, max(0.0, 1.0 - abs(p - y) / width))


@ITEM_REWARDS.register("score_gaussian", "gaussian")
def score_gaussian(
    pred: float | None, label: float, *, lo: float = 0.0, hi: float = 10.0, sigma: float = 1.0
) -> float:
    """``exp(-(p - y)^2 / (2 sigma^2))`` (``sigma`` in score points); 0 when ``pred`` is missing."""
    check_scale(lo, hi)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    y = _label(label)
    p = finite_or_none(pred)
    if p is None:
        return 0.0
    z = abs(p - y) / sigma
    return math.exp(-0.5 * z * z) if z < 40.0 else 0.0  # exp(-800) is 0 in double anyway


@ITEM_REWARDS.register("score_discrete", "discrete")
def score_discrete(
    pred: float | None, label: float, *, lo: float = 0.0, hi: float = 10.0, tol: float = 0.5
) -> float:
    """``1[|p - y| <= tol]``; 0 when ``pred`` is missing.

    The default ``tol = 0.5`` credits a prediction within half a point of the label (labels are
    often means of several annotators, e.g. 6.67); ``tol = 0`` asks for an exact match.
    """
    check_scale(lo, hi)
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    y = _label(label)
    p = finite_or_none(pred)
    if p is None:
        return 0.0
    return 1.0 if abs(p - y) <= tol + 1e-12 else 0.0
