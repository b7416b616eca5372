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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import datasets
import numpy as np

from t2ieval_r1.data.schema import DataFormatError

__all__ = ["RESCALE_KEYS", "rescale_corpus"]

RESCALE_KEYS: frozenset[str] = frozenset({"share", "to", "seed"})
"""The keys of a corpus spec's ``rescale`` mapping."""

_SALT = 0x5CA1E


def _target_scale(to: Sequence[float]) -> tuple[float, float]:
    if len(to) != 2 or not all(np.isfinite(float(v)) for v in to) or float(to[0]) >= float(to[1]):
        raise DataFormatError(f"rescale.to must be a finite scale [lo, hi] with lo < hi, got {list(to)}")
    return float(to[0]), float(to[1])


def rescale_corpus(ds: datasets.Dataset, spec: Mapping[str, Any]) -> datasets.Dataset:
    """``ds`` with ``round(spec["share"] * len(ds))`` rows moved onto the scale ``spec["to"]``
    (module docstring); ``spec["seed"]`` (default 0) picks the rows."""
    unknown = set(spec) - RESCALE_KEYS
    if unknown:
        raise DataFormatError(
            f"rescale: unknown keys {sorted(unknown)}; a rescale spec takes {sorted(RESCALE_KEYS)}"
        )
    if "share" not in spec or "to" not in spec:
        raise DataFormatError(
            "rescale needs `share` (0-1) and `to` ([lo, hi]), e.g. {share: 0.5, to: [1, 5]}"
        )
    share = float(spec["share"])
    if not 0.0 <= share <= 1.0:
        raise DataFormatError(f"rescale.share must lie in [0, 1], got {share}")
    new_lo, new_hi = _target_scale(spec["to"])
    for column in ("scale_lo", "scale_hi"):
        if column not in ds.column_names:
            raise DataFormatError(
                f"rescale: the corpus has no {column!r} column (columns: {ds.column_names})"
            )
    n = len(ds)
    rng = np.random.default_rng([int(spec.get("seed", 0)), _SALT])
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
        moved = new_lo + (y - lo) * (new_hi - new_lo) / (hi - lo)
        columns["score"] = np.where(picked, moved, y)
    out = ds.remove_columns(list(columns))
    for name, values in columns.items():
        out = out.add_column(name, values.tolist(), feature=datasets.Value("float64"))
    return out.select_columns(ds.column_names)
