"""End to end: ``python -m experiments.run +exp=tifa_meta_eval`` writes metrics.json and the tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from t2ieval_r1.benchmarks.tifa import TIFA_METRICS, load_tifa_human

ROOT = Path(__file__).resolve().parents[2]
TIFA_VQA = [m for m in TIFA_METRICS if m.startswith("tifa_")]
OTHERS = [m for m in TIFA_METRICS if not m.startswith("tifa_")]


def test_tifa_meta_eval_end_to_end(tmp_path: Path) -> None:
    preds = tmp_path / "my_scorer.jsonl"
    recs = load_tifa_human()
    preds.write_text("".join(json.dumps({"id": r.id, "score": r.human_scores[0]}) + "\n" for r in recs[:700]))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.run",
            "+exp=tifa_meta_eval",
            f"paths.output_dir={tmp_path}",
            "task.n_resamples=30",
            f"task.predictions={preds}",
            "task.predictions_name=my_scorer",
            "runtime.progress=false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs" / "tifa_meta_eval").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())

    assert list(metrics) == [*TIFA_METRICS, "my_scorer", "human_inter_rater"]
    for name, row in metrics.items():
        for stat in ("pearson", "spearman", "kendall"):
            lo, hi = row[f"{stat}_ci"]
            assert -1.0 <= lo <= row[stat] <= hi <= 1.0, (name, stat)
        assert row["n"] == 800
    assert metrics["my_scorer"]["n_missing"] == 100
    assert metrics["tifa_vilt"]["n_missing"] == 0

    # Checked by hand once against the file: every TIFA-VQA metric correlates better with the
    # humans than every caption metric and CLIPScore; mPLUG-large is the best TIFA-VQA metric
    # (Spearman 0.592, Kendall 0.472, Pearson 0.597) and BLEU the worst metric (Pearson 0.183).
    for stat in ("spearman", "kendall", "pearson"):
        assert min(metrics[m][stat] for m in TIFA_VQA) > max(metrics[m][stat] for m in OTHERS)
        assert max(TIFA_METRICS, key=lambda m: metrics[m][stat]) == "tifa_mplug-large"
    assert min(TIFA_METRICS, key=lambda m: metrics[m]["pearson"]) == "bleu"
    assert round(metrics["tifa_mplug-large"]["spearman"], 3) == 0.592
    assert round(metrics["tifa_mplug-large"]["kendall"], 3) == 0.472

    table = (run_dir / "tifa_meta_eval.md").read_text()
    assert "| tifa_mplug-large    |   0.597 |" in table and table in proc.stdout
    assert (run_dir / "tifa_meta_eval.csv").read_text().startswith("metric,Pearson,Pearson 95% CI,")
    assert "\\begin{tabular}" in (run_dir / "tifa_meta_eval.tex").read_text()
