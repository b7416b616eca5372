"""Pairwise preference accuracy, with the treatment of ties made explicit.

A pair ``(a, b)`` gets a *relation* from each side: ``+1`` if ``a`` is preferred, ``-1`` if ``b``
is, ``0`` for a tie. From scores ``s_a, s_b`` and a tolerance ``tol >= 0``::

    relation = 0            if |s_a - s_b| <= tol
               sign(s_a - s_b) otherwise

The human relation uses ``human_tie_tolerance`` (default 0: only equal scores tie); the predicted
relation uses ``tie_tolerance`` (default 0: only equal predictions tie).

Two accuracies are reported, as ImageReward-style papers do:

* ``accuracy`` (*without ties*): over the pairs the humans did NOT tie, the share whose predicted
  relation equals the human one. A predicted tie on such a pair counts as wrong.
* ``accuracy_with_ties``: over ALL pairs, the share whose predicted relation equals the human one,
  so a predicted tie is right only for a human tie, and a human tie is right only when predicted
  as a tie (Deutsch et al., 2023, "Ties Matter", call this ``acc_eq``).

A metric with continuous scores almost never predicts exact ties; :func:`tie_calibrated_accuracy`
picks the tolerance that maximises ``accuracy_with_ties`` (Deutsch et al.'s tie calibration), which
is an optimistic (in-sample) number and is labelled as such.

Benchmarks with several images per prompt compare only images of the same prompt:
:func:`within_group_pairs` lists those pairs and :func:`pairwise_accuracy_grouped` scores them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class PairwiseResult:
    """Counts and accuracies of one pairwise comparison (see the module doc for the rules)."""

    accuracy: float
    accuracy_with_ties: float
    n_pairs: int
    n_human_ties: int
    n_pred_ties: int
    n_correct: int
    n_correct_with_ties: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def relation(a: ArrayLike, b: ArrayLike, tol: float = 0.0) -> NDArray[np.int64]:
    """``+1`` where ``a > b + tol``, ``-1`` where ``b > a + tol``, ``0`` where ``|a - b| <= tol``."""
    if tol < 0:
        raise ValueError(f"tie tolerance must be >= 0, got {tol}")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if not np.isfinite(diff).all():
        raise ValueError("pairwise scores must be finite; apply a missing-prediction policy first")
    out = np.sign(diff).astype(np.int64)
    out[np.abs(diff) <= tol] = 0
    return out


def accuracy_from_relations(pred: ArrayLike, human: ArrayLike) -> PairwiseResult:
    """Score predicted relations against human ones (arrays of -1/0/+1 of equal length)."""
    p = np.asarray(pred, dtype=np.int64)
    h = np.asarray(human, dtype=np.int64)
    if p.shape != h.shape or p.ndim != 1:
        raise ValueError(f"pred and human relations must be 1-D of equal length, got {p.shape}, {h.shape}")
    if not (np.isin(p, (-1, 0, 1)).all() and np.isin(h, (-1, 0, 1)).all()):
        raise ValueError("relations must be -1, 0 or +1")
    hit = p == h
    nontie = h != 0
    n_pairs, n_nontie = int(p.size), int(nontie.sum())
    n_correct = int((hit & nontie).sum())
    n_correct_ties = int(hit.sum())
    return PairwiseResult(
        accuracy=n_correct / n_nontie if n_nontie else float("nan"),
        accuracy_with_ties=n_correct_ties / n_pairs if n_pairs else float("nan"),
        n_pairs=n_pairs,
        n_human_ties=n_pairs - n_nontie,
        n_pred_ties=int((p == 0).sum()),
        n_correct=n_correct,
        n_correct_with_ties=n_correct_ties,
    )


def pairwise_accuracy(
    pred_a: ArrayLike,
    pred_b: ArrayLike,
    human_a: ArrayLike,
    human_b: ArrayLike,
    tie_tolerance: float = 0.0,
    human_tie_tolerance: float = 0.0,
) -> PairwiseResult:
    """Accuracy over explicit pairs: ``pred_a[k]`` vs ``pred_b[k]`` against ``human_a[k]`` vs ``human_b[k]``.

    For benchmarks that store a preference label instead of two human scores, pass
    ``human_a = label`` and ``human_b = 0`` with ``label`` in {+1 (a wins), 0 (tie), -1 (b wins)}.
    """
    return accuracy_from_relations(
        relation(pred_a, pred_b, tie_tolerance), relation(human_a, human_b, human_tie_tolerance)
    )


def within_group_pairs(groups: Sequence[Hashable]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices ``(i, j)``, ``i < j``, of all unordered pairs of items that share a group."""
    by_group: dict[Hashable, list[int]] = {}
    for k, g in enumerate(groups):
        by_group.setdefault(g, []).append(k)
    ii: list[int] = []
    jj: list[int] = []
    for members in by_group.values():
        for u in range(len(members)):
            for v in range(u + 1, len(members)):
                ii.append(members[u])
                jj.append(members[v])
    return np.asarray(ii, dtype=np.int64), np.asarray(jj, dtype=np.int64)


def pairwise_accuracy_grouped(
    pred: ArrayLike,
    human: ArrayLike,
    groups: Sequence[Hashable],
    tie_tolerance: float = 0.0,
    human_tie_tolerance: float = 0.0,
) -> PairwiseResult:
    """Accuracy over all pairs of items within the same group (e.g. images of one prompt)."""
    p = np.asarray(pred, dtype=np.float64)
    h = np.asarray(human, dtype=np.float64)
    if not (p.shape == h.shape == (len(groups),)):
        raise ValueError(
            f"pred, human and groups must have equal length, got {p.shape}, {h.shape}, {len(groups)}"
        )
    i, j = within_group_pairs(groups)
    return pairwise_accuracy(p[i], p[j], h[i], h[j], tie_tolerance, human_tie_tolerance)


def group_pair_counts(
    pred: ArrayLike,
    human: ArrayLike,
    groups: Sequence[Hashable],
    tie_tolerance: float = 0.0,
    human_tie_tolerance: float = 0.0,
) -> dict[str, NDArray[np.int64]]:
    """Per-group pair counts (for a group bootstrap).

    Keys: ``n_pairs``, ``n_nontie`` (pairs the humans did not tie), ``n_correct`` (right among
    those), ``n_correct_with_ties`` (right among all pairs), ``n_pred_ties``.

    Accuracies of a resample of groups are ratios of sums of these counts, so resampling whole
    groups (the unit within which pairs are formed) is cheap.
    """
    p = np.asarray(pred, dtype=np.float64)
    h = np.asarray(human, dtype=np.float64)
    codes: dict[Hashable, int] = {}
    gid = np.asarray([codes.setdefault(g, len(codes)) for g in groups], dtype=np.int64)
    i, j = within_group_pairs(groups)
    pr = relation(p[i], p[j], tie_tolerance)
    hr = relation(h[i], h[j], human_tie_tolerance)
    g = gid[i]
    n = len(codes)
    hit = pr == hr
    return {
        "n_pairs": np.bincount(g, minlength=n).astype(np.int64),
        "n_nontie": np.bincount(g, weights=(hr != 0), minlength=n).astype(np.int64),
        "n_correct": np.bincount(g, weights=(hit & (hr != 0)), minlength=n).astype(np.int64),
        "n_correct_with_ties": np.bincount(g, weights=hit, minlength=n).astype(np.int64),
        "n_pred_ties": np.bincount(g, weights=(pr == 0), minlength=n).astype(np.int64),
    }


def tie_calibrated_accuracy(pred_diff: ArrayLike, human_relations: ArrayLike) -> tuple[float, float]:
    """The best ``accuracy_with_ties`` over tie tolerances, and that tolerance (in-sample, optimistic).

    ``pred_diff[k] = s_a - s_b`` for pair ``k``; candidate tolerances are 0 and every ``|pred_diff|``.
    Returns ``(accuracy, tolerance)``; the smallest tolerance wins among equals.
    """
    d = np.abs(np.asarray(pred_diff, dtype=np.float64))
    s = np.sign(np.asarray(pred_diff, dtype=np.float64)).astype(np.int64)
    h = np.asarray(human_relations, dtype=np.int64)
    if d.shape != h.shape or d.ndim != 1:
        raise ValueError("pred_diff and human_relations must be 1-D of equal length")
    if d.size == 0:
        return float("nan"), 0.0
    order = np.argsort(d, kind="stable")
    d, s, h = d[order], s[order], h[order]
    # Tolerance = d[k] makes pairs 0..last(k) ties; correct = ties right among them + signs right after.
    tie_right = np.cumsum(h == 0)
    sign_right = (s == h) & (h != 0)
    sign_right_after = sign_right.sum() - np.cumsum(sign_right)
    correct = tie_right + sign_right_after
    last = np.r_[d[1:] != d[:-1], True]  # only the last index of a run of equal |diff| is a threshold
    cand_correct = correct[last]
    cand_tol = d[last]
    # Tolerance below every |diff| (> 0): nothing predicted as a tie unless its diff is exactly 0.
    base = int(sign_right.sum()) if d[0] > 0 else None
    best = int(np.argmax(cand_correct))
    if base is not None and base >= cand_correct[best]:
        return base / d.size, 0.0
    return float(cand_correct[best]) / d.size, float(cand_tol[best])
