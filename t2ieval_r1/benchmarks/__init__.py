"""Meta-evaluation benchmarks of T2I-Eval-R1 (real data vendored under ``data/``, each with its
LICENSE and provenance, e.g. t2ieval_r1/benchmarks/data/tifa_v1_human/PROVENANCE.md). Now: TIFA
v1.0 human judgments (:mod:`.tifa`)."""

from t2ieval_r1.benchmarks.tifa import (
    TIFA_GENERATORS,
    TIFA_METRICS,
    TifaRecord,
    load_predictions,
    load_tifa_human,
    meta_evaluate_tifa,
    metric_predictions,
)

__all__ = [
    "TIFA_GENERATORS",
    "TIFA_METRICS",
    "TifaRecord",
    "load_predictions",
    "load_tifa_human",
    "meta_evaluate_tifa",
    "metric_predictions",
]
