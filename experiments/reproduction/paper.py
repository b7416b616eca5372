"""Published numbers the tables show beside the reproduced ones.

Each source is read from the constant that already holds it (one copy of every published number,
documented in docs/papers/): ``{row name: {column key: value}}``, with the table's column keys.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FIRM_TABLE3_COLUMNS", "FIRM_TABLE4_COLUMNS", "PAPER_SOURCES", "TIFA_ROW_LABELS", "paper_rows"]

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


TIFA_ROW_LABELS: dict[str, str] = {
    "meteor": "METEOR",
    "bleu": "BLEU",
    "rouge": "ROUGE",
    "spice": "SPICE",
    "clipscore_vitb32": "CLIPScore (ViT-B/32)",
    "tifa_vilt": "TIFA (ViLT)",
    "tifa_git-large": "TIFA (GIT-large)",
    "tifa_ofa-large": "TIFA (OFA-large)",
    "tifa_blip2-flant5xl": "TIFA (BLIP-2 FlanT5-XL)",
    "tifa_mplug-large": "TIFA (mPLUG-large)",
}
"""The TIFA file's metric keys -> the row labels of ``tifa_meta_eval`` (its paper rows are named so)."""


def _tifa() -> PaperRows:
    """The TIFA authors' correlations on the TIFA v1.0 file
    (:data:`t2ieval_r1.benchmarks.tifa.PUBLISHED_TIFA_CORRELATIONS`, docs/papers/tifa.md §3):
    Pearson and Kendall tau-b, rows named as ``tifa_meta_eval``'s (:data:`TIFA_ROW_LABELS`)."""
    # lazy: common.scoring pulls in numpy + scipy (~1.3 s); the reproduce CLI imports this module at start
    from t2ieval_r1.benchmarks.tifa import PUBLISHED_TIFA_CORRELATIONS

    return {TIFA_ROW_LABELS[m]: dict(row) for m, row in PUBLISHED_TIFA_CORRELATIONS.items()}


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


FIRM_TABLE3_COLUMNS: dict[str, str] = {
    "GEdit G_SC": "execution",
    "GEdit G_O": "correct",
    "GEdit G_PQ": "GEdit G_PQ",
    "ImgEdit": "ImgEdit",
}
"""FIRM's published editing benchmarks -> the column keys of ``firm_rl_table3``: GEdit's semantic
consistency (did the edit do what the instruction asked) beside the world's execution rate, GEdit's
overall beside the world's correct rate (executed and consistent); perceptual quality and ImgEdit
have no world analog and are paper-only columns. Their scales (GEdit 0-10, ImgEdit 1-5) are not the
world's rates (0-1): only the direction of a change compares."""

FIRM_TABLE4_COLUMNS: dict[str, str] = {
    "GenEval": "strict",
    "DPG-Bench": "DPG-Bench",
    "TIIF mini-short": "TIIF mini-short",
    "UniGenBench++ short": "UniGenBench++ short",
    "UniGenBench++ long": "UniGenBench++ long",
}
"""FIRM's published generation benchmarks -> the column keys of ``firm_rl_table4``: GenEval overall
(0-1) beside the GenEval-world strict overall; the other benchmarks are paper-only columns."""


def _firm_rl(kind: str) -> PaperRows:
    # no heavy imports in firm.rl.published; firm.rl's package __init__ imports nothing
    from firm.rl.published import PUBLISHED_RL_EDIT, PUBLISHED_RL_GEN

    published, columns = (
        (PUBLISHED_RL_EDIT, FIRM_TABLE3_COLUMNS)
        if kind == "edit"
        else (PUBLISHED_RL_GEN, FIRM_TABLE4_COLUMNS)
    )
    return {name: {columns[c]: v for c, v in row.items()} for name, row in published.items()}


def _firm_table3() -> PaperRows:
    """FIRM's editing RL (:data:`firm.rl.published.PUBLISHED_RL_EDIT`) on ``firm_rl_table3``'s
    columns (:data:`FIRM_TABLE3_COLUMNS`)."""
    return _firm_rl("edit")


def _firm_table4() -> PaperRows:
    """FIRM's generation RL (:data:`firm.rl.published.PUBLISHED_RL_GEN`) on ``firm_rl_table4``'s
    columns (:data:`FIRM_TABLE4_COLUMNS`)."""
    return _firm_rl("gen")


PAPER_SOURCES: dict[str, Callable[[], PaperRows]] = {
    "firm_bench": _firm_bench,
    "t2i_eval_bench": _t2i_eval_bench,
    "tifa": _tifa,
    "firm_table6": _firm_table6,
    "firm_table3": _firm_table3,
    "firm_table4": _firm_table4,
}
"""Named sources of published rows (``paper.source`` of a table)."""


def paper_rows(source: str) -> PaperRows:
    if source not in PAPER_SOURCES:
        raise KeyError(f"unknown paper source {source!r}; known: {', '.join(PAPER_SOURCES)}")
    return PAPER_SOURCES[source]()
