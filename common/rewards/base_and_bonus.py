"""FIRM's "Base-and-Bonus" reward shaping and the naive linear combiners of its ablation.

Source: FIRM (docs/papers/firm.md §4). Scores on 1-5 are mapped to [0, 1] by ``(s - 1) / 4``.

* CME (editing):    ``R = E * (w1 + w2 * C) / (w1 + w2)``, w1 = 0.6, w2 = 0.4, clamped to [0, 1]
  (E execution, C consistency). Low execution suppresses the whole reward ("base"), consistency
  only shapes what execution earned ("bonus"), so returning the source image unchanged (C = 1,
  E = 0) earns nothing.
* QMA (generation): ``R = I * (w1 + w2 * Q) / (w1 + w2)``, w1 = 0.4, w2 = 0.6, clamped to [0, 1]
  (I instruction following, Q quality); when Q is missing the reward falls back to I.
* ``Q = (min(aesthetics, quality, structure) - 1) / 4`` from three 1-5 sub-scores.
* Ablation baselines: ``0.5 E + 0.5 C`` and ``0.6 E + 0.4 C`` (:func:`linear_combination`).

Inputs may be Python floats, NumPy arrays or torch tensors (broadcast against each other); the
result has the type of the array-like input. A NaN execution / instruction propagates (NaN out);
a NaN quality falls back to I elementwise, like a missing one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import torch

from common.rewards.registry import REWARD_COMBINERS

__all__ = [
    "NAIVE_EQUAL",
    "NAIVE_WEIGHTED",
    "cme",
    "linear_combination",
    "qma",
    "quality_from_subscores",
    "to_unit",
]

X = TypeVar("X", float, np.ndarray, torch.Tensor)

NAIVE_EQUAL: dict[str, float] = {"execution": 0.5, "consistency": 0.5}
"""FIRM's first ablation combiner, ``0.5 E + 0.5 C`` (learned the "lazy" unchanged image)."""
NAIVE_WEIGHTED: dict[str, float] = {"execution": 0.6, "consistency": 0.4}
"""FIRM's second ablation combiner, ``0.6 E + 0.4 C`` (only partly helps)."""


def _weights_total(w1: float, w2: float) -> float:
    total = float(w1) + float(w2)
    if not (math.isfinite(w1) and math.isfinite(w2) and total != 0.0):
        raise ValueError(f"weights must be finite with w1 + w2 != 0, got w1={w1!r}, w2={w2!r}")
    return total


def _as_tensors(*xs: Any) -> list[torch.Tensor]:
    ref = next(x for x in xs if isinstance(x, torch.Tensor))
    dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
    return [torch.as_tensor(x, dtype=dtype, device=ref.device) for x in xs]


def _clamp_float(x: float) -> float:
    return x if math.isnan(x) else min(1.0, max(0.0, x))


def _product(base: Any, bonus: Any, w1: float, w2: float) -> Any:
    """``clamp(base * (w1 + w2 * bonus) / (w1 + w2), 0, 1)``; a NaN bonus falls back to ``base``."""
    total = _weights_total(w1, w2)
    if isinstance(base, torch.Tensor) or isinstance(bonus, torch.Tensor):
        b, q = _as_tensors(base, bonus)
        b, q = torch.broadcast_tensors(b, q)
        out = torch.where(torch.isnan(q), b, b * (w1 + w2 * q) / total)
        return out.clamp(0.0, 1.0)
    if isinstance(base, np.ndarray) or isinstance(bonus, np.ndarray):
        b, q = np.broadcast_arrays(np.asarray(base, dtype=float), np.asarray(bonus, dtype=float))
        with np.errstate(invalid="ignore"):
            out = np.where(np.isnan(q), b, b * (w1 + w2 * q) / total)
        return np.clip(out, 0.0, 1.0)
    b, q = float(base), float(bonus)
    if math.isnan(q):
        return _clamp_float(b)
    return _clamp_float(b * (w1 + w2 * q) / total)


@REWARD_COMBINERS.register("cme")
def cme(execution: X, consistency: X, w1: float = 0.6, w2: float = 0.4) -> X:
    """Consistency-Modulated Execution: ``clamp(E * (w1 + w2 * C) / (w1 + w2), 0, 1)``.

    Corners with the default weights: E=0 -> 0 whatever C; E=1, C=0 -> 0.6; E=1, C=1 -> 1.
    """
    if execution is None or consistency is None:
        raise ValueError("cme needs both execution and consistency (no fallback in FIRM)")
    return _product(execution, consistency, w1, w2)


@REWARD_COMBINERS.register("qma")
def qma(instruction: X, quality: X | None, w1: float = 0.4, w2: float = 0.6) -> X:
    """Quality-Modulated Alignment: ``clamp(I * (w1 + w2 * Q) / (w1 + w2), 0, 1)``.

    ``quality=None`` (or NaN entries) falls back to ``I`` (clamped to [0, 1]), as in FIRM's code.
    Corners with the default weights: I=0 -> 0; I=1, Q=0 -> 0.4; I=1, Q=1 -> 1.
    """
    if instruction is None:
        raise ValueError("qma needs the instruction-following score")
    if quality is None:
        quality = math.nan
    return _product(instruction, quality, w1, w2)


def to_unit(score: X | None, lo: float = 1.0, hi: float = 5.0) -> X | None:
    """``(s - lo) / (hi - lo)``: a score on [lo, hi] to [0, 1] (not clamped); None stays None."""
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ValueError(f"to_unit needs finite lo < hi, got lo={lo!r}, hi={hi!r}")
    if score is None:
        return None
    if isinstance(score, int | float):
        return (float(score) - lo) / (hi - lo)
    return (score - lo) / (hi - lo)


def quality_from_subscores(aesthetics: X | None, quality: X | None, structure: X | None) -> X | None:
    """FIRM's QMA quality: ``(min(aesthetics, quality, structure) - 1) / 4`` from 1-5 sub-scores.

    None if any sub-score is missing (QMA then falls back to I). NaN propagates (also a fallback).
    """
    subs = (aesthetics, quality, structure)
    if any(s is None for s in subs):
        return None
    if any(isinstance(s, torch.Tensor) for s in subs):
        a, q, s = _as_tensors(*subs)
        return to_unit(torch.minimum(torch.minimum(a, q), s), 1.0, 5.0)
    if any(isinstance(s, np.ndarray) for s in subs):
        return to_unit(np.minimum(np.minimum(aesthetics, quality), structure).astype(float), 1.0, 5.0)
    values = [float(s) for s in subs]  # type: ignore[arg-type]
    if any(math.isnan(v) for v in values):
        return math.nan
    return to_unit(min(values), 1.0, 5.0)


@REWARD_COMBINERS.register("linear", "linear_combination")
def linear_combination(
    values: Mapping[str, Any], weights: Mapping[str, float], *, normalize: bool = False
) -> Any:
    """``sum_k w_k * v_k`` over the keys of ``weights`` (divided by ``sum_k w_k`` if ``normalize``).

    Every weighted key must be in ``values`` (``KeyError`` otherwise); extra values are ignored.
    Not clamped. Example: ``linear_combination({"execution": E, "consistency": C}, NAIVE_EQUAL)``.
    """
    if not weights:
        raise ValueError("linear_combination needs at least one weight")
    missing = sorted(set(weights) - set(values))
    if missing:
        raise KeyError(f"no value for weighted key(s) {missing}; values have {sorted(values)}")
    total: Any = 0.0
    for key, w in weights.items():
        total = total + float(w) * values[key]
    if normalize:
        wsum = float(sum(weights.values()))
        if wsum == 0.0 or not math.isfinite(wsum):
            raise ValueError(f"cannot normalise by a weight sum of {wsum!r}")
        total = total / wsum
    return total
