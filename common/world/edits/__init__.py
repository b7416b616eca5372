"""Edits of world scenes, sloppy executions of them, and FIRM's execution / consistency truth.

An :class:`Edit` is one instruction (recolour, add, remove, move, replace, resize) addressed to
objects by a referring expression (:class:`Ref`, e.g. "the red circle", "all the squares").
:func:`apply_edit` executes it perfectly; :func:`sloppy_result` executes it the way a weak editor
would (partly, on the wrong object, with extra unintended changes, or not at all). The ground
truth never comes from the variant's name: it is read from the scene difference.

One concern per module (this package re-exports the public names callers use):

    model     the edit kinds, :class:`Ref`, :class:`Edit`, :class:`EditError`
    geometry  size names, the destination regions (:data:`REGIONS`), regions of points, free
              spots for placed objects
    apply     :func:`apply_edit`, the perfect execution
    diff      :func:`diff_scenes`, the significant / minor changes between two scenes
    rubric    FIRM's execution and consistency scores from the diff
    text      instruction phrasings, change texts and FIRM's difference report
    sampling  :func:`sample_edit` and the one loop drawing (scene, edit) sources,
              :func:`sample_edit_sources`
    sloppy    :func:`sloppy_result`, an edit executed the way a weak editor would
    examples  :func:`make_example`, a sloppy result with its diff and truth (:class:`EditExample`)
"""

from common.world.edits.apply import apply_edit
from common.world.edits.diff import (
    MOVE_MINOR,
    MOVE_SIGNIFICANT,
    RESIZE_MINOR,
    RESIZE_SIGNIFICANT,
    ROTATE_MINOR,
    UNMATCHED_COST,
    Change,
    SceneDiff,
    diff_scenes,
)
from common.world.edits.examples import EditExample, make_example
from common.world.edits.geometry import (
    MAX_RADIUS,
    MIN_RADIUS,
    REGIONS,
    region_distance,
    region_of,
    size_name,
)
from common.world.edits.model import EDIT_KINDS, Edit, EditError, Ref
from common.world.edits.rubric import (
    MOVE_NEAR,
    NEAR_COLORS,
    consistency_from_counts,
    consistency_score,
    execution_levels,
    execution_score,
    instructed,
    unintended_changes,
)
from common.world.edits.sampling import RESIZE_FACTOR, sample_edit, sample_edit_sources
from common.world.edits.sloppy import CONSISTENCY_VARIANTS, EXECUTION_VARIANTS, sloppy_result
from common.world.edits.text import (
    CHANGE_KINDS,
    change_kind,
    change_text,
    describe_object,
    difference_report,
    instruction_text,
    place_phrase,
    significant_changes_text,
)

__all__ = [
    "CHANGE_KINDS",
    "CONSISTENCY_VARIANTS",
    "EDIT_KINDS",
    "EXECUTION_VARIANTS",
    "MAX_RADIUS",
    "MIN_RADIUS",
    "MOVE_MINOR",
    "MOVE_NEAR",
    "MOVE_SIGNIFICANT",
    "NEAR_COLORS",
    "REGIONS",
    "RESIZE_FACTOR",
    "RESIZE_MINOR",
    "RESIZE_SIGNIFICANT",
    "ROTATE_MINOR",
    "UNMATCHED_COST",
    "Change",
    "Edit",
    "EditError",
    "EditExample",
    "Ref",
    "SceneDiff",
    "apply_edit",
    "change_kind",
    "change_text",
    "consistency_from_counts",
    "consistency_score",
    "describe_object",
    "diff_scenes",
    "difference_report",
    "execution_levels",
    "execution_score",
    "instructed",
    "instruction_text",
    "make_example",
    "place_phrase",
    "region_distance",
    "region_of",
    "sample_edit",
    "sample_edit_sources",
    "significant_changes_text",
    "size_name",
    "sloppy_result",
    "unintended_changes",
]
