"""The two corpus schemas of T2I-Eval-R1 as Hugging Face ``datasets``, and their validation.

T2I-Eval-R1 trains an evaluator from coarse labels only (docs/papers/t2i_eval_r1.md §1):

* **single-wise**: one image per prompt with a score on a stated scale (optionally per aspect);
* **pairwise**: two images for one prompt with a human preference ``a`` / ``b`` / ``tie``.

Columns (extra columns are allowed and carried along):

===========  =======================  =====================================================
column       type                     meaning
===========  =======================  =====================================================
id           string                   unique per row (per item and aspect)
prompt       string                   the text-to-image prompt
image        ``datasets.Image``       single-wise only: the generated image
image_a/b    ``datasets.Image``       pairwise only: the two images, in the order shown
score        float64                  single-wise: the label on ``[scale_lo, scale_hi]``
preference   string                   pairwise: ``"a"``, ``"b"`` or ``"tie"``
scale_lo/hi  float64                  the score scale the evaluator is asked to use
aspect       string                   one of :data:`ASPECTS` (what is judged)
meta         string (JSON)            provenance / ground truth (scene JSON, rater scores...)
===========  =======================  =====================================================

Images can be PIL images or file paths (decoded lazily by ``datasets``). Every problem found by
:func:`validate_singlewise` / :func:`validate_pairwise` raises :class:`DataFormatError` naming the
row, the column and what to do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import datasets

from common.config import InputError

__all__ = [
    "ASPECTS",
    "PAIRWISE_COLUMNS",
    "PREFERENCES",
    "SINGLEWISE_COLUMNS",
    "DataFormatError",
    "corpus_kind",
    "make_pairwise",
    "make_singlewise",
    "pairwise_features",
    "singlewise_features",
    "validate_corpus",
    "validate_pairwise",
    "validate_singlewise",
]

ASPECTS: tuple[str, ...] = ("appearance", "intrinsic", "relationship", "overall", "faithfulness")
"""What a score judges: T2I-Eval-Bench's four aspects (appearance quality, intrinsic-attribute
consistency, relationship-attribute consistency, overall) and TIFA's faithfulness."""

PREFERENCES: tuple[str, ...] = ("a", "b", "tie")

SINGLEWISE_COLUMNS: tuple[str, ...] = (
    "id",
    "prompt",
    "image",
    "score",
    "scale_lo",
    "scale_hi",
    "aspect",
    "meta",
)
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "id",
    "prompt",
    "image_a",
    "image_b",
    "preference",
    "scale_lo",
    "scale_hi",
    "aspect",
    "meta",
)


class DataFormatError(InputError):
    """A corpus file or dataset does not have the expected shape; the message says what to do."""


def singlewise_features() -> datasets.Features:
    """The ``datasets.Features`` of a single-wise corpus."""
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "prompt": datasets.Value("string"),
            "image": datasets.Image(),
            "score": datasets.Value("float64"),
            "scale_lo": datasets.Value("float64"),
            "scale_hi": datasets.Value("float64"),
            "aspect": datasets.Value("string"),
            "meta": datasets.Value("string"),
        }
    )


def pairwise_features() -> datasets.Features:
    """The ``datasets.Features`` of a pairwise corpus."""
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "prompt": datasets.Value("string"),
            "image_a": datasets.Image(),
            "image_b": datasets.Image(),
            "preference": datasets.Value("string"),
            "scale_lo": datasets.Value("float64"),
            "scale_hi": datasets.Value("float64"),
            "aspect": datasets.Value("string"),
            "meta": datasets.Value("string"),
        }
    )


def _meta(value: Any) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _columns(records: Sequence[Mapping[str, Any]], names: Sequence[str], kind: str) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {n: [] for n in names}
    for i, rec in enumerate(records):
        for name in names:
            if name == "meta":
                out[name].append(_meta(rec.get("meta")))
            elif name not in rec:
                raise DataFormatError(f"{kind} record {i} (id {rec.get('id')!r}) has no {name!r} field")
            else:
                out[name].append(rec[name])
    return out


def make_singlewise(records: Iterable[Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """A single-wise corpus from dicts with the :data:`SINGLEWISE_COLUMNS` (``meta`` optional).

    ``image`` may be a PIL image or a path; ``meta`` a dict (stored as JSON) or a JSON string.
    """
    recs = list(records)
    data = _columns(recs, SINGLEWISE_COLUMNS, "single-wise")
    data["score"] = [float(s) for s in data["score"]]
    ds = datasets.Dataset.from_dict(data, features=singlewise_features())
    if validate:
        validate_singlewise(ds)
    return ds


def make_pairwise(records: Iterable[Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """A pairwise corpus from dicts with the :data:`PAIRWISE_COLUMNS` (``meta`` optional)."""
    recs = list(records)
    data = _columns(recs, PAIRWISE_COLUMNS, "pairwise")
    ds = datasets.Dataset.from_dict(data, features=pairwise_features())
    if validate:
        validate_pairwise(ds)
    return ds


def corpus_kind(ds: datasets.Dataset) -> str:
    """``"single"`` or ``"pair"`` from the columns (``image`` vs ``image_a``/``image_b``)."""
    cols = set(ds.column_names)
    if {"image_a", "image_b", "preference"} <= cols:
        return "pair"
    if {"image", "score"} <= cols:
        return "single"
    raise DataFormatError(
        f"cannot tell the corpus kind from columns {sorted(cols)}: a single-wise corpus needs "
        f"{list(SINGLEWISE_COLUMNS)}, a pairwise one {list(PAIRWISE_COLUMNS)}"
    )


def _require_columns(ds: datasets.Dataset, names: Sequence[str], kind: str) -> None:
    missing = [n for n in names if n not in ds.column_names and n != "meta"]
    if missing:
        raise DataFormatError(
            f"{kind} corpus lacks column(s) {missing}; it has {ds.column_names}. Rename columns with "
            "Dataset.rename_column or the loader's `columns` mapping."
        )


def _check_scale_and_aspect(row: Mapping[str, Any], i: int, kind: str) -> tuple[float, float]:
    lo, hi = row["scale_lo"], row["scale_hi"]
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise DataFormatError(
            f"{kind} row {i} (id {row['id']!r}): scale [{lo}, {hi}] must be finite with lo < hi"
        )
    if row["aspect"] not in ASPECTS:
        raise DataFormatError(
            f"{kind} row {i} (id {row['id']!r}): aspect {row['aspect']!r} is not one of {list(ASPECTS)}"
        )
    return float(lo), float(hi)


def _check_ids(ids: Sequence[Any], kind: str) -> None:
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if not isinstance(x, str) or not x:
            raise DataFormatError(f"{kind} row {i}: id must be a non-empty string, got {x!r}")
        if x in seen:
            raise DataFormatError(f"{kind} row {i}: duplicate id {x!r}; ids must be unique per row")
        seen.add(x)


def validate_singlewise(ds: datasets.Dataset) -> datasets.Dataset:
    """Check columns, ids, scales, aspects and that every score lies on its scale; returns ``ds``.

    Images are not decoded here (the loaders check that image files exist).
    """
    _require_columns(ds, SINGLEWISE_COLUMNS, "single-wise")
    cols = [c for c in ("id", "prompt", "score", "scale_lo", "scale_hi", "aspect") if c in ds.column_names]
    table = ds.select_columns(cols).to_dict()
    _check_ids(table["id"], "single-wise")
    for i in range(len(ds)):
        row = {c: table[c][i] for c in cols}
        lo, hi = _check_scale_and_aspect(row, i, "single-wise")
        s = row["score"]
        if s is None or not math.isfinite(s) or not lo <= s <= hi:
            raise DataFormatError(
                f"single-wise row {i} (id {row['id']!r}): score {s!r} is not on [{lo}, {hi}]"
            )
        if not isinstance(row["prompt"], str):
            raise DataFormatError(f"single-wise row {i} (id {row['id']!r}): prompt must be a string")
    return ds


def validate_pairwise(ds: datasets.Dataset) -> datasets.Dataset:
    """Check columns, ids, scales, aspects and preference labels; returns ``ds``."""
    _require_columns(ds, PAIRWISE_COLUMNS, "pairwise")
    cols = [
        c for c in ("id", "prompt", "preference", "scale_lo", "scale_hi", "aspect") if c in ds.column_names
    ]
    table = ds.select_columns(cols).to_dict()
    _check_ids(table["id"], "pairwise")
    for i in range(len(ds)):
        row = {c: table[c][i] for c in cols}
        _check_scale_and_aspect(row, i, "pairwise")
        if row["preference"] not in PREFERENCES:
            raise DataFormatError(
                f"pairwise row {i} (id {row['id']!r}): preference {row['preference']!r} is not one of "
                f"{list(PREFERENCES)}"
            )
    return ds


def validate_corpus(ds: datasets.Dataset) -> str:
    """Validate a corpus of either kind; returns its kind (``"single"`` / ``"pair"``)."""
    kind = corpus_kind(ds)
    (validate_singlewise if kind == "single" else validate_pairwise)(ds)
    return kind
