"""Prompts of FIRM's "difference-first" edit curation (docs/papers/firm.md §2), written for this project.

The paper's own prompt texts are not reproduced here; these are new prompts built from the facts
the paper states:

1. Difference report, two passes over (source image, edited image):
   * :data:`DIFF_OBVIOUS_PROMPT`: which subject changed and how it looks in each image, described
     image by image, without comparing or judging;
   * :data:`DIFF_DETAILED_PROMPT`: every difference in quantity, shape/form, texture/surface and
     position/layout.
   :func:`merge_report` joins the two passes into one report.
2. Scoring on 1-5, each answered as JSON ``{"reasoning": "...", "score": n}``:
   * :data:`EXECUTION_PROMPT`: only whether the requested edit happened;
   * :data:`CONSISTENCY_PROMPT`: changes that were not asked for, with what is not counted.

The ``*_messages`` helpers build the chat messages (source image first, then the edited one).
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from common.annotators.types import system_message, user_message

__all__ = [
    "CONSISTENCY_PROMPT",
    "DIFF_DETAILED_PROMPT",
    "DIFF_OBVIOUS_PROMPT",
    "DIFF_SYSTEM",
    "EDIT_PROMPT_VERSION",
    "EXECUTION_PROMPT",
    "JUDGE_SYSTEM",
    "REPORT_DETAILED_HEADER",
    "REPORT_OBVIOUS_HEADER",
    "consistency_messages",
    "difference_messages",
    "execution_messages",
    "merge_report",
]

EDIT_PROMPT_VERSION = "firm-edit-v1"
"""Changes whenever a prompt text changes (recorded in dataset cards)."""

DIFF_SYSTEM = (
    "You are a meticulous visual analyst. You describe what you see in images precisely and "
    "factually, without guessing and without judging quality."
)

JUDGE_SYSTEM = (
    "You are a strict and fair evaluator of image edits. You follow the scoring rubric exactly "
    "and answer only with the JSON object you are asked for."
)

DIFF_OBVIOUS_PROMPT = """\
The first image is the ORIGINAL image. The second image is the EDITED image.

Task: identify the most obvious difference between the two images.
- Name the subject or element that changed (if several changed, name each one).
- Describe how that subject looks in the ORIGINAL image, then describe how it looks in the \
EDITED image. Describe each image on its own terms; do not compare, rank or judge them.
- Mention colour, shape, size and where it is in the picture.
- If the two images look the same, write exactly: "No obvious difference."

Write a short paragraph per changed subject. Do not give any score."""

DIFF_DETAILED_PROMPT = """\
The first image is the ORIGINAL image. The second image is the EDITED image.

Task: list EVERY difference between the two images, including small ones, under these four \
headings:
1. Quantity: objects that appear, disappear, or whose number changes.
2. Shape/Form: objects whose shape, outline or proportions changed.
3. Texture/Surface: changes of colour, material, pattern, brightness or surface detail.
4. Position/Layout: objects that moved, were resized, rotated or rearranged.

Under each heading write one bullet per difference, naming the object and what changed from the \
original to the edited image. Write "None" under a heading with no differences. Report only what \
you can see; do not judge whether a change is good. Do not give any score."""

REPORT_OBVIOUS_HEADER = "## Obvious differences"
REPORT_DETAILED_HEADER = "## Detailed differences"

EXECUTION_PROMPT = """\
The first image is the ORIGINAL image and the second image is the EDITED image. The edit was made \
following this instruction:

Instruction: "{instruction}"

A difference report written by a careful observer of the two images:
<report>
{report}
</report>

Evaluate EXECUTION: did the edited image carry out what the instruction asks for? Judge ONLY \
whether the requested change happened and happened correctly. Ignore any extra changes that were \
not requested, and ignore image quality and realism: they are judged separately.

Scoring rubric (1-5):
5 - Perfect: every part of the instruction is carried out exactly.
4 - Nearly perfect: the instruction is carried out, but a very subtle detail is missing or slightly off.
3 - Partial: the main intent is done, but a significant requested element is missing or wrong.
2 - Barely: the edit barely follows the instruction; most of what was asked is missing or wrong.
1 - Not executed: the requested change did not happen at all, or something unrelated was done.

Use the report and check it against the images. Answer with a single JSON object and nothing \
else, in this form:
{{"reasoning": "<a few sentences on what was requested and what was done>", "score": <1-5>}}"""

CONSISTENCY_PROMPT = """\
The first image is the ORIGINAL image and the second image is the EDITED image. The edit was made \
following this instruction:

Instruction: "{instruction}"

A difference report written by a careful observer of the two images:
<report>
{report}
</report>

Evaluate CONSISTENCY: apart from the change the instruction asks for, did the rest of the image \
stay the same? Count only UNINTENDED changes, i.e. differences that the instruction did not ask \
for. Do not judge whether the instructed edit itself succeeded; that is judged separately.

Do NOT count as unintended changes:
- regions that become hidden or visible because of the instructed change (occlusion effects);
- small variations of image quality (slight blur, noise, compression, colour shifts of the whole image);
- attributes of an entity that the instruction explicitly replaced (the new entity may look different);
- direct physical consequences of the instructed change (its shadow, reflection, contact points).

A significant change is clearly visible (an object added, removed, moved, recoloured or reshaped); \
a minor change is small and easy to miss.

Scoring rubric (1-5):
5 - Only the instructed change; everything else is unchanged.
4 - One significant and/or one or two minor unintended changes.
3 - Two or three significant and/or three or four minor unintended changes.
2 - Four or more significant and/or five or more minor unintended changes.
1 - The image is almost entirely different from the original.

Use the report and check it against the images. Answer with a single JSON object and nothing \
else, in this form:
{{"reasoning": "<a few sentences listing the unintended changes you found>", "score": <1-5>}}"""


def merge_report(obvious: str, detailed: str) -> str:
    """One difference report from the two passes (each stripped; headers mark the passes)."""
    return f"{REPORT_OBVIOUS_HEADER}\n{obvious.strip()}\n\n{REPORT_DETAILED_HEADER}\n{detailed.strip()}"


def difference_messages(pass_name: str, source: Image.Image, edited: Image.Image) -> list[dict[str, Any]]:
    """Messages of one difference pass: ``"obvious"`` or ``"detailed"``."""
    prompts = {"obvious": DIFF_OBVIOUS_PROMPT, "detailed": DIFF_DETAILED_PROMPT}
    if pass_name not in prompts:
        raise ValueError(f"unknown difference pass {pass_name!r}; known: {', '.join(prompts)}")
    return [system_message(DIFF_SYSTEM), user_message(prompts[pass_name], [source, edited])]


DESCRIBE_BOTH_FIRST = (
    "Begin your reasoning with what the original image shows and what the edited image shows, "
    "object by object.\n\n"
)
"""Put before a rubric when the judge is asked to describe both images first."""


def _rubric_text(template: str, instruction: str, report: str, describe_first: bool) -> str:
    text = template.format(instruction=instruction, report=report.strip())
    return DESCRIBE_BOTH_FIRST + text if describe_first else text


def execution_messages(
    instruction: str, report: str, source: Image.Image, edited: Image.Image, *, describe_first: bool = False
) -> list[dict[str, Any]]:
    """Messages of the execution rubric; ``describe_first``: describe both images before judging."""
    text = _rubric_text(EXECUTION_PROMPT, instruction, report, describe_first)
    return [system_message(JUDGE_SYSTEM), user_message(text, [source, edited])]


def consistency_messages(
    instruction: str, report: str, source: Image.Image, edited: Image.Image, *, describe_first: bool = False
) -> list[dict[str, Any]]:
    """Messages of the consistency rubric; ``describe_first``: describe both images before judging."""
    text = _rubric_text(CONSISTENCY_PROMPT, instruction, report, describe_first)
    return [system_message(JUDGE_SYSTEM), user_message(text, [source, edited])]
