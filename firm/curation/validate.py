"""Parse and validate every annotation before it may enter a dataset.

Each validator takes the annotator's raw text and returns a :class:`Validated`: the parsed value,
or ``None`` with a stable ``reason`` string (used as the key in ``rejected.jsonl`` and in the run
metrics). Scores are read with :func:`common.parsing.parse_score_detailed` (the same
parser the reward functions use); these validators only add what a dataset needs on top:

* edit rubrics (:func:`validate_json_score`): the score must come from a JSON object
  (``source == "json"``), be an integer in 1-5, and the object must carry a non-empty
  ``reasoning`` (the reward model learns to write reasoning before its score);
* generation rating (:func:`validate_boxed_rating`): the score must come from the explicit
  markers (``\\boxed{X}`` and ``Final Alignment Rating: X``, which must agree), ``\\boxed`` must
  be present, integer in 1-5. A bare number in a checklist never counts as the rating;
* quality (:func:`validate_quality`): a JSON object with all three sub-scores, each an integer
  in 1-5 (``structure_texture`` may be written ``structure``);
* analysis plan (:func:`validate_plan`): at least one question bullet, and the
  ``[Main Subject/Element]`` group;
* difference report passes (:func:`validate_text`): non-empty text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from common.parsing import ParseOutcome, parse_score_detailed

__all__ = [
    "Validated",
    "first_json_object",
    "validate_boxed_rating",
    "validate_json_score",
    "validate_plan",
    "validate_quality",
    "validate_text",
]

SCORE_LO, SCORE_HI = 1, 5


@dataclass(frozen=True)
class Validated:
    """A parsed annotation (``value``) or why it was rejected (``reason``)."""

    value: Any = None
    reason: str = "ok"
    reasoning: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


def _reject(reason: str) -> Validated:
    return Validated(None, reason)


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (e.g. inside a Markdown code fence), or None."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, m.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _integer_score(value: float | None) -> int | None:
    if value is None or not float(value).is_integer():
        return None
    return int(value)


def validate_json_score(text: Any) -> Validated:
    """An edit rubric answer ``{"reasoning": "...", "score": n}`` (see the module docstring)."""
    if not isinstance(text, str) or not text.strip():
        return _reject("empty")
    parsed = parse_score_detailed(text, SCORE_LO, SCORE_HI)
    if parsed.outcome is not ParseOutcome.OK:
        return _reject(f"score_{parsed.outcome.value}")
    if parsed.source != "json":
        return _reject("score_not_in_json")
    score = _integer_score(parsed.value)
    if score is None:
        return _reject("score_not_integer")
    obj = first_json_object(text) or {}
    reasoning = obj.get("reasoning")
    if not isinstance(reasoning, str) or not reasoning.strip():
        return _reject("no_reasoning")
    return Validated(score, "ok", reasoning.strip())


def validate_boxed_rating(text: Any) -> Validated:
    """A generation evaluator answer ending in ``Final Alignment Rating: X`` / ``\\boxed{X}``."""
    if not isinstance(text, str) or not text.strip():
        return _reject("empty")
    if "\\boxed" not in text:
        return _reject("no_boxed")
    parsed = parse_score_detailed(text, SCORE_LO, SCORE_HI)
    if parsed.outcome is not ParseOutcome.OK:
        return _reject(f"score_{parsed.outcome.value}")
    if parsed.source != "explicit":
        return _reject("score_not_explicit")
    score = _integer_score(parsed.value)
    if score is None:
        return _reject("score_not_integer")
    analysis = text[: text.rfind("\\boxed")].strip()
    if not analysis:
        return _reject("no_reasoning")
    return Validated(score, "ok", analysis)


def validate_quality(text: Any) -> Validated:
    """The quality prompt's answer -> ``{"aesthetics", "quality", "structure"}`` (ints 1-5)."""
    if not isinstance(text, str) or not text.strip():
        return _reject("empty")
    obj = first_json_object(text)
    if obj is None:
        return _reject("no_json")
    keys = {re.sub(r"[^a-z0-9]+", "_", str(k).lower()).strip("_"): v for k, v in obj.items()}
    if "structure_texture" not in keys and "structure" in keys:
        keys["structure_texture"] = keys["structure"]
    out: dict[str, int] = {}
    for key, column in (
        ("aesthetics", "aesthetics"),
        ("quality", "quality"),
        ("structure_texture", "structure"),
    ):
        if key not in keys:
            return _reject(f"missing_{key}")
        raw = keys[key]
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            return _reject(f"bad_{key}")
        parsed = parse_score_detailed(str(raw), SCORE_LO, SCORE_HI)
        if parsed.outcome is not ParseOutcome.OK:
            return _reject(f"{key}_{parsed.outcome.value}")
        value = _integer_score(parsed.value)
        if value is None:
            return _reject(f"{key}_not_integer")
        out[column] = value
    reasoning = obj.get("reasoning")
    return Validated(out, "ok", reasoning.strip() if isinstance(reasoning, str) else None)


_QUESTION_RE = re.compile(r"^\s*[-*]\s+.*\?\s*$", re.MULTILINE)


def validate_plan(text: Any) -> Validated:
    """An analysis plan: the ``[Main Subject/Element]`` group and at least one question bullet."""
    if not isinstance(text, str) or not text.strip():
        return _reject("empty")
    if "main subject" not in text.lower():
        return _reject("no_main_subject_group")
    if not _QUESTION_RE.search(text):
        return _reject("no_questions")
    return Validated(text.strip())


def validate_text(text: Any) -> Validated:
    """Any non-empty text (a difference-report pass)."""
    if not isinstance(text, str) or not text.strip():
        return _reject("empty")
    return Validated(text.strip())
