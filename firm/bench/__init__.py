"""FIRM-Bench on the embedded world: MAE of critics against human-like 1-5 scores (docs/papers/firm.md §6).

* :mod:`firm.bench.items`: the columns (Edit exec / cons, Gen easy / hard, and the pooled
  overalls) and their items from the world's FIRM-Bench analog;
* :mod:`firm.bench.verdicts`: items -> any :class:`common.annotators.Annotator` -> parsed verdicts;
* :mod:`firm.bench.critics`: the rows (base zero-shot, trained RMs per seed, other models,
  OpenAI-compatible endpoints) and their annotators;
* :mod:`firm.bench.metrics`: MAE per column with the missing-answer policy;
* :mod:`firm.bench.report`: means over seeds, the acceptance check, the tables with the
  published rows beside them.

The experiment is ``+exp=firm_bench`` (:mod:`firm.tasks.bench`).
"""

from firm.bench.critics import JudgeSpec, build_judges
from firm.bench.items import BENCH_COLUMNS, COLUMNS, OVERALL, BenchColumn, load_bench_items
from firm.bench.metrics import ColumnResult, score_column, score_columns
from firm.bench.report import PUBLISHED, aggregate, beats, render_report
from firm.bench.verdicts import JudgeItem, judge

__all__ = [
    "BENCH_COLUMNS",
    "COLUMNS",
    "OVERALL",
    "PUBLISHED",
    "BenchColumn",
    "ColumnResult",
    "JudgeItem",
    "JudgeSpec",
    "aggregate",
    "beats",
    "build_judges",
    "judge",
    "load_bench_items",
    "render_report",
    "score_column",
    "score_columns",
]
