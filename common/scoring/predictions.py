"""Read a predictions file written by any scorer: one score per benchmark item id.

Accepted formats:

* JSONL (``.jsonl``, or any other suffix whose content is not one JSON document): one object per
  line, ``{"id": "<item id>", "score": <number or null>}``; other fields (a rationale, the raw
  completion) are ignored; blank lines are skipped.
* JSON (``.json``): a mapping ``{"<item id>": <number or null>, ...}`` or a list of the JSONL objects.

``where`` keeps only the records whose fields equal the given values (e.g. one benchmark and aspect
of a file that holds several); :func:`load_prediction_fields` reads several numeric fields of each
record in one pass (e.g. the prediction and the human score). Both need records, so not the
id -> score mapping.

``null`` (and ``NaN``) is a *missing* prediction, kept as ``None`` so that the meta-evaluation's
missing-prediction policy can count and handle it. Ids are strings (an integer id is converted with
``str``). Any problem raises :class:`PredictionsFormatError`, whose message names the file, the
line (where there is one) and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.config import InputError


class PredictionsFormatError(InputError):
    """A predictions file that cannot be read; ``path``, ``line`` and ``field`` say where."""

    def __init__(
        self, path: str | Path, message: str, line: int | None = None, field: str | None = None
    ) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = f"{path}:{line}" if line is not None else f"{path}"
        what = f"field {field!r}: " if field is not None else ""
        super().__init__(f"{where}: {what}{message}")


def _id(value: Any, path: Path, line: int | None, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PredictionsFormatError(path, f"expected a string (or integer) id, got {value!r}", line, field)
    return str(value)


def _score(value: Any, path: Path, line: int | None, field: str, context: str = "") -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PredictionsFormatError(path, f"{context}expected a number or null, got {value!r}", line, field)
    value = float(value)
    return value if math.isfinite(value) else None


def _from_records(
    records: list[tuple[int | None, Any]],
    path: Path,
    id_field: str,
    fields: tuple[str, ...],
    where: Mapping[str, Any] | None = None,
) -> dict[str, tuple[float | None, ...]]:
    out: dict[str, tuple[float | None, ...]] = {}
    seen_at: dict[str, int | None] = {}
    for line, rec in records:
        if not isinstance(rec, dict):
            raise PredictionsFormatError(path, f"expected a JSON object, got {type(rec).__name__}", line)
        if where and any(rec.get(k) != v for k, v in where.items()):
            continue
        for fld in (id_field, *fields):
            if fld not in rec:
                raise PredictionsFormatError(path, f"missing (keys: {sorted(rec)})", line, fld)
        key = _id(rec[id_field], path, line, id_field)
        if key in out:
            first = seen_at[key]
            at = f" (first at line {first})" if first is not None else ""
            raise PredictionsFormatError(path, f"duplicate id {key!r}{at}", line, id_field)
        out[key] = tuple(_score(rec[fld], path, line, fld) for fld in fields)
        seen_at[key] = line
    return out


def _read_jsonl(
    text: str, path: Path, id_field: str, fields: tuple[str, ...], where: Mapping[str, Any] | None
) -> dict[str, tuple[float | None, ...]]:
    records: list[tuple[int | None, Any]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            records.append((lineno, json.loads(raw)))
        except json.JSONDecodeError as err:
            raise PredictionsFormatError(
                path, f"invalid JSON ({err.msg} at column {err.colno})", lineno
            ) from None
    return _from_records(records, path, id_field, fields, where)


def _read_json(
    text: str, path: Path, id_field: str, fields: tuple[str, ...], where: Mapping[str, Any] | None
) -> dict[str, tuple[float | None, ...]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise PredictionsFormatError(
            path, f"invalid JSON ({err.msg} at column {err.colno})", err.lineno
        ) from None
    if isinstance(doc, list):
        return _from_records([(None, rec) for rec in doc], path, id_field, fields, where)
    if isinstance(doc, dict):
        if where or len(fields) != 1:
            raise PredictionsFormatError(
                path,
                f"an id -> score mapping has no fields to select {dict(where or {})} by "
                f"or to read {list(fields)} from",
            )
        return {str(k): (_score(v, path, None, fields[0], f"id {k!r}: "),) for k, v in doc.items()}
    raise PredictionsFormatError(
        path, f"expected a JSON object (id -> score) or list, got {type(doc).__name__}"
    )


def _looks_like_json_document(text: str) -> bool:
    """Whether the whole text is one JSON list, or one mapping that is not a single JSONL record."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(doc, list) or (isinstance(doc, dict) and "id" not in doc)


def load_prediction_fields(
    path: str | Path,
    id_field: str,
    fields: tuple[str, ...],
    where: Mapping[str, Any] | None = None,
) -> dict[str, tuple[float | None, ...]]:
    """Read ``path`` (see module doc) into ``{id: (value of each of fields, or None)}`` in file
    order, in one pass (``where``: only the records whose fields equal these values)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"predictions file not found: {p}")
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    if suffix == ".json" or (suffix != ".jsonl" and _looks_like_json_document(text)):
        return _read_json(text, p, id_field, fields, where)
    return _read_jsonl(text, p, id_field, fields, where)


def load_predictions(
    path: str | Path,
    id_field: str = "id",
    score_field: str = "score",
    where: Mapping[str, Any] | None = None,
) -> dict[str, float | None]:
    """Read ``path`` (see module doc) into ``{id: score or None}`` in file order (``where``: only
    the records whose fields equal these values)."""
    return {k: v[0] for k, v in load_prediction_fields(path, id_field, (score_field,), where).items()}
