"""The uniform layout of a meta-evaluation's ``metrics.json``, its flat summary and its run table.

``metrics.json`` (what :func:`assemble_metrics` returns; schema :data:`SCHEMA`)::

    {"schema": "t2ieval_r1.meta_eval/1",
     "evaluator": {"kind", "name", "path", "source_run": {"exp_name", "seed", "run_dir"} | null, ...},
     "seed": <run seed>, "settings": {...},
     "benchmarks": {
        "t2i_eval": {"kind": "correlation", "corpus": {...}, "n_rows", "n_requests",
                     "aspects": {"overall": {"spearman", "spearman_ci", "kendall", ..., "n",
                                             "n_missing", "fill_value", "parse": {...}}, ...},
                     "parse": {"n", "n_failed", "failure_rate", "format_rate", "failures"},
                     "rationale": {"accuracy", "facts_per_rationale", "unparseable_share", ...} | null},
        "imagereward": {"kind": "pairwise", ..., "pairs": {"accuracy", "accuracy_ci",
                        "accuracy_with_ties", ..., "n_filled_scores"}, "parse": {...}}},
     "rationale": <pooled over every benchmark's rationales> | null,
     "summary": {"t2i_eval/overall/spearman": 0.41, "imagereward/accuracy": 0.6, ...},
     "wall": {...}}

``summary`` (:func:`summarize`) is the flat view tables are built from: one number per key,
``<benchmark>/<aspect>/<statistic>`` (also ``/n``, ``/n_missing``), ``<benchmark>/accuracy``,
``<benchmark>/accuracy_with_ties``, ``<benchmark>/parse_failure_rate``, ``<benchmark>/format_rate``,
``<benchmark>/rationale/<field>`` and the pooled ``rationale/<field>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from t2ieval_r1.evaluate.rationale import summarize_checks
from t2ieval_r1.evaluate.runner import BenchmarkResult

__all__ = [
    "RATIONALE_FIELDS",
    "SCHEMA",
    "assemble_metrics",
    "correlation_as_zero",
    "is_rank_correlation",
    "run_table_rows",
    "summarize",
]

SCHEMA = "t2ieval_r1.meta_eval/1"
RATIONALE_FIELDS: tuple[str, ...] = ("accuracy", "facts_per_rationale", "unparseable_share", "object_recall")
_PAIR_FIELDS = ("accuracy", "accuracy_with_ties", "n_pairs", "n_filled_scores")
_NUMBER_SKIP = ("n_total", "missing_policy", "fill_value", "bootstrap", "parse", "note")


def is_rank_correlation(key: str) -> bool:
    """Whether a summary key is a rank correlation (``.../spearman`` or ``.../kendall``)."""
    return key.endswith(("/spearman", "/kendall"))


def correlation_as_zero(value: Any) -> tuple[float, bool]:
    """A rank correlation for comparisons: ``(value, False)``, or ``(0.0, True)`` when it is
    undefined (None or NaN: the evaluator gave every item the same score, so it ranks nothing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0, True
    return float(value), False


def _rationale_flat(prefix: str, rationale: Mapping[str, Any] | None) -> dict[str, Any]:
    if not rationale:
        return {}
    return {
        f"{prefix}rationale/{k}": rationale.get(k) for k in (*RATIONALE_FIELDS, "n_facts", "n_rationales")
    }


def summarize(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The flat summary of a metrics.json dict (key scheme in the module docstring)."""
    out: dict[str, Any] = {}
    for name, bench in (metrics.get("benchmarks") or {}).items():
        for aspect, res in (bench.get("aspects") or {}).items():
            for key, value in res.items():
                if key in _NUMBER_SKIP or key.endswith("_ci"):
                    continue
                if value is None or isinstance(value, int | float):
                    out[f"{name}/{aspect}/{key}"] = value
        pairs = bench.get("pairs")
        if pairs:
            for key in _PAIR_FIELDS:
                out[f"{name}/{key}"] = pairs.get(key)
        parse = bench.get("parse") or {}
        out[f"{name}/parse_failure_rate"] = parse.get("failure_rate")
        out[f"{name}/format_rate"] = parse.get("format_rate")
        out.update(_rationale_flat(f"{name}/", bench.get("rationale")))
    out.update(_rationale_flat("", metrics.get("rationale")))
    return out


def assemble_metrics(
    results: Mapping[str, BenchmarkResult],
    *,
    evaluator: Mapping[str, Any],
    settings: Mapping[str, Any],
    seed: int,
    wall: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json of a meta-evaluation run (module docstring); rationales pooled over benchmarks."""
    checks = [c for r in results.values() for c in r.checks]
    pooled = summarize_checks(checks) if checks else None
    if pooled is not None:
        pooled["n_no_think"] = sum(r.n_no_think for r in results.values())
    out: dict[str, Any] = {
        "schema": SCHEMA,
        "evaluator": dict(evaluator),
        "seed": int(seed),
        "settings": dict(settings),
        "benchmarks": {name: r.metrics for name, r in results.items()},
        "rationale": pooled,
    }
    out["summary"] = summarize(out)
    out["wall"] = dict(wall or {})
    return out


def _pct(x: Any) -> Any:
    return None if x is None else 100.0 * float(x)


def run_table_rows(
    metrics: Mapping[str, Any], statistics: Sequence[str] = ("spearman", "kendall")
) -> list[dict[str, Any]]:
    """One row per (benchmark, aspect) and per pairwise benchmark: the run's own table.

    Columns: each statistic with its interval, pairwise accuracies, ``n``, how many predictions
    were mean-filled, the parse-failure and format rates (%), rationale accuracy (%) and facts per
    rationale.
    """
    rows = []
    names = {"spearman": "rho", "kendall": "tau", "pearson": "r"}
    for name, bench in (metrics.get("benchmarks") or {}).items():
        rat = bench.get("rationale") or {}
        common = {
            "rationale acc %": _pct(rat.get("accuracy")),
            "facts/rationale": rat.get("facts_per_rationale"),
        }
        for aspect, res in (bench.get("aspects") or {}).items():
            row: dict[str, Any] = {"benchmark": name, "aspect": aspect}
            for stat in statistics:
                row[names.get(stat, stat)] = res.get(stat)
                row[f"{names.get(stat, stat)} 95% CI"] = res.get(f"{stat}_ci")
            row.update(
                {
                    "acc": None,
                    "acc (ties)": None,
                    "n": res.get("n"),
                    "filled": res.get("n_missing"),
                    "parse fail %": _pct((res.get("parse") or {}).get("failure_rate")),
                    "format %": _pct((res.get("parse") or {}).get("format_rate")),
                    **common,
                }
            )
            rows.append(row)
        pairs = bench.get("pairs")
        if pairs:
            row = {"benchmark": name, "aspect": "pairs"}
            for stat in statistics:
                row[names.get(stat, stat)] = None
                row[f"{names.get(stat, stat)} 95% CI"] = None
            parse = bench.get("parse") or {}
            row.update(
                {
                    "acc": pairs.get("accuracy"),
                    "acc (ties)": pairs.get("accuracy_with_ties"),
                    "n": pairs.get("n_pairs"),
                    "filled": pairs.get("n_filled_scores"),
                    "parse fail %": _pct(parse.get("failure_rate")),
                    "format %": _pct(parse.get("format_rate")),
                    **common,
                }
            )
            rows.append(row)
    return rows
