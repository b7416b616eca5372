"""Published numbers the tables show beside the reproduced ones.

Each source is read from the constant that already holds it (one copy of every published number,
documented in docs/papers/): ``{row name: {column key: value}}``, with the table's column keys.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PAPER_SOURCES", "paper_rows"]

PaperRows = dict[str, dict[str, float | None]]


def _firm_bench() -> PaperRows:
    """FIRM-Bench MAE (docs/papers/firm.md §6); columns ``Edit exec`` ... ``Gen overall``."""
    # lazy: torch + transformers (~6 s); the reproduce CLI imports this module at start
    from firm.bench.report import PUBLISHED

    return {name: dict(row) for name, row in PUBLISHED.items()}


def _t2i_eval_bench() -> PaperRows:
    """Overall rho / tau on the real T2I-Eval-Bench (:data:`t2ieval_r1.tables.PUBLISHED_T2I_EVAL_BENCH`)."""
    # lazy: torch + transformers (~4.6 s); the reproduce CLI imports this module at start
    from t2ieval_r1.tables import PUBLISHED_T2I_EVAL_BENCH

    return {
        (f"{p.method} ({p.note})" if p.note else p.method): {
            "t2i_eval/overall/spearman": p.overall_spearman,
            "t2i_eval/overall/kendall": p.overall_kendall,
        }
        for p in PUBLISHED_T2I_EVAL_BENCH
    }


def _firm_table6() -> PaperRows:
    """Score shares (%) of FIRM's curated datasets (:data:`firm.curation.assemble.PUBLISHED_HISTOGRAMS`);
    columns are the scores ``"5"`` ... ``"1"``."""
    # lazy: firm.curation.assemble pulls in torch (~1.5 s); the reproduce CLI imports this module at start
    from firm.curation.assemble import PUBLISHED_HISTOGRAMS

    out: PaperRows = {}
    for (dataset, dimension), hist in PUBLISHED_HISTOGRAMS.items():
        total = sum(hist.values())
        out[f"{dataset} {dimension}"] = {str(s): 100.0 * n / total for s, n in hist.items()}
    return out


PAPER_SOURCES: dict[str, Callable[[], PaperRows]] = {
    "firm_bench": _firm_bench,
    "t2i_eval_bench": _t2i_eval_bench,
    "firm_table6": _firm_table6,
}
"""Named sources of published rows (``paper.source`` of a table)."""


def paper_rows(source: str) -> PaperRows:
    if source not in PAPER_SOURCES:
        raise KeyError(f"unknown paper source {source!r}; known: {', '.join(PAPER_SOURCES)}")
    return PAPER_SOURCES[source]()
