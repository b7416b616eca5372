"""``+exp=tifa_meta_eval``: meta-evaluate TIFA v1.0's automatic metrics against human judgments.

For each of the 10 automatic metrics in the TIFA v1.0 human-judgment file (and, optionally, a
predictions file from any scorer), computes Pearson, Spearman and Kendall tau-b against
``human_avg`` over the 800 images, with paired percentile-bootstrap confidence intervals (the same
resampled images for every row, seeded by ``cfg.seed``), optionally the within-prompt pairwise
accuracy, and, as a reference row, the agreement of the two annotators with each other.

Returns ``{"<row>": {"pearson": x, "pearson_ci": [lo, hi], ..., "n": 800, ...}}`` (written to
``metrics.json``) and writes ``<run_dir>/tifa_meta_eval.md`` / ``.csv`` / ``.tex`` in the run directory; the
Markdown table is printed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from common.runtime import RunContext
from common.scoring.bootstrap import BootstrapConfig
from common.scoring.tables import to_markdown, write_tables
from t2ieval_r1.benchmarks.tifa import (
    TIFA_METRICS,
    human_targets,
    load_predictions,
    load_tifa_human,
    meta_evaluate_tifa,
    metric_predictions,
)

INTER_RATER_ROW = "human_inter_rater"

_DISPLAY = {"pearson": "Pearson", "spearman": "Spearman", "kendall": "Kendall tau-b", "mae": "MAE"}


def table_rows(
    results: dict[str, dict[str, Any]], statistics: Sequence[str], confidence: float, pairwise: bool
) -> list[dict[str, Any]]:
    """One table row per result: each statistic and its interval, pairwise accuracies, counts."""
    rows = []
    pct = f"{100 * confidence:g}% CI"
    for name, res in results.items():
        row: dict[str, Any] = {"metric": name}
        for stat in statistics:
            label = _DISPLAY.get(stat, stat)
            row[label] = res.get(stat)
            if f"{stat}_ci" in res:
                row[f"{label} {pct}"] = res[f"{stat}_ci"]
        if pairwise:
            row["pair acc"] = res.get("pairwise_acc")
            row["pair acc (ties)"] = res.get("pairwise_acc_ties")
        row["n"] = res["n"]
        row["missing"] = res["n_missing"]
        rows.append(row)
    return rows


def run(
    cfg: DictConfig,
    ctx: RunContext,
    statistics: Sequence[str] = ("pearson", "spearman", "kendall"),
    n_resamples: int = 1000,
    confidence: float = 0.95,
    missing: str = "mean_fill",
    target: str = "human_avg",
    pairwise: bool = True,
    inter_rater: bool = True,
    predictions: str | None = None,
    predictions_name: str = "predictions",
    data_path: str | None = None,
    floatfmt: str = ".3f",
) -> dict[str, Any]:
    """Meta-evaluate the TIFA metrics (and ``predictions``, if given); see the module doc.

    ``n_resamples=0`` skips the bootstrap. ``data_path`` replaces the vendored TIFA file.
    """
    start = time.perf_counter()
    statistics = [str(s) for s in statistics]
    records = load_tifa_human(data_path)
    boot = BootstrapConfig(int(n_resamples), float(confidence), int(ctx.seed)) if n_resamples else None
    common: dict[str, Any] = {
        "records": records,
        "metrics": statistics,
        "bootstrap": boot,
        "missing": missing,
        "pairwise": pairwise,
    }

    sources: dict[str, tuple[dict[str, float | None], str]] = {
        m: (dict(metric_predictions(m, records)), target) for m in TIFA_METRICS
    }
    if predictions is not None:
        if predictions_name in sources or predictions_name == INTER_RATER_ROW:
            raise ValueError(f"predictions_name {predictions_name!r} clashes with a built-in row")
        sources[predictions_name] = (load_predictions(Path(predictions)), target)
    if inter_rater:
        # Annotator 1 as the "prediction" of annotator 2: the agreement a metric could hope for.
        sources[INTER_RATER_ROW] = (dict(human_targets(records, "human_0")), "human_1")

    results: dict[str, dict[str, Any]] = {}
    for name in ctx.progress(sources, desc="tifa meta-eval", total=len(sources)):
        preds, tgt = sources[name]
        results[name] = meta_evaluate_tifa(preds, **common, target=tgt)
        if tgt != target:
            results[name]["target"] = tgt

    rows = table_rows(results, statistics, confidence, pairwise)
    boot_note = (
        f"{100 * confidence:g}% percentile-bootstrap CIs over {n_resamples} paired resamples of images "
        f"(seed {ctx.seed})"
        if boot
        else "no bootstrap"
    )
    caption = (
        f"TIFA v1.0 human judgments ({len(records)} images): correlation of each metric with {target}; "
        f"{boot_note}; missing predictions: {missing}."
        + (" Pair acc: within-prompt pairs, human ties excluded / included." if pairwise else "")
        + (f" {INTER_RATER_ROW}: annotator 1 vs annotator 2." if inter_rater else "")
    )
    table_md = to_markdown(rows, floatfmt=floatfmt)
    write_tables(rows, ctx.run_dir / "tifa_meta_eval", floatfmt=floatfmt, caption=caption)
    ctx.log_table("tifa_meta_eval", rows)
    (ctx.run_dir / "tifa_meta_eval.md").write_text(caption + "\n\n" + table_md)
    print(caption + "\n\n" + table_md, flush=True)
    ctx.log({"rows": len(results), "seconds": round(time.perf_counter() - start, 3)}, step=0)
    return results
