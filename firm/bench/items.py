"""FIRM-Bench's columns and their items, from the embedded world's FIRM-Bench analog.

Columns (docs/papers/firm.md §6) and where their items come from
(:func:`common.world.benchmarks.load_world_dataset`):

==========  ===================  ============  ==============================  ===========
column      world dataset        split         rows                            RM mode
==========  ===================  ============  ==============================  ===========
Edit exec   ``firm_bench_edit``  execution     all (301)                       execution
Edit cons   ``firm_bench_edit``  consistency   all (256)                       consistency
Gen easy    ``firm_bench_gen``   test          ``difficulty == "easy"`` (125)  instruction
Gen hard    ``firm_bench_gen``   test          ``difficulty == "hard"`` (125)  instruction
==========  ===================  ============  ==============================  ===========

The reference of every item is its ``score`` column: the rounded consensus of the world's
simulated human raters on FIRM's 1-5 rubrics. ``Edit overall`` / ``Gen overall`` pool the items
of their two columns (the paper's overall values are the item-weighted means: e.g. FIRM-Edit-8B
(301 x 0.53 + 256 x 0.73) / 557 = 0.62). The items are those of one world level (``level``, a
:mod:`common.world.levels` name; the task passes the run's ``world.level``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.runtime import RunSettings
from common.world.benchmarks import load_world_dataset
from firm.bench.verdicts import JudgeItem
from firm.rm.examples import rm_prompt

__all__ = ["BENCH_COLUMNS", "COLUMNS", "DOMAINS", "OVERALL", "BenchColumn", "load_bench_items"]


@dataclass(frozen=True)
class BenchColumn:
    """One scored column: world dataset, split, an optional ``difficulty`` filter, the RM mode."""

    name: str
    domain: str
    dataset: str
    split: str
    mode: str
    difficulty: str | None = None


BENCH_COLUMNS: tuple[BenchColumn, ...] = (
    BenchColumn("Edit exec", "edit", "firm_bench_edit", "execution", "execution"),
    BenchColumn("Edit cons", "edit", "firm_bench_edit", "consistency", "consistency"),
    BenchColumn("Gen easy", "gen", "firm_bench_gen", "test", "instruction", "easy"),
    BenchColumn("Gen hard", "gen", "firm_bench_gen", "test", "instruction", "hard"),
)
OVERALL: dict[str, tuple[str, str]] = {
    "Edit overall": ("Edit exec", "Edit cons"),
    "Gen overall": ("Gen easy", "Gen hard"),
}
"""Overall columns and the columns whose items they pool."""
COLUMNS: tuple[str, ...] = ("Edit exec", "Edit cons", "Edit overall", "Gen easy", "Gen hard", "Gen overall")
"""The table's columns in the paper's order."""
DOMAINS: dict[str, tuple[str, ...]] = {
    "edit": ("Edit exec", "Edit cons"),
    "gen": ("Gen easy", "Gen hard"),
}


def load_bench_items(
    settings: RunSettings | str | None,
    *,
    template: str,
    max_items: int | None = None,
    domains: tuple[str, ...] = ("edit", "gen"),
    world_scale: float = 1.0,
    level: str | None = None,
) -> dict[str, list[JudgeItem]]:
    """``{column: items}`` of the world's FIRM-Bench at world ``level`` (``None``: ``full``; the
    first ``max_items`` of each column).

    ``world_scale`` scales the benchmark's sizes when it is built (1.0: the FIRM-Bench sizes;
    smaller values build a smaller benchmark, e.g. for tests).
    """
    cache: dict[str, Any] = {}
    out: dict[str, list[JudgeItem]] = {}
    for col in BENCH_COLUMNS:
        if col.domain not in domains:
            continue
        if col.dataset not in cache:
            cache[col.dataset] = load_world_dataset(
                settings, col.dataset, scale=float(world_scale), level=level
            )
        rows = cache[col.dataset][col.split]
        if col.difficulty is not None:
            keep = [i for i, d in enumerate(rows["difficulty"]) if d == col.difficulty]
            rows = rows.select(keep)
        if max_items is not None:
            rows = rows.select(range(min(int(max_items), len(rows))))
        out[col.name] = [
            JudgeItem(str(r["id"]), col.mode, rm_prompt(col.mode, r, template=template), float(r["score"]))
            for r in rows
        ]
    return out
