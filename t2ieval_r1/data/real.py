"""Loaders of the real corpora and benchmarks named in docs/papers/t2i_eval_r1.md §2, into the schemas
of :mod:`t2ieval_r1.data.schema`.

* :func:`load_t2i_eval_distill`: a T2I-Eval-Distill-style training corpus (per-aspect 0-10
  scores, optional explanations) -> single-wise rows, one per (item, aspect).
* :func:`load_t2i_eval_bench`: T2I-Eval-Bench (``t2i-eval-bench.json`` + ``scores.json``) ->
  single-wise rows whose label is the annotators' average, one per (item, aspect).
* :func:`load_ranked_pairs`: ImageReward-style rankings (several images per prompt with a rank
  each, lower is better, equal ranks are ties) -> pairwise rows, one per image pair.

Images are referenced by path; relative paths are resolved against ``image_root`` (default: the
directory of the annotation file) and checked to exist unless ``check_images=False``. Every
format problem raises :class:`~t2ieval_r1.data.schema.DataFormatError` naming the file, the record
and the field, and saying what to do. The exact field names of the real files are not all known
here, so each field accepts the aliases listed in :data:`FIELD_ALIASES`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import datasets

from t2ieval_r1.data.schema import ASPECTS, DataFormatError, make_pairwise, make_singlewise

__all__ = [
    "FIELD_ALIASES",
    "aspect_key",
    "load_ranked_pairs",
    "load_t2i_eval_bench",
    "load_t2i_eval_distill",
    "read_records",
]

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "item_id", "prompt_id", "uid"),
    "prompt": ("prompt", "image_caption", "caption", "text"),
    "image": ("image", "image_path", "gt_image", "img_path", "file_name", "path"),
    "images": ("generations", "image_path", "images", "image_paths"),
    "ranking": ("ranking", "rank", "ranks"),
    "scores": ("scores", "score", "ratings", "overall"),
}
"""Accepted names of each logical field, in priority order."""

_T2I_EVAL_ASPECTS = ("appearance", "intrinsic", "relationship", "overall")


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSON file (a list, or an object holding one list) or of a JSONL file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataFormatError(f"{p}: no such file; check the path in the data config")
    text = p.read_text()
    try:
        if p.suffix == ".jsonl":
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            obj = json.loads(text)
            if isinstance(obj, Mapping):
                lists = [v for v in obj.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise DataFormatError(
                        f"{p}: expected a JSON list of records (or an object with one list), "
                        f"got an object with keys {sorted(obj)[:10]}"
                    )
                obj = lists[0]
            records = obj
    except json.JSONDecodeError as e:
        raise DataFormatError(f"{p}: not valid JSON{' lines' if p.suffix == '.jsonl' else ''}: {e}") from e
    if not isinstance(records, list) or not all(isinstance(r, Mapping) for r in records):
        raise DataFormatError(f"{p}: expected a list of JSON objects")
    return [dict(r) for r in records]


def _field(rec: Mapping[str, Any], logical: str, path: Path, i: int, *, required: bool = True) -> Any:
    for name in FIELD_ALIASES[logical]:
        if name in rec and rec[name] is not None:
            return rec[name]
    if not required:
        return None
    raise DataFormatError(
        f"{path}: record {i} (id {rec.get('id')!r}) has no {logical} field; expected one of "
        f"{list(FIELD_ALIASES[logical])}, found keys {sorted(rec)[:12]}"
    )


def _resolve_image(value: Any, root: Path, path: Path, i: int, field: str, check: bool) -> str:
    if not isinstance(value, str) or not value:
        raise DataFormatError(f"{path}: record {i}: {field} must be an image path, got {value!r}")
    p = Path(value).expanduser()
    full = p if p.is_absolute() else root / p
    if check and not full.is_file():
        raise DataFormatError(
            f"{path}: record {i}: image {value!r} ({field}) not found at {full}; set image_root to the "
            "directory the image paths are relative to, or check_images=false to defer the check"
        )
    return str(full)


def aspect_key(name: str) -> str | None:
    """Map an aspect name of a real file to one of :data:`ASPECTS` (None if unrecognised).

    ``"Appearance Quality"`` -> appearance, ``"intrinsic_attribute_consistency"`` -> intrinsic,
    ``"relationship attribute"`` -> relationship, ``"overall"`` -> overall, ``"faithfulness"``.
    """
    key = re.sub(r"[^a-z]", "", str(name).lower())
    for aspect, stem in (
        ("appearance", "appearance"),
        ("intrinsic", "intrinsic"),
        ("relationship", "relation"),
        ("overall", "overall"),
        ("faithfulness", "faithful"),
    ):
        if key.startswith(stem) or stem in key:
            return aspect
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, Mapping):
        for k in ("score", "value", "avg", "mean"):
            if k in value:
                return _number(value[k])
        return None
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _check_aspects(aspects: Sequence[str], allowed: Sequence[str], where: str) -> list[str]:
    bad = [a for a in aspects if a not in allowed]
    if bad or not aspects:
        raise DataFormatError(
            f"{where}: aspects {list(aspects)} must be a non-empty subset of {list(allowed)}"
        )
    return list(aspects)


def load_t2i_eval_distill(
    path: str | Path,
    *,
    image_root: str | Path | None = None,
    aspects: Sequence[str] = _T2I_EVAL_ASPECTS,
    scale: tuple[float, float] = (0.0, 10.0),
    check_images: bool = True,
    limit: int | None = None,
) -> datasets.Dataset:
    """A T2I-Eval-Distill-style corpus as single-wise rows (one per item and aspect).

    Each record (JSON list or JSONL) holds a prompt, an image path and per-aspect scores, either
    under ``scores`` (``{"appearance": 7, ...}`` or ``{"Appearance Quality": {"score": 7,
    "explanation": "..."}}``) or as top-level keys named after the aspects. Explanations, when
    present, go to ``meta`` (never used as a training target by GRPO; kept for the SFT baseline).
    Records lacking one of the requested aspects are an error (the message names them).
    """
    p = Path(path).expanduser()
    root = Path(image_root).expanduser() if image_root is not None else p.parent
    aspects = _check_aspects(aspects, ASPECTS, str(p))
    lo, hi = float(scale[0]), float(scale[1])
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(read_records(p)[:limit]):
        item_id = str(_field(rec, "id", p, i, required=False) or i)
        prompt = _field(rec, "prompt", p, i)
        image = _resolve_image(_field(rec, "image", p, i), root, p, i, "image", check_images)
        raw = rec.get("scores")
        source = raw if isinstance(raw, Mapping) else rec
        by_aspect: dict[str, Any] = {}
        for key, value in source.items():
            a = aspect_key(key)
            if a is not None and a not in by_aspect:
                by_aspect[a] = value
        for aspect in aspects:
            if aspect not in by_aspect:
                raise DataFormatError(
                    f"{p}: record {i} (id {item_id!r}) has no score for aspect {aspect!r}; found "
                    f"{sorted(by_aspect) or sorted(source)[:12]}. Drop the aspect from `aspects` or fix "
                    "the file."
                )
            score = _number(by_aspect[aspect])
            if score is None or not lo <= score <= hi:
                raise DataFormatError(
                    f"{p}: record {i} (id {item_id!r}): {aspect} score {by_aspect[aspect]!r} is not a number "
                    f"on [{lo}, {hi}]; set `scale` to the file's scale"
                )
            explanation = (
                by_aspect[aspect].get("explanation") if isinstance(by_aspect[aspect], Mapping) else None
            )
            meta = {"source": "t2i_eval_distill", "item_id": item_id}
            if explanation:
                meta["explanation"] = str(explanation)
            rows.append(
                {
                    "id": f"{item_id}:{aspect}",
                    "prompt": str(prompt),
                    "image": image,
                    "score": score,
                    "scale_lo": lo,
                    "scale_hi": hi,
                    "aspect": aspect,
                    "meta": meta,
                }
            )
    return make_singlewise(rows)


def load_t2i_eval_bench(
    bench_json: str | Path,
    scores_json: str | Path,
    *,
    image_root: str | Path | None = None,
    aspects: Sequence[str] = _T2I_EVAL_ASPECTS,
    check_images: bool = True,
) -> datasets.Dataset:
    """T2I-Eval-Bench as single-wise rows; the label is the annotators' average.

    ``bench_json``: items with ``id``, ``image_caption`` (the prompt) and ``gt_image`` (the
    generated image's path). ``scores_json``: a list of ``{"id", "overall": {aspect: {"score",
    "manual_score": [m1, m2, m3, avg]}}}``. The label is the last entry of ``manual_score``
    (the average; if the list has no average, i.e. its last value is not the mean of the others,
    the mean of all entries is used); the raters' scores go to ``meta["raters"]`` and the file's
    ``score`` field to ``meta["reference_score"]``. Scale 0-10.
    """
    bench_p, scores_p = Path(bench_json).expanduser(), Path(scores_json).expanduser()
    root = Path(image_root).expanduser() if image_root is not None else bench_p.parent
    aspects = _check_aspects(aspects, _T2I_EVAL_ASPECTS, str(scores_p))
    items: dict[str, tuple[str, str]] = {}
    for i, rec in enumerate(read_records(bench_p)):
        if "id" not in rec:
            raise DataFormatError(f"{bench_p}: record {i} has no 'id' field (found {sorted(rec)[:12]})")
        prompt = _field(rec, "prompt", bench_p, i)
        image = _resolve_image(_field(rec, "image", bench_p, i), root, bench_p, i, "gt_image", check_images)
        items[str(rec["id"])] = (str(prompt), image)
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(read_records(scores_p)):
        if "id" not in rec:
            raise DataFormatError(f"{scores_p}: record {i} has no 'id' field (found {sorted(rec)[:12]})")
        item_id = str(rec["id"])
        if item_id not in items:
            raise DataFormatError(
                f"{scores_p}: record {i} has id {item_id!r}, which {bench_p.name} does not contain; "
                "are the two files from the same release?"
            )
        per_aspect = rec.get("overall")
        if not isinstance(per_aspect, Mapping):
            raise DataFormatError(
                f"{scores_p}: record {i} (id {item_id!r}) needs an 'overall' object mapping each aspect to "
                "{score, manual_score}"
            )
        found = {aspect_key(k): v for k, v in per_aspect.items()}
        prompt, image = items[item_id]
        for aspect in aspects:
            entry = found.get(aspect)
            manual = entry.get("manual_score") if isinstance(entry, Mapping) else None
            values = [_number(v) for v in manual] if isinstance(manual, list) else []
            if not values or any(v is None for v in values):
                raise DataFormatError(
                    f"{scores_p}: record {i} (id {item_id!r}): overall.{aspect}.manual_score must be a list "
                    f"of numbers [m1, m2, m3, avg], got {manual!r}"
                )
            nums = [float(v) for v in values if v is not None]
            if len(nums) >= 2 and math.isclose(nums[-1], sum(nums[:-1]) / (len(nums) - 1), abs_tol=0.02):
                label, raters = nums[-1], nums[:-1]
            else:
                label, raters = sum(nums) / len(nums), nums
            meta = {"source": "t2i_eval_bench", "item_id": item_id, "raters": raters}
            if isinstance(entry, Mapping) and _number(entry.get("score")) is not None:
                meta["reference_score"] = _number(entry.get("score"))
            rows.append(
                {
                    "id": f"{item_id}:{aspect}",
                    "prompt": prompt,
                    "image": image,
                    "score": min(10.0, max(0.0, label)),
                    "scale_lo": 0.0,
                    "scale_hi": 10.0,
                    "aspect": aspect,
                    "meta": meta,
                }
            )
    return make_singlewise(rows)


def load_ranked_pairs(
    path: str | Path,
    *,
    image_root: str | Path | None = None,
    include_ties: bool = True,
    aspect: str = "overall",
    scale: tuple[float, float] = (0.0, 10.0),
    check_images: bool = True,
    limit: int | None = None,
) -> datasets.Dataset:
    """ImageReward-style rankings as pairwise rows.

    Each record holds a prompt, a list of image paths (``generations`` / ``image_path`` /
    ``images``) and a rank per image (``ranking`` / ``rank``; 1 is best, equal ranks are ties).
    Every pair ``i < j`` becomes one row: preference ``"a"`` when image ``i`` ranks better,
    ``"b"`` when worse, ``"tie"`` when equal (dropped if ``include_ties`` is false). ``scale`` is
    the scale the evaluator is asked to score each image on.
    """
    p = Path(path).expanduser()
    root = Path(image_root).expanduser() if image_root is not None else p.parent
    if aspect not in ASPECTS:
        raise DataFormatError(f"{p}: aspect {aspect!r} is not one of {list(ASPECTS)}")
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(read_records(p)[:limit]):
        item_id = str(_field(rec, "id", p, i, required=False) or i)
        prompt = _field(rec, "prompt", p, i)
        images = _field(rec, "images", p, i)
        ranks = _field(rec, "ranking", p, i)
        if not isinstance(images, list) or not isinstance(ranks, list) or len(images) != len(ranks):
            raise DataFormatError(
                f"{p}: record {i} (id {item_id!r}): images and ranking must be lists of the same length, "
                f"got {type(images).__name__} of {len(images) if isinstance(images, list) else '?'} and "
                f"{type(ranks).__name__} of {len(ranks) if isinstance(ranks, list) else '?'}"
            )
        rank_values = [_number(r) for r in ranks]
        if any(r is None for r in rank_values):
            raise DataFormatError(
                f"{p}: record {i} (id {item_id!r}): every rank must be a number, got {ranks!r}"
            )
        paths = [_resolve_image(im, root, p, i, f"images[{k}]", check_images) for k, im in enumerate(images)]
        for a, b in combinations(range(len(paths)), 2):
            ra, rb = rank_values[a], rank_values[b]
            assert ra is not None and rb is not None
            pref = "a" if ra < rb else "b" if ra > rb else "tie"
            if pref == "tie" and not include_ties:
                continue
            rows.append(
                {
                    "id": f"{item_id}:{a}-{b}",
                    "prompt": str(prompt),
                    "image_a": paths[a],
                    "image_b": paths[b],
                    "preference": pref,
                    "scale_lo": float(scale[0]),
                    "scale_hi": float(scale[1]),
                    "aspect": aspect,
                    "meta": {"source": "ranked_pairs", "item_id": item_id, "ranks": [ra, rb]},
                }
            )
    return make_pairwise(rows)
