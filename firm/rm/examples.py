"""Curated FIRM rows -> SFT examples of the reward models (docs/papers/firm.md §3).

The RM's input is the images and the instruction / prompt only, through
:func:`firm.prompts.rm.rm_messages` (no difference report, no analysis plan: the RM must
internalise that reasoning); its target is the curated ``response`` (reasoning, then the score,
in the curation format). Columns read per mode (``firm.curation`` datasets):

=============  ==============================================  =========================
mode           input columns                                   target
=============  ==============================================  =========================
execution      ``source_image``, ``edited_image``, ``instruction``  ``response``
consistency    ``source_image``, ``edited_image``, ``instruction``  ``response``
instruction    ``image``, ``prompt``                           ``response``
quality        ``image``                                       ``response``
=============  ==============================================  =========================

With the project's tokenizer (``canonical=True``, the tiny scale) the target is
``common.models.vocabulary.canonical_text(response)``: the tokenizer decodes to that form, so
training and parsing see the same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from common.models.vocabulary import canonical_text
from common.rewards.modes import CONSISTENCY, EDIT_MODES, EXECUTION, INSTRUCTION, QUALITY, RM_MODES
from common.sft import ConcatExamples, LazyExamples, SFTExample
from firm.prompts.rm import rm_messages

__all__ = ["REQUIRED_COLUMNS", "curated_score", "rm_example", "rm_examples", "rm_prompt"]

"""Which modes each reward model is trained on (one model per kind)."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    EXECUTION: ("source_image", "edited_image", "instruction", "response"),
    CONSISTENCY: ("source_image", "edited_image", "instruction", "response"),
    INSTRUCTION: ("image", "prompt", "response"),
    QUALITY: ("image", "response"),
}


def rm_prompt(mode: str, row: Mapping[str, Any], *, template: str = "tiny") -> list[dict[str, Any]]:
    """The RM's input messages for a row in ``mode`` (curated rows and FIRM-Bench rows share
    the columns: ``source_image`` / ``edited_image`` / ``instruction``, or ``image`` / ``prompt``)."""
    if mode in EDIT_MODES:
        return rm_messages(
            mode,
            image=row["edited_image"],
            source=row["source_image"],
            instruction=str(row["instruction"]),
            template=template,
        )
    if mode == INSTRUCTION:
        return rm_messages(mode, image=row["image"], instruction=str(row["prompt"]), template=template)
    if mode == QUALITY:
        return rm_messages(mode, image=row["image"], template=template)
    raise ValueError(f"unknown RM mode {mode!r}; choose from {', '.join(RM_MODES)}")


def rm_example(
    mode: str, row: Mapping[str, Any], *, template: str = "tiny", canonical: bool = True
) -> SFTExample:
    """One curated row of subset ``mode`` as an RM training example."""
    response = str(row["response"])
    return SFTExample(
        rm_prompt(mode, row, template=template), canonical_text(response) if canonical else response
    )


def _check_columns(mode: str, rows: Any) -> None:
    names = getattr(rows, "column_names", None)
    if names is None:
        return
    missing = [c for c in REQUIRED_COLUMNS[mode] if c not in names]
    if missing:
        raise ValueError(f"the {mode} dataset lacks column(s) {missing}; it has {list(names)}")


def rm_examples(
    subsets: Mapping[str, Any],
    modes: Sequence[str],
    *,
    template: str = "tiny",
    canonical: bool = True,
) -> ConcatExamples:
    """The training examples of ``modes``, each from ``subsets[mode]`` (rows read lazily)."""
    parts = []
    for mode in modes:
        if mode not in subsets:
            raise KeyError(f"no {mode!r} subset among the curated data ({', '.join(subsets)})")
        rows = subsets[mode]
        _check_columns(mode, rows)
        parts.append(LazyExamples(rows, partial(_row_example, mode, template, canonical)))
    return ConcatExamples(parts)


def _row_example(mode: str, template: str, canonical: bool, row: Mapping[str, Any]) -> SFTExample:
    return rm_example(mode, row, template=template, canonical=canonical)


def curated_score(mode: str, row: Mapping[str, Any]) -> float:
    """The curated 1-5 score of a row: ``score``, or for ``quality`` QMA's
    ``min(aesthetics, quality, structure)`` (what :func:`firm.prompts.rm.parse_rm_output` returns)."""
    if mode == QUALITY:
        return float(min(row["aesthetics"], row["quality"], row["structure"]))
    return float(row["score"])
