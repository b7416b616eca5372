"""Prompts of FIRM's "plan-then-score" generation curation and of its quality prompt.

Written for this project from the facts in docs/papers/firm.md §2 and §4 (the paper's own texts are not
reproduced):

* :data:`PLANNER_PROMPT` (text only, a planner LLM): the T2I prompt -> a Markdown checklist of
  yes/no questions in the groups :data:`PLAN_GROUPS` ([Main Subject/Element], [Attribute/Action],
  [Style/Composition], and [Negative Constraints] only when the prompt excludes something).
* :data:`EVALUATOR_PROMPT` (image + prompt + plan): check every item, then a 1-5 rating ending in
  ``Final Alignment Rating: X`` and ``\\boxed{X}``.
* :data:`QUALITY_PROMPT` (image only): three 1-5 sub-scores, aesthetics, quality and
  structure & texture, as JSON (the Q of QMA is the minimum of the three, mapped to [0, 1]).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from common.annotators.types import system_message, user_message

__all__ = [
    "EVALUATOR_PROMPT",
    "EVALUATOR_SYSTEM",
    "GEN_PROMPT_VERSION",
    "PLANNER_PROMPT",
    "PLANNER_SYSTEM",
    "PLAN_GROUPS",
    "QUALITY_KEYS",
    "QUALITY_PROMPT",
    "QUALITY_SYSTEM",
    "evaluator_messages",
    "planner_messages",
    "quality_messages",
]

GEN_PROMPT_VERSION = "firm-gen-v1"
"""Changes whenever a prompt text changes (recorded in dataset cards)."""

PLAN_GROUPS: tuple[str, ...] = (
    "Main Subject/Element",
    "Attribute/Action",
    "Style/Composition",
    "Negative Constraints",
)
"""Checklist groups, in order; the last one is optional."""

QUALITY_KEYS: tuple[str, ...] = ("aesthetics", "quality", "structure_texture")
"""JSON keys of the quality prompt's sub-scores (structure & texture is one sub-score)."""

PLANNER_SYSTEM = (
    "You are an expert at analysing text-to-image prompts. You turn a prompt into a precise "
    "checklist that another model will use to verify a generated image."
)

PLANNER_PROMPT = """\
Text-to-image prompt: "{prompt}"

Write an analysis plan: a Markdown checklist of yes/no questions that together verify whether an \
image follows this prompt exactly. Group the questions under these headings, in this order:

[Main Subject/Element] - is each subject or object the prompt asks for present (and in the \
requested number)?
[Attribute/Action] - does each subject have the requested attributes (colour, size, material, \
state) and perform the requested actions?
[Style/Composition] - are the requested spatial relations, layout, viewpoint and style respected?
[Negative Constraints] - only if the prompt rules something out (e.g. "no", "without", \
"exactly"): is the excluded thing absent?

Rules:
- One question per line, as a bullet ("- Is there ...?").
- Ask only about what the prompt states or directly implies; do not invent requirements.
- Write "- None" under a heading that has nothing to check (omit [Negative Constraints] entirely \
when the prompt has no exclusions).
Output only the checklist."""

EVALUATOR_SYSTEM = (
    "You are a rigorous evaluator of text-to-image generation. You check images against prompts "
    "item by item and give calibrated ratings."
)

EVALUATOR_PROMPT = """\
Text-to-image prompt: "{prompt}"

Analysis plan (the checklist to verify):
{plan}

Look at the image and go through the plan group by group. For every question, answer Yes or No \
and say briefly what you see. Then write "Final Analysis:" with a short summary of what is right \
and what is wrong.

Rate how well the image follows the prompt on a 1-5 scale:
5 - Everything in the prompt is depicted correctly.
4 - The main content is correct; one or two non-critical details are missing or wrong.
3 - The main subject is present, but several details are missing or wrong.
2 - Most of the main subjects are missing or wrong.
1 - The image is irrelevant to the prompt.

End your answer with exactly these two lines, X being your rating:
Final Alignment Rating: X
\\boxed{{X}}"""

QUALITY_SYSTEM = (
    "You are an expert judge of image quality. You judge how an image looks, not what it depicts "
    "or whether it matches any text."
)

QUALITY_PROMPT = """\
Rate the visual quality of this image on three aspects, each from 1 (very poor) to 5 (excellent):

- aesthetics: overall visual appeal: composition, colour harmony, cleanliness of the picture.
- quality: technical quality: sharpness, absence of noise, blur, stains and other artifacts.
- structure_texture: structural integrity and texture: objects are complete and well formed \
(not cut off, melted, distorted or broken) and their surfaces look coherent.

Do not consider whether the image matches any prompt. Answer with a single JSON object and \
nothing else, in this form:
{"reasoning": "<a few sentences>", "aesthetics": <1-5>, "quality": <1-5>, "structure_texture": <1-5>}"""


def planner_messages(prompt: str) -> list[dict[str, Any]]:
    """Messages asking the planner for the analysis plan of ``prompt`` (text only)."""
    return [system_message(PLANNER_SYSTEM), user_message(PLANNER_PROMPT.format(prompt=prompt))]


DESCRIBE_FIRST = "Begin with one sentence that says what the image shows, object by object.\n\n"
"""Put before the evaluator prompt when it is asked to describe the image first."""


def evaluator_messages(
    prompt: str, plan: str, image: Image.Image, *, describe_first: bool = False
) -> list[dict[str, Any]]:
    """Messages asking the evaluator to check ``image`` against ``prompt`` with ``plan``; with
    ``describe_first``, to say what the image shows before going through the plan."""
    text = EVALUATOR_PROMPT.format(prompt=prompt, plan=plan.strip())
    if describe_first:
        text = DESCRIBE_FIRST + text
    return [system_message(EVALUATOR_SYSTEM), user_message(text, [image])]


def quality_messages(image: Image.Image) -> list[dict[str, Any]]:
    """Messages of the quality prompt (three sub-scores as JSON)."""
    return [system_message(QUALITY_SYSTEM), user_message(QUALITY_PROMPT, [image])]
