"""Mixed score scales from one corpus: a share of its rows restated on another scale.

The paper trains on corpora that use different scales (T2I-Eval's 0-10 and, for instance, 1-5
faithfulness scores), so the evaluator learns to answer on the scale its prompt states. The world
has one training corpus, on 0-10. ``rescale`` is this project's stand-in for the mix: a seeded
share of the rows is moved linearly onto the target scale ``[lo', hi']``,

    y' = lo' + (y - lo) * (hi' - lo') / (hi - lo),

and its ``scale_lo`` / ``scale_hi`` say so. The prompt, the warm-up's random answers and the score
reward all read a row's scale, so these rows ask for, and reward, answers on ``[lo', hi']``.
Pairwise rows keep their preference; only their stated scale changes. Rows are picked by a seeded
permutation, so the same spec gives the same rows. The images are not touched.

For training corpora only. Meta-evaluation ranks labels across a benchmark and assumes one scale
per benchmark, so benchmark corpora refuse the key. The continuous reward is scale-free; the
Gaussian reward's ``sigma`` and the discrete reward's ``tol`` are in score points, so they are
looser on a narrower scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datasets
import numpy as np

from t2ieval_r1.data.schema import DataFormatError

__all__ = ["RESCALE_KEYS", "refuse_rescale", "rescale_corpus"]

RESCALE_KEYS: frozenset[str] = frozenset({"share", "to", "seed"})
"""The keys of a corpus spec's ``rescale`` mapping."""

_SALT = 0x5CA1E


def _number(spec: Mapping[str, Any], key: str, kind: type = float) -> Any:
    try:
        return kind(spec[key])
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"rescale.{key} must be a number, got {spec[key]!r}") from e


def _target_scale(to: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in to)
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"rescale.to must be a scale [lo, hi] of two numbers, got {to!r}") from e
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise DataFormatError(f"rescale.to must be a finite scale [lo, hi] with lo < hi, got {list(to)}")
    return lo, hi


def refuse_rescale(spec: Mapping[str, Any], where: str, remove: str) -> None:
    """Raise when corpus ``spec`` (of ``where``, a benchmark or a validation set) asks for
    ``rescale``: labels ranked across one corpus must share one scale. ``remove`` names the key."""
    if "rescale" in spec:
        raise DataFormatError(
            f"{where}: `rescale` is for training corpora; this corpus is ranked on one scale, "
            f"so remove {remove}"
        )


def rescale_corpus(ds: datasets.Dataset, spec: Mapping[str, Any]) -> datasets.Dataset:
    """``ds`` with ``round(spec["share"] * len(ds))`` rows moved onto the scale ``spec["to"]``
    (module docstring); ``spec["seed"]`` (default 0) picks the rows."""
    if not isinstance(spec, Mapping):
        raise DataFormatError(f"rescale must be a mapping such as {{share: 0.5, to: [1, 5]}}, got {spec!r}")
    unknown = set(spec) - RESCALE_KEYS
    if unknown:
        raise DataFormatError(
            f"rescale: unknown keys {sorted(unknown)}; a rescale spec takes {sorted(RESCALE_KEYS)}"
        )
    if "share" not in spec or "to" not in spec:
        raise DataFormatError(
            "rescale needs `share` (0-1) and `to` ([lo, hi]), e.g. {share: 0.5, to: [1, 5]}"
        )
    share = _number(spec, "share")
    if not 0.0 <= share <= 1.0:
        raise DataFormatError(f"rescale.share must lie in [0, 1], got {share}")
    new_lo, new_hi = _target_scale(spec["to"])
    seed = _number(spec, "seed", int) if "seed" in spec else 0
    for column in ("scale_lo", "scale_hi"):
        if column not in ds.column_names:
            raise DataFormatError(
                f"rescale: the corpus has no {column!r} column (columns: {ds.column_names})"
            )
    n = len(ds)
    rng = np.random.default_rng([seed, _SALT])
    picked = np.zeros(n, dtype=bool)
    picked[rng.permutation(n)[: round(share * n)]] = True
    lo = np.asarray(ds["scale_lo"], dtype=np.float64)
    hi = np.asarray(ds["scale_hi"], dtype=np.float64)
    columns: dict[str, np.ndarray] = {
        "scale_lo": np.where(picked, new_lo, lo),
        "scale_hi": np.where(picked, new_hi, hi),
    }
    if "score" in ds.column_names:
        y = np.asarray(ds["score"], dtype=np.float64)
        # clipped: rounding may put a top score a hair above new_hi, which validation rejects
        moved = np.clip(new_lo + (y - lo) * (new_hi - new_lo) / (hi - lo), new_lo, new_hi)
        columns["score"] = np.where(picked, moved, y)
    out = ds.remove_columns(list(columns))
    for name, values in columns.items():
        out = out.add_column(name, values.tolist(), feature=datasets.Value("float64"))
    return out.select_columns(ds.column_names)
