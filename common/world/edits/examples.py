"""Edit examples: a sloppy result of an edit together with its diff, FIRM scores and instruction
text (:class:`EditExample`, :func:`make_example`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.world.edits.diff import SceneDiff, diff_scenes
from common.world.edits.model import Edit
from common.world.edits.rubric import consistency_score, execution_score
from common.world.edits.sloppy import sloppy_result
from common.world.edits.text import difference_report, instruction_text
from common.world.levels import WorldLevel
from common.world.scene import Scene


@dataclass(frozen=True)
class EditExample:
    """A source scene, an edit, one (possibly sloppy) result and its ground truth."""

    source: Scene
    edit: Edit
    instruction: str
    result: Scene
    execution: int
    consistency: int
    execution_variant: str
    consistency_variant: str
    diff: SceneDiff

    def report(self) -> dict[str, str]:
        return difference_report(self.source, self.result, self.diff)


def make_example(
    source: Scene,
    edit: Edit,
    rng: np.random.Generator,
    *,
    execution: str = "perfect",
    consistency: str = "clean",
    n_changes: int | None = None,
    style: int | None = None,
    level: str | WorldLevel | None = None,
) -> EditExample:
    """A sloppy result of ``edit`` with its diff and FIRM scores (``level``: see :func:`sloppy_result`)."""
    result = sloppy_result(
        source, edit, rng, execution=execution, consistency=consistency, n_changes=n_changes, level=level
    )
    diff = diff_scenes(source, result)
    text = instruction_text(edit, int(rng.integers(3)) if style is None else style)
    return EditExample(
        source=source,
        edit=edit,
        instruction=text,
        result=result,
        execution=execution_score(edit, source, result, diff),
        consistency=consistency_score(edit, source, result, diff),
        execution_variant=execution,
        consistency_variant=consistency,
        diff=diff,
    )
