"""``predictions.jsonl``: one line per scoring unit, written by the meta-evaluation, readable back.

Each line (JSON object)::

    {"benchmark": "t2i_eval", "key": "t2i_eval-test-00003:overall", "row_id": "...",
     "kind": "single", "side": null, "aspect": "overall", "label": 6.33, "preference": null,
     "completion": "<think> ... </think> <answer> 7 </answer>", "error": null,
     "prediction": 7.0, "answer": 7.0, "expected": 6.8, "failure": null, "well_formed": true,
     "rationale": {"n_facts": 2, ...}}

``benchmark`` + ``key`` identify the unit (:class:`t2ieval_r1.evaluate.units.Unit`); ``completion``
is the raw text (``null`` when the backend failed: ``error`` says why); ``answer`` is the score
the text states, ``expected`` the probability-weighted score at that position
(:mod:`common.scoring.readout`; ``null`` without log-probs) and ``prediction`` the one the run's
readout used. :func:`read_completions` reads any such file (only ``benchmark``, ``key`` and
``completion`` are required; ``expected`` is kept when present, so both readouts can be scored
from the file) so the metrics
can be recomputed from saved completions, or from completions written by another program, without
running a model (``task.predictions=<file>``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from common.jsonio import to_jsonable
from common.scoring.predictions import PredictionsFormatError

__all__ = ["Completion", "read_completions", "write_records"]

Completion = tuple[str | None, str | None, float | None]
"""``(text, error, expected)`` of one unit (``expected``: the probability-weighted score, or ``None``)."""

_REQUIRED = ("benchmark", "key", "completion")


def write_records(path: str | Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``records`` as JSON lines (NaN -> null); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(to_jsonable(dict(rec)), ensure_ascii=False) + "\n")
    return p


def read_completions(path: str | Path) -> dict[str, dict[str, Completion]]:
    """``{benchmark: {key: (completion, error, expected)}}`` from a predictions file (module docstring)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"predictions file not found: {p} (task.predictions)")
    out: dict[str, dict[str, Completion]] = {}
    for lineno, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError as err:
            raise PredictionsFormatError(
                p, f"invalid JSON ({err.msg} at column {err.colno})", lineno
            ) from None
        if not isinstance(rec, dict):
            raise PredictionsFormatError(p, f"expected a JSON object, got {type(rec).__name__}", lineno)
        for fld in _REQUIRED:
            if fld not in rec:
                raise PredictionsFormatError(p, f"missing (keys: {sorted(rec)})", lineno, fld)
        text = rec["completion"]
        if text is not None and not isinstance(text, str):
            raise PredictionsFormatError(
                p, f"expected a string or null, got {text!r:.60}", lineno, "completion"
            )
        bench, key = str(rec["benchmark"]), str(rec["key"])
        if key in out.setdefault(bench, {}):
            raise PredictionsFormatError(p, f"duplicate unit {bench}/{key}", lineno, "key")
        error = rec.get("error")
        expected = rec.get("expected")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int | float)):
            raise PredictionsFormatError(
                p, f"expected a number or null, got {expected!r:.60}", lineno, "expected"
            )
        out[bench][key] = (
            text,
            None if error is None else str(error),
            None if expected is None else float(expected),
        )
    return out
