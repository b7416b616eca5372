"""FIRM-Bench results over seeds, the acceptance check against the base, and the tables.

* :func:`aggregate`: per column, the mean and standard deviation (``ddof = 0``) of the per-seed
  MAEs, the per-seed values, the missing answers summed over seeds and the per-seed Spearman
  rho against the human scores with its mean over the seeds where it is defined;
* :func:`beats`: for each column, whether every seed (and the mean) of a row has a lower MAE than
  a reference row (the trained RMs against their own base zero-shot);
* :func:`render_report`: Markdown with the MAE table (this run's rows, then the paper's rows,
  labelled "(published)", docs/papers/firm.md §6), the per-seed table and the parse-failure counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.scoring.tables import to_markdown
from firm.bench.items import COLUMNS

__all__ = ["BEST_CONSTANT", "PUBLISHED", "aggregate", "beats", "below", "render_report", "table_rows"]

BEST_CONSTANT = "best constant (median of the human scores)"
"""The row name of the honest floor (:func:`firm.bench.metrics.best_constant_columns`)."""

PUBLISHED: dict[str, dict[str, float]] = {
    "GPT-5": dict(zip(COLUMNS, (0.62, 0.73, 0.67, 0.50, 0.53, 0.52), strict=True)),
    "Gemini-3-pro": dict(zip(COLUMNS, (0.54, 0.57, 0.55, 0.38, 0.42, 0.40), strict=True)),
    "Qwen3-VL-8B": dict(zip(COLUMNS, (0.66, 1.12, 0.87, 0.63, 0.63, 0.63), strict=True)),
    "Qwen3-VL-235B-A22B": dict(zip(COLUMNS, (0.72, 0.91, 0.81, 0.60, 0.52, 0.56), strict=True)),
    "FIRM-Edit-8B / FIRM-Gen-8B": dict(zip(COLUMNS, (0.53, 0.73, 0.62, 0.45, 0.57, 0.51), strict=True)),
}
"""FIRM-Bench MAE published in the paper (docs/papers/firm.md §6; human 1-5 scores, lower is better)."""


def aggregate(seeds: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``{column: {"mean", "std", "per_seed", "n_missing", "n"}}`` over per-seed column results."""
    out: dict[str, dict[str, Any]] = {}
    for col in COLUMNS:
        values = [s[col] for s in seeds if col in s]
        if not values:
            continue
        maes = np.array([v["mae"] for v in values], dtype=np.float64)
        rhos = [v.get("spearman") for v in values]
        defined = [float(r) for r in rhos if r is not None]
        out[col] = {
            "mean": float(maes.mean()),
            "std": float(maes.std()),
            "per_seed": [float(m) for m in maes],
            "spearman_per_seed": rhos,
            "spearman_mean": float(np.mean(defined)) if defined else None,
            "n_missing": int(sum(v["n_missing"] for v in values)),
            "n": int(sum(v["n"] for v in values)),
        }
    return out


def beats(row: Mapping[str, Mapping[str, Any]], reference: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per shared column: ``all_seeds`` (every seed's MAE below the reference's mean MAE), ``mean``."""
    out: dict[str, Any] = {}
    for col in COLUMNS:
        if col in row and col in reference:
            ref = reference[col]["mean"]
            out[col] = {
                "reference": ref,
                "all_seeds": bool(all(v < ref for v in row[col]["per_seed"])),
                "mean": bool(row[col]["mean"] < ref),
            }
    out["all_columns_all_seeds"] = bool(out) and all(v["all_seeds"] for v in out.values())
    return out


def below(
    row: Mapping[str, Mapping[str, Any]], reference: Mapping[str, Mapping[str, Any]]
) -> dict[str, float]:
    """Per shared column, how far the row's mean MAE is below the reference's: ``1 - MAE / MAE_ref``
    (0.2: 20% lower; negative: higher)."""
    return {
        col: 1.0 - row[col]["mean"] / reference[col]["mean"]
        for col in COLUMNS
        if col in row and col in reference and reference[col]["mean"] > 0
    }


def table_rows(results: Mapping[str, Mapping[str, Mapping[str, Any]]], key: str = "mean") -> dict[str, dict]:
    """``{row name: {column: value}}`` of one statistic (``mean``, ``std``, ``n_missing``)."""
    return {name: {col: agg[col][key] for col in COLUMNS if col in agg} for name, agg in results.items()}


def _seed_label(i: int, seeds: Sequence[int | None]) -> str:
    s = seeds[i] if i < len(seeds) else None
    return f"seed {s}" if s is not None else f"run {i}"


def _fmt_rho(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"


def render_report(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    seed_labels: Mapping[str, Sequence[int | None]],
    *,
    title: str = "FIRM-Bench (world analog)",
    policy: str = "mean_fill",
    n_items: Mapping[str, int] | None = None,
) -> str:
    """The Markdown report (module docstring)."""
    cols = ["model", *COLUMNS]
    mean_rows: dict[str, dict[str, Any]] = {}
    for name, agg in results.items():
        k = max((len(v["per_seed"]) for v in agg.values()), default=0)
        label = f"{name} (mean of {k} seeds)" if k > 1 else name
        mean_rows[label] = {col: agg[col]["mean"] for col in COLUMNS if col in agg}
    for name, row in PUBLISHED.items():
        mean_rows[f"{name} (published)"] = dict(row)
    seed_rows: dict[str, dict[str, Any]] = {}
    missing_rows: dict[str, dict[str, Any]] = {}
    rho_rows = {
        name: {col: _fmt_rho(agg[col].get("spearman_mean")) for col in COLUMNS if col in agg}
        for name, agg in results.items()
    }
    for name, agg in results.items():
        k = max((len(v["per_seed"]) for v in agg.values()), default=0)
        for i in range(k):
            label = f"{name} [{_seed_label(i, seed_labels.get(name, []))}]" if k > 1 else name
            seed_rows[label] = {
                col: agg[col]["per_seed"][i]
                for col in COLUMNS
                if col in agg and i < len(agg[col]["per_seed"])
            }
        missing_rows[name] = {col: agg[col]["n_missing"] for col in COLUMNS if col in agg}
    sizes = ", ".join(f"{c} {n}" for c, n in (n_items or {}).items())
    lines = [
        f"# {title}",
        "",
        "Mean absolute error against the human-like 1-5 scores (lower is better). Rows marked "
        "(published) are the paper's numbers on the real FIRM-Bench (docs/papers/firm.md §6), shown for "
        "layout only: they are not comparable with the world analog's rows above them.",
        "",
        to_markdown(mean_rows, cols, floatfmt=".3f", index_name="model"),
        "## Per seed",
        "",
        to_markdown(seed_rows, cols, floatfmt=".3f", index_name="model"),
        "## Unparseable answers (summed over seeds)",
        "",
        f"Policy `{policy}`: a missing score is replaced by the mean of the column's parsed scores "
        "(3, the scale's midpoint, when none parsed); overall columns pool their two columns' items."
        if policy == "mean_fill"
        else f"Policy `{policy}` (common.scoring.missing).",
        "",
        to_markdown(missing_rows, cols, floatfmt=".0f", index_name="model"),
        "## Rank agreement with the human scores",
        "",
        "Spearman's rho between each critic's scores (after the missing-answer policy) and the "
        "human-like scores, mean over seeds (higher is better; n/a: constant scores). Not a "
        "FIRM-Bench metric: a critic that scores every item near the column's mean gets a fair MAE "
        "with a rho near 0.",
        "",
        to_markdown(rho_rows, cols, index_name="model"),
    ]
    if BEST_CONSTANT in results:
        floor = results[BEST_CONSTANT]
        margin_rows = {
            name: {col: f"{v:+.1%}" for col, v in below(agg, floor).items()}
            for name, agg in results.items()
            if name != BEST_CONSTANT
        }
        lines += [
            "## MAE below the best constant",
            "",
            "`1 - MAE / MAE(best constant)`, mean MAE over seeds; the best constant answers the median "
            "of each column's human scores (fitted on these items, so slightly flattering to it). "
            "Positive: the critic carries information beyond the scores' distribution.",
            "",
            to_markdown(margin_rows, cols, index_name="model"),
        ]
    if sizes:
        lines += [f"Items per column: {sizes}.", ""]
    return "\n".join(lines)
