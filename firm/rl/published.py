"""FIRM's published RL results (docs/papers/firm.md §5), exactly as written there.

The real benchmarks at 512 px with 8B / 32B critics: the rows the world tables of
``make reproduce-tables`` (``firm_rl_table3`` / ``firm_rl_table4``) show beside the reproduced
ones, labelled as the paper's (:mod:`experiments.reproduction.paper` maps them onto those columns).
Row names and column names are the document's.
"""

from __future__ import annotations

__all__ = ["PUBLISHED_RL_EDIT", "PUBLISHED_RL_GEN", "RL_EDIT_COLUMNS", "RL_GEN_COLUMNS"]

RL_EDIT_COLUMNS: tuple[str, ...] = ("GEdit G_SC", "GEdit G_PQ", "GEdit G_O", "ImgEdit")
"""GEdit-Bench semantic consistency / perceptual quality / overall (0-10) and ImgEdit overall (1-5)."""

RL_GEN_COLUMNS: tuple[str, ...] = (
    "GenEval",
    "DPG-Bench",
    "TIIF mini-short",
    "UniGenBench++ short",
    "UniGenBench++ long",
)
"""GenEval overall (0-1), DPG-Bench, TIIF mini-short and UniGenBench++ short / long prompts (0-100)."""

PUBLISHED_RL_EDIT: dict[str, dict[str, float]] = {
    "Qwen-Image-Edit-2509 (start)": {
        "GEdit G_SC": 8.15,
        "GEdit G_PQ": 7.86,
        "GEdit G_O": 7.54,
        "ImgEdit": 4.35,
    },
    "RL, Qwen3-VL-8B critic": {"GEdit G_SC": 8.04, "GEdit G_PQ": 8.22, "GEdit G_O": 7.69, "ImgEdit": 4.36},
    "RL, Qwen3-VL-32B critic": {"GEdit G_SC": 7.94, "GEdit G_PQ": 8.16, "GEdit G_O": 7.65, "ImgEdit": 4.28},
    "FIRM-Qwen-Edit (FIRM-Edit-8B + CME)": {
        "GEdit G_SC": 8.25,
        "GEdit G_PQ": 8.20,
        "GEdit G_O": 7.84,
        "ImgEdit": 4.42,
    },
}
"""The editing table of docs/papers/firm.md §5: Qwen-Image-Edit-2509 before and after RL."""

PUBLISHED_RL_GEN: dict[str, dict[str, float]] = {
    "SD3.5-Medium (start)": {
        "GenEval": 0.52,
        "DPG-Bench": 84.08,
        "TIIF mini-short": 70.17,
        "UniGenBench++ short": 60.71,
        "UniGenBench++ long": 64.67,
    },
    "RL, Qwen3-VL-8B critic": {
        "GenEval": 0.76,
        "DPG-Bench": 86.87,
        "TIIF mini-short": 75.99,
        "UniGenBench++ short": 67.17,
        "UniGenBench++ long": 74.50,
    },
    "RL, Qwen3-VL-32B critic": {
        "GenEval": 0.70,
        "DPG-Bench": 85.94,
        "TIIF mini-short": 76.43,
        "UniGenBench++ short": 67.79,
        "UniGenBench++ long": 73.56,
    },
    "FIRM-SD3.5 (FIRM-Gen-8B + QMA)": {
        "GenEval": 0.77,
        "DPG-Bench": 87.16,
        "TIIF mini-short": 77.12,
        "UniGenBench++ short": 69.56,
        "UniGenBench++ long": 76.22,
    },
}
"""The generation table of docs/papers/firm.md §5: SD3.5-Medium before and after RL."""
