"""Prompts of FIRM's reward models (the critics called during RL) and the parser of their answers.

FIRM trains its RMs *without* the curation pipeline's difference report or analysis plan in the
input (docs/papers/firm.md §3): the RM sees only the images and the instruction / prompt and must
internalise that reasoning. Its answer is reasoning then score, in the curation formats:

* ``execution`` / ``consistency`` (edit RM, called once per mode): ``{"reasoning": ..., "score": n}``;
* ``instruction`` (gen RM): per-requirement analysis, ``Final Analysis:``, ``Final Alignment
  Rating: X`` and ``\\boxed{X}``;
* ``quality`` (gen RM, QMA's Q): ``{"reasoning": ..., "aesthetics": a, "quality": q,
  "structure_texture": s}``.

Two templates (:data:`RM_TEMPLATES`):

* ``full`` (``scale=paper``): the curation prompts of :mod:`firm.prompts.edit` /
  :mod:`firm.prompts.gen` with the report / plan section taken out, so the rubric text is the
  one the data was scored with;
* ``tiny`` (``scale=tiny``): short prompts in the project tokenizer's vocabulary (checked by
  :func:`template_oov_words` in a test), asking for the same output formats.

:func:`parse_rm_output` reads an answer (also the tiny models' canonical, lower-case, space-
separated text) into raw 1-5 scores and their normalisation ``(s - 1) / 4`` (docs/papers/firm.md §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from common.annotators.types import system_message, user_message
from common.models.vocabulary import oov_words
from common.parsing import ParseOutcome, parse_score_detailed
from common.registry import Registry
from common.rewards.modes import CONSISTENCY, EDIT_MODES, EXECUTION, INSTRUCTION, QUALITY, RM_MODES
from firm.prompts.edit import CONSISTENCY_PROMPT, EXECUTION_PROMPT, JUDGE_SYSTEM
from firm.prompts.gen import EVALUATOR_PROMPT, EVALUATOR_SYSTEM, QUALITY_PROMPT, QUALITY_SYSTEM

__all__ = [
    "RM_TEMPLATES",
    "RMTemplate",
    "RMVerdict",
    "normalise_score",
    "parse_rm_output",
    "rm_messages",
    "template_oov_words",
]

SCORE_LO, SCORE_HI = 1, 5
QUALITY_PARTS: tuple[str, ...] = ("aesthetics", "quality", "structure_texture")


@dataclass(frozen=True)
class RMTemplate:
    """The user text per mode (fields: ``{instruction}`` for edit modes, ``{prompt}`` for
    ``instruction``) and the system message per mode (``None``: no system message)."""

    texts: dict[str, str]
    systems: dict[str, str | None]


RM_TEMPLATES: Registry[RMTemplate] = Registry("RM prompt template")


def _without_section(prompt: str, start: str, end: str, replace: tuple[str, str] | None = None) -> str:
    """``prompt`` with the text from ``start`` through ``end`` removed (and one phrase swapped)."""
    i = prompt.index(start)
    j = prompt.index(end, i) + len(end)
    out = prompt[:i] + prompt[j:].lstrip("\n")
    if replace is not None:
        out = out.replace(*replace)
    return out


_NO_REPORT = ("Use the report and check it against the images.", "Check the two images carefully.")
_REPORT = ("A difference report written by", "</report>")

RM_TEMPLATES.register("full")(
    RMTemplate(
        texts={
            EXECUTION: _without_section(EXECUTION_PROMPT, *_REPORT, replace=_NO_REPORT),
            CONSISTENCY: _without_section(CONSISTENCY_PROMPT, *_REPORT, replace=_NO_REPORT),
            INSTRUCTION: _without_section(
                EVALUATOR_PROMPT,
                "Analysis plan (the checklist to verify):",
                "{plan}",
                replace=(
                    "go through the plan group by group. For every question",
                    "check every requirement of the prompt, grouped as [Main Subject/Element], "
                    "[Attribute/Action] and [Style/Composition]. For every requirement",
                ),
            ),
            QUALITY: QUALITY_PROMPT,
        },
        systems={
            EXECUTION: JUDGE_SYSTEM,
            CONSISTENCY: JUDGE_SYSTEM,
            INSTRUCTION: EVALUATOR_SYSTEM,
            QUALITY: QUALITY_SYSTEM,
        },
    )
)

_EDIT_HEAD = "image 1 is the original image and image 2 is the edited image . instruction : {instruction} . "
_JSON_TAIL = "answer in json with reasoning and score from 1 to 5 ."
RM_TEMPLATES.register("tiny")(
    RMTemplate(
        texts={
            EXECUTION: _EDIT_HEAD + "evaluate execution : was the requested change done ? " + _JSON_TAIL,
            CONSISTENCY: _EDIT_HEAD
            + "evaluate consistency : apart from the requested change , is the rest of the image "
            "unchanged ? " + _JSON_TAIL,
            INSTRUCTION: "prompt : {prompt} . check the image against every requirement of the prompt : "
            "main subject , attribute and composition . end with the final alignment rating from 1 to 5 .",
            QUALITY: "rate the visual quality of the image : aesthetics , quality and structure_texture , "
            "each from 1 to 5 . answer in json .",
        },
        systems={m: None for m in RM_MODES},
    )
)


def _check_mode(mode: str) -> None:
    if mode not in RM_MODES:
        raise ValueError(f"unknown RM mode {mode!r}; choose one of {', '.join(RM_MODES)}")


def rm_messages(
    mode: str,
    *,
    image: Image.Image,
    instruction: str = "",
    source: Image.Image | None = None,
    template: str = "full",
) -> list[dict[str, Any]]:
    """The chat messages asking the RM to judge ``image`` in ``mode``.

    Edit modes need ``source`` (shown first, then the edited ``image``) and ``instruction`` (the
    edit instruction); ``instruction`` mode takes the T2I prompt as ``instruction``; ``quality``
    looks at ``image`` alone.
    """
    _check_mode(mode)
    tpl = RM_TEMPLATES.get(template)
    if mode in EDIT_MODES:
        if source is None:
            raise ValueError(f"RM mode {mode!r} needs the source image (give source=...)")
        images = [source, image]
        text = tpl.texts[mode].format(instruction=instruction)
    elif mode == INSTRUCTION:
        images = [image]
        text = tpl.texts[mode].format(prompt=instruction)
    else:
        images = [image]
        text = tpl.texts[mode]
    system = tpl.systems.get(mode)
    return ([system_message(system)] if system else []) + [user_message(text, images)]


@dataclass(frozen=True)
class RMVerdict:
    """A parsed RM answer.

    Attributes:
        score: the raw 1-5 score (``quality``: the minimum of the three parts, QMA's rule), or
            ``None`` when the answer cannot be read.
        normalised: ``(score - 1) / 4`` in [0, 1], or ``None``.
        parts: the three raw quality sub-scores (``quality`` mode only).
        reasoning: the text before the score (may be empty).
        error: why the answer was not readable (``None`` when it was).
    """

    score: float | None
    normalised: float | None
    parts: dict[str, float] | None
    reasoning: str
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "normalised": self.normalised,
            "parts": self.parts,
            "reasoning": self.reasoning,
            "error": self.error,
        }


def normalise_score(score: float, lo: float = SCORE_LO, hi: float = SCORE_HI) -> float:
    """``(score - lo) / (hi - lo)``: FIRM's map of 1-5 scores to [0, 1]."""
    return (float(score) - lo) / (hi - lo)


def _part_value(text: str, key: str) -> float | None:
    """The number right after ``key`` (``"key": n`` in JSON or canonical ``" key " : n``)."""
    import re

    m = re.search(rf"{key}\s*\"?\s*:\s*\"?\s*(-?\d+(?:\.\d+)?)", text)
    if m is None:
        return None
    value = float(m.group(1))
    return value if SCORE_LO <= value <= SCORE_HI else None


def _failed(reason: str, text: str) -> RMVerdict:
    return RMVerdict(None, None, None, text.strip(), reason)


def parse_rm_output(mode: str, text: Any) -> RMVerdict:
    """Read an RM answer in ``mode``; never raises (unreadable answers have ``error`` set)."""
    _check_mode(mode)
    if not isinstance(text, str) or not text.strip():
        return _failed("empty", "")
    if mode == QUALITY:
        parts = {k: _part_value(text, k) for k in QUALITY_PARTS}
        missing = [k for k, v in parts.items() if v is None]
        if missing:
            return _failed(f"missing_{missing[0]}", text)
        score = min(v for v in parts.values() if v is not None)
        return RMVerdict(score, normalise_score(score), dict(parts), text.strip(), None)  # type: ignore[arg-type]
    parsed = parse_score_detailed(text, SCORE_LO, SCORE_HI)
    if parsed.outcome is not ParseOutcome.OK or parsed.value is None:
        return _failed(f"score_{parsed.outcome.value}", text)
    cut = text.rfind("\\") if mode == INSTRUCTION and "\\" in text else len(text)
    return RMVerdict(parsed.value, normalise_score(parsed.value), None, text[:cut].strip(), None)


def template_oov_words(template: str = "tiny", extra: Sequence[str] = ()) -> list[str]:
    """Words of ``template`` (and ``extra`` texts) that the project tokenizer does not know."""
    tpl = RM_TEMPLATES.get(template)
    return oov_words([*tpl.texts.values(), *extra])
