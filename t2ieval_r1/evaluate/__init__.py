"""Meta-evaluation of T2I-Eval-R1 evaluators (docs/papers/t2i_eval_r1.md §1-2): how well an evaluator's
scores agree with human judgments, and how true its rationales are.

* :mod:`~t2ieval_r1.evaluate.evaluators`: ``task.evaluator`` -> an Annotator (saved checkpoint,
  hub id, pretrained tiny base, OpenAI-compatible endpoint, the world oracle).
* :mod:`~t2ieval_r1.evaluate.benchmarks`: T2I-Eval-like, TIFA-like, ImageReward-like benchmarks
  as ``load_corpus`` specs (world by default, real files by spec).
* :mod:`~t2ieval_r1.evaluate.units` / :mod:`~t2ieval_r1.evaluate.answers`: requests and parsing.
* :mod:`~t2ieval_r1.evaluate.metrics`: correlations (mean-fill of failed parses), pairwise accuracy.
* :mod:`~t2ieval_r1.evaluate.facts` / :mod:`~t2ieval_r1.evaluate.rationale`: rationale accuracy.
* :mod:`~t2ieval_r1.evaluate.runner`: :class:`MetaEvaluator`, one benchmark at a time.
* :mod:`~t2ieval_r1.evaluate.results` / :mod:`~t2ieval_r1.evaluate.records`: metrics.json
  layout, predictions.jsonl.
* :mod:`~t2ieval_r1.evaluate.sources`: the ``tifa_human`` corpus source (TIFA v1.0 + your images).

The experiment is ``+exp=t2ieval_r1_meta_eval`` (:mod:`t2ieval_r1.tasks.meta_eval`); tables over
several runs: :mod:`t2ieval_r1.tables`.
"""

from t2ieval_r1.evaluate import sources as _sources  # noqa: F401  (registers the tifa_human source)
from t2ieval_r1.evaluate.answers import ParsedPrediction, parse_prediction
from t2ieval_r1.evaluate.benchmarks import DEFAULT_BENCHMARKS, BenchmarkSpec, load_benchmark
from t2ieval_r1.evaluate.evaluators import EvaluatorInfo, EvaluatorSpecError, build_evaluator
from t2ieval_r1.evaluate.facts import Fact, ObjectRef, ParsedRationale, parse_rationale
from t2ieval_r1.evaluate.oracle import OracleEvaluator
from t2ieval_r1.evaluate.rationale import RationaleCheck, check_facts, check_rationale, summarize_checks
from t2ieval_r1.evaluate.records import read_completions, write_records
from t2ieval_r1.evaluate.results import SCHEMA, assemble_metrics, summarize
from t2ieval_r1.evaluate.runner import BenchmarkResult, MetaEvalSettings, MetaEvaluator

__all__ = [
    "DEFAULT_BENCHMARKS",
    "SCHEMA",
    "BenchmarkResult",
    "BenchmarkSpec",
    "EvaluatorInfo",
    "EvaluatorSpecError",
    "Fact",
    "MetaEvalSettings",
    "MetaEvaluator",
    "ObjectRef",
    "OracleEvaluator",
    "ParsedPrediction",
    "ParsedRationale",
    "RationaleCheck",
    "assemble_metrics",
    "build_evaluator",
    "check_facts",
    "check_rationale",
    "load_benchmark",
    "parse_prediction",
    "parse_rationale",
    "read_completions",
    "summarize",
    "summarize_checks",
    "write_records",
]
