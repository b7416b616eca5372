"""Pairwise rewards: the evaluator scores two images (``p_a``, ``p_b``), the label says which one
people preferred: ``"a"``, ``"b"`` or ``"tie"``.

Source: T2I-Eval-R1 (docs/papers/t2i_eval_r1.md §3, this project's formulation, configurable). With
``d = p_a - p_b`` and ``W = hi - lo``:

==========  =================================  =================================  ====================
reward      label "a"                          label "b"                          label "tie"
==========  =================================  =================================  ====================
continuous  ``clip(0.5 + d / (2W), 0, 1)``     ``clip(0.5 - d / (2W), 0, 1)``     ``clip(1 - |d| / W, 0, 1)``
sigmoid     ``sigmoid(d / T)``                 ``sigmoid(-d / T)``                ``2 sigmoid(-|d| / T)``
discrete    ``1[d > tie_tol]``                 ``1[d < -tie_tol]``                ``1[|d| <= tie_tol]``
verdict     ``1[v == "a"]``                    ``1[v == "b"]``                    ``1[v == "tie"]``
==========  =================================  =================================  ====================

Ties are explicit: the tie reward is highest (1) when the two scores are equal and falls with the
gap, at the same rate as the decisive rewards. In the discrete reward the three cases partition
the predictions (with the default ``tie_tol = 0``, "a" is exactly ``1[p_a > p_b]``). The sigmoid
temperature ``T`` is in score points. A missing prediction (None, or a NaN/inf score) gets 0.
All rewards lie in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from common.parsing import PairLabel
from common.rewards.registry import ITEM_REWARDS
from common.rewards.score import check_scale, finite_or_none

__all__ = [
    "normalize_pair_label",
    "pair_continuous",
    "pair_discrete",
    "pair_sigmoid",
    "pair_verdict",
]

_LABELS: dict[str, PairLabel] = {
    "a": "a",
    "1": "a",
    "image 1": "a",
    "image a": "a",
    "first": "a",
    "b": "b",
    "2": "b",
    "image 2": "b",
    "image b": "b",
    "second": "b",
    "tie": "tie",
    "equal": "tie",
    "draw": "tie",
    "same": "tie",
}


def normalize_pair_label(label: Any) -> PairLabel:
    """Map a pairwise label to ``"a" | "b" | "tie"`` (case-insensitive; also "1"/"2"/"Image 1"...).

    Raises ``ValueError`` on anything else: a bad label is a data bug, not a policy mistake.
    """
    if isinstance(label, str):
        key = " ".join(label.strip().lower().split())
        if key in _LABELS:
            return _LABELS[key]
    raise ValueError(f"a pairwise label must be 'a', 'b' or 'tie', got {label!r}")


def _pair(pred: Sequence[float] | None) -> tuple[float, float] | None:
    if pred is None or isinstance(pred, str):
        return None
    try:
        if len(pred) != 2:
            return None
        a, b = finite_or_none(pred[0]), finite_or_none(pred[1])
    except (TypeError, KeyError, IndexError):
        return None
    return (a, b) if a is not None and b is not None else None


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


@ITEM_REWARDS.register("pair_continuous")
def pair_continuous(pred: Sequence[float] | None, label: Any, *, lo: float = 0.0, hi: float = 10.0) -> float:
    """Margin reward ``clip(0.5 + (p_a - p_b) / (2 (hi - lo)), 0, 1)`` for "a" (see the table)."""
    width = check_scale(lo, hi)
    lab = normalize_pair_label(label)
    p = _pair(pred)
    if p is None:
        return 0.0
    d = p[0] - p[1]
    if lab == "a":
        return _clip01(0.5 + d / (2.0 * width))
    if lab == "b":
        return _clip01(0.5 - d / (2.0 * width))
    return _clip01(1.0 - abs(d) / width)


@ITEM_REWARDS.register("pair_sigmoid")
def pair_sigmoid(
    pred: Sequence[float] | None,
    label: Any,
    *,
    lo: float = 0.0,
    hi: float = 10.0,
    temperature: float = 1.0,
) -> float:
    """``sigmoid((p_a - p_b) / T)`` for "a", mirrored for "b", ``2 sigmoid(-|d| / T)`` for a tie."""
    check_scale(lo, hi)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    lab = normalize_pair_label(label)
    p = _pair(pred)
    if p is None:
        return 0.0
    d = (p[0] - p[1]) / temperature
    if lab == "a":
        return _sigmoid(d)
    if lab == "b":
        return _sigmoid(-d)
    return 2.0 * _sigmoid(-abs(d))


@ITEM_REWARDS.register("pair_discrete")
def pair_discrete(
    pred: Sequence[float] | None,
    label: Any,
    *,
    lo: float = 0.0,
    hi: float = 10.0,
    tie_tol: float = 0.0,
) -> float:
    """``1[p_a - p_b > tie_tol]`` for "a", ``1[p_b - p_a > tie_tol]`` for "b", ``1[|d| <= tie_tol]`` tie."""
    check_scale(lo, hi)
    if not (math.isfinite(tie_tol) and tie_tol >= 0):
        raise ValueError(f"tie_tol must be a finite number >= 0, got {tie_tol!r}")
    lab = normalize_pair_label(label)
    p = _pair(pred)
    if p is None:
        return 0.0
    d = p[0] - p[1]
    if lab == "a":
        return 1.0 if d > tie_tol else 0.0
    if lab == "b":
        return 1.0 if -d > tie_tol else 0.0
    return 1.0 if abs(d) <= tie_tol else 0.0


@ITEM_REWARDS.register("pair_verdict")
def pair_verdict(pred: str | None, label: Any, *, lo: float = 0.0, hi: float = 10.0) -> float:
    """``1[verdict == label]`` for answers that name the preferred image instead of scoring both.

    ``lo``/``hi`` are accepted (and ignored) so every pairwise reward has the same signature.
    """
    lab = normalize_pair_label(label)
    if not isinstance(pred, str):
        return 0.0
    try:
        verdict = normalize_pair_label(pred)
    except ValueError:
        return 0.0
    return 1.0 if verdict == lab else 0.0
