"""Meta-evaluation: how well an evaluator's scores agree with human judgments.

Modules (each documents its formulas):

* :mod:`~common.scoring.correlation`: Pearson, Spearman, Kendall tau-b (batched along the last axis).
* :mod:`~common.scoring.errors`: MAE, RMSE.
* :mod:`~common.scoring.pairwise`: pairwise preference accuracy with and without ties.
* :mod:`~common.scoring.bootstrap`: seeded paired percentile-bootstrap confidence intervals.
* :mod:`~common.scoring.missing`: the missing-prediction policy (``mean_fill``, ``drop``, ``error``).
* :mod:`~common.scoring.predictions`: reading a scorer's predictions file (JSONL / JSON).
* :mod:`~common.scoring.tables`: Markdown / CSV / LaTeX tables.
* :mod:`~common.scoring.meta`: :func:`meta_evaluate`, all of the above in one call.
* :mod:`~common.scoring.paired`: :func:`paired_difference`, two scorers' difference over paired
  seeds with a paired item bootstrap.
"""

from common.scoring.bootstrap import (
    BootstrapConfig,
    ConfidenceInterval,
    bootstrap_ci,
    percentile_interval,
    resample_indices,
)
from common.scoring.correlation import kendall_tau_b, pearson, spearman
from common.scoring.errors import mae, rmse
from common.scoring.meta import PAIRWISE_METRICS, STATISTICS, align, meta_evaluate
from common.scoring.missing import MISSING_POLICIES, MissingReport, apply_missing_policy
from common.scoring.paired import PairedDifference, paired_difference
from common.scoring.pairwise import (
    PairwiseResult,
    pairwise_accuracy,
    pairwise_accuracy_grouped,
    tie_calibrated_accuracy,
)
from common.scoring.predictions import PredictionsFormatError, load_prediction_fields, load_predictions
from common.scoring.tables import to_csv, to_latex, to_markdown, write_tables

__all__ = [
    "MISSING_POLICIES",
    "PAIRWISE_METRICS",
    "STATISTICS",
    "BootstrapConfig",
    "ConfidenceInterval",
    "MissingReport",
    "PairedDifference",
    "PairwiseResult",
    "PredictionsFormatError",
    "align",
    "apply_missing_policy",
    "bootstrap_ci",
    "kendall_tau_b",
    "load_prediction_fields",
    "load_predictions",
    "mae",
    "meta_evaluate",
    "paired_difference",
    "pairwise_accuracy",
    "pairwise_accuracy_grouped",
    "pearson",
    "percentile_interval",
    "resample_indices",
    "rmse",
    "spearman",
    "tie_calibrated_accuracy",
    "to_csv",
    "to_latex",
    "to_markdown",
    "write_tables",
]
