"""FIRM's curation prompts (edit: difference-first; generation: plan-then-score; quality)."""

from firm.prompts.edit import (
    CONSISTENCY_PROMPT,
    DIFF_DETAILED_PROMPT,
    DIFF_OBVIOUS_PROMPT,
    EDIT_PROMPT_VERSION,
    EXECUTION_PROMPT,
    consistency_messages,
    difference_messages,
    execution_messages,
    merge_report,
)
from firm.prompts.gen import (
    EVALUATOR_PROMPT,
    GEN_PROMPT_VERSION,
    PLAN_GROUPS,
    PLANNER_PROMPT,
    QUALITY_KEYS,
    QUALITY_PROMPT,
    evaluator_messages,
    planner_messages,
    quality_messages,
)

__all__ = [
    "CONSISTENCY_PROMPT",
    "DIFF_DETAILED_PROMPT",
    "DIFF_OBVIOUS_PROMPT",
    "EDIT_PROMPT_VERSION",
    "EVALUATOR_PROMPT",
    "EXECUTION_PROMPT",
    "GEN_PROMPT_VERSION",
    "PLANNER_PROMPT",
    "PLAN_GROUPS",
    "QUALITY_KEYS",
    "QUALITY_PROMPT",
    "consistency_messages",
    "difference_messages",
    "evaluator_messages",
    "execution_messages",
    "merge_report",
    "planner_messages",
    "quality_messages",
]
