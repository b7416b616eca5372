"""The meta-evaluation: ask the evaluator about every unit of a benchmark, read, score.

:class:`MetaEvaluator` runs one benchmark at a time (:meth:`MetaEvaluator.evaluate`):

1. units from the corpus (:func:`t2ieval_r1.evaluate.units.build_units`);
2. completions: from the evaluator (any :class:`common.annotators.Annotator`; requests sent in
   chunks of ``chunk_size`` with a progress bar, the backend batching inside a chunk; decoding is
   the evaluator's, greedy as :func:`~t2ieval_r1.evaluate.evaluators.build_evaluator` sets it up),
   or from saved completions (a predictions file, :func:`~t2ieval_r1.evaluate.records.read_completions`);
3. predictions (:func:`~t2ieval_r1.evaluate.answers.parse_prediction`), read out as
   ``readout`` says (:mod:`common.scoring.readout`): ``expected`` (default) replaces a single-wise
   unit's written score by the probability-weighted score at that position, from the log-probs
   the evaluator returns (asked for with ``logprobs`` / ``top_logprobs``); a unit without them
   (a backend that returns none, the oracle) keeps its written score and is counted as a
   fallback; ``answer`` uses the written score;
4. metrics (:mod:`t2ieval_r1.evaluate.metrics`) and rationale accuracy
   (:mod:`t2ieval_r1.evaluate.rationale`) for every single-wise unit whose item has a world
   scene. The rationale is the ``<think>`` block; with ``rationale_fallback`` a completion without
   one (an untrained base writes plain captions) is read whole, its ``<answer>`` block removed,
   and counted in ``n_no_think``.

Results come back as :class:`BenchmarkResult` (``metrics`` for metrics.json, ``records`` for
predictions.jsonl, the rationale checks for pooling across benchmarks).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import datasets

from common.annotators.types import MAX_TOP_LOGPROBS, Annotator
from common.scoring.bootstrap import BootstrapConfig
from common.scoring.readout import check_readout, expected_score
from t2ieval_r1.evaluate.answers import ANSWER_POLICIES, ParsedPrediction, parse_prediction
from t2ieval_r1.evaluate.benchmarks import BenchmarkSpec
from t2ieval_r1.evaluate.metrics import correlation_metrics, pairwise_metrics, parse_stats
from t2ieval_r1.evaluate.rationale import RationaleCheck, check_rationale, scene_from_meta, summarize_checks
from t2ieval_r1.evaluate.records import Completion
from t2ieval_r1.evaluate.units import PAIR_MODES, Unit, build_units, unit_requests

__all__ = ["BenchmarkResult", "MetaEvalSettings", "MetaEvaluator", "no_progress"]

Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]
_ANSWER_BLOCK_RE = re.compile(r"<\s*answer\s*>.*?(?:<\s*/\s*answer\s*>|$)", re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<\s*/?\s*(?:think|answer)\s*>", re.IGNORECASE)


def no_progress(iterable: Iterable[Any], desc: str, total: int) -> Iterable[Any]:
    """No progress bar."""
    del desc, total
    return iterable


@dataclass(frozen=True)
class MetaEvalSettings:
    """How to ask and how to score (``task.*`` of ``+exp=t2ieval_r1_meta_eval``).

    Attributes:
        template: prompt template (:data:`t2ieval_r1.prompts.PROMPT_TEMPLATES`).
        chunk_size: requests per call to the evaluator (one progress step).
        answer_policy: ``lenient`` / ``strict`` (:mod:`t2ieval_r1.evaluate.answers`).
        pair_mode: ``single`` (score each image, compare) or ``pair`` (the pairwise prompt).
        statistics: correlation statistics of correlation benchmarks.
        missing: missing-prediction policy (``mean_fill``, ``drop``, ``error``).
        tie_tolerance: predicted scores closer than this are a predicted tie (pairwise).
        rationale: check rationales against world scenes.
        rationale_fallback: read completions without ``<think>`` whole (module docstring).
        readout: ``expected`` or ``answer`` (module docstring, :mod:`common.scoring.readout`).
        top_logprobs: alternatives per token asked for with the ``expected`` readout.
    """

    template: str = "default"
    chunk_size: int = 64
    answer_policy: str = "lenient"
    pair_mode: str = "single"
    statistics: tuple[str, ...] = ("spearman", "kendall", "pearson")
    missing: str = "mean_fill"
    tie_tolerance: float = 0.0
    rationale: bool = True
    rationale_fallback: bool = True
    readout: str = "expected"
    top_logprobs: int = 20

    def __post_init__(self) -> None:
        check_readout(self.readout, "task.readout")
        if not 1 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"task.top_logprobs must be in 1-{MAX_TOP_LOGPROBS}, got {self.top_logprobs}")
        if self.answer_policy not in ANSWER_POLICIES:
            raise ValueError(
                f"task.answer_policy must be one of {ANSWER_POLICIES}, got {self.answer_policy!r}"
            )
        if self.pair_mode not in PAIR_MODES:
            raise ValueError(f"task.pair_mode must be one of {PAIR_MODES}, got {self.pair_mode!r}")
        if self.chunk_size < 1:
            raise ValueError(f"task.chunk_size must be >= 1, got {self.chunk_size}")
        if self.tie_tolerance < 0:
            raise ValueError(f"task.tie_tolerance must be >= 0, got {self.tie_tolerance}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["statistics"] = list(self.statistics)
        return out


@dataclass
class BenchmarkResult:
    """One benchmark's metrics (metrics.json), records (predictions.jsonl) and rationale checks."""

    name: str
    metrics: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    checks: list[RationaleCheck] = field(default_factory=list)
    n_no_think: int = 0


def rationale_text(text: str | None, pred: ParsedPrediction, fallback: bool) -> tuple[str | None, bool]:
    """The rationale of a completion and whether it came from the fallback (no ``<think>``)."""
    if pred.think is not None:
        return pred.think, False
    if not fallback or not text:
        return None, False
    return _TAG_RE.sub(" ", _ANSWER_BLOCK_RE.sub(" ", text)).strip() or None, True


class MetaEvaluator:
    """Scores benchmarks with one evaluator (or from saved completions); see the module docstring.

    Args:
        evaluator: the annotator to ask; ``None`` when ``completions`` are given.
        settings: how to ask and score.
        bootstrap: interval settings (``None``: no intervals).
        completions: ``{benchmark: {unit key: (text, error, expected)}}`` to score instead of asking.
        progress: ``progress(iterable, desc, total)`` (e.g. :meth:`common.runtime.RunContext.progress`).
    """

    def __init__(
        self,
        evaluator: Annotator | None,
        settings: MetaEvalSettings | None = None,
        *,
        bootstrap: BootstrapConfig | None = None,
        completions: Mapping[str, Mapping[str, Completion]] | None = None,
        progress: Progress = no_progress,
    ) -> None:
        if evaluator is None and completions is None:
            raise ValueError("give an evaluator or saved completions")
        self.evaluator = evaluator
        self.settings = settings or MetaEvalSettings()
        self.bootstrap = bootstrap
        self.completions = completions
        self.progress = progress

    # ------------------------------------------------------------------ completions

    def complete(self, name: str, ds: datasets.Dataset, units: Sequence[Unit]) -> list[Completion]:
        """``(text, error, expected)`` per unit, from the saved completions or the evaluator."""
        if self.completions is not None:
            saved = self.completions.get(name, {})
            return [saved.get(u.key, (None, None, None)) for u in units]
        assert self.evaluator is not None
        s = self.settings
        params = {"logprobs": True, "top_logprobs": s.top_logprobs} if s.readout == "expected" else {}
        chunks = [list(units[i : i + s.chunk_size]) for i in range(0, len(units), s.chunk_size)]
        out: list[Completion] = []
        for chunk in self.progress(chunks, f"meta-eval {name} ({len(units)} requests)", len(chunks)):
            requests = unit_requests(ds, chunk, template=s.template, params=params)
            responses = self.evaluator.complete(requests)
            if len(responses) != len(requests):
                raise RuntimeError(f"the evaluator answered {len(responses)} of {len(requests)} requests")
            for unit, r in zip(chunk, responses, strict=True):
                text = r.text if r.error is None else None
                out.append((text, r.error, self._expected(unit, text, r.logprobs)))
        return out

    def _expected(self, unit: Unit, text: str | None, logprobs: Any) -> float | None:
        """The probability-weighted score of a single-wise unit's completion (else ``None``)."""
        if unit.kind != "single" or not logprobs:
            return None
        written = parse_prediction(text, unit.kind, unit.scale, self.settings.answer_policy).value
        if not isinstance(written, float):
            return None
        return expected_score(logprobs, written, float(unit.scale[0]), float(unit.scale[1]))

    def read_out(
        self, units: Sequence[Unit], preds: list[ParsedPrediction], completions: Sequence[Completion]
    ) -> dict[str, Any]:
        """Apply ``readout`` to ``preds`` in place; how many units it changed / could not."""
        n_expected = n_fallback = 0
        if self.settings.readout == "expected":
            for k, (unit, pred) in enumerate(zip(units, preds, strict=True)):
                if unit.kind != "single" or pred.value is None:
                    continue
                expected = completions[k][2]
                if expected is None:
                    n_fallback += 1
                else:
                    preds[k] = dataclasses.replace(pred, value=float(expected))
                    n_expected += 1
        return {"name": self.settings.readout, "n_expected": n_expected, "n_answer_fallback": n_fallback}

    # ------------------------------------------------------------------ one benchmark

    def evaluate(self, spec: BenchmarkSpec, ds: datasets.Dataset) -> BenchmarkResult:
        """Metrics, records and rationale checks of ``spec`` on its corpus ``ds``."""
        start = time.perf_counter()
        mode = self.settings.pair_mode if spec.kind == "pairwise" else "single"
        units = build_units(ds, pair_mode=mode)
        if spec.kind == "correlation" and any(u.label is None for u in units):
            raise ValueError(f"benchmark {spec.name!r} is a correlation benchmark but its corpus is pairwise")
        if spec.kind == "pairwise" and any(u.preference is None for u in units):
            raise ValueError(f"benchmark {spec.name!r} is a pairwise benchmark but its corpus is single-wise")
        t0 = time.perf_counter()
        completions = self.complete(spec.name, ds, units)
        t_complete = time.perf_counter() - t0
        s = self.settings
        answers = [
            parse_prediction(text, u.kind, u.scale, s.answer_policy, error)
            for u, (text, error, _) in zip(units, completions, strict=True)
        ]
        preds = list(answers)
        readout = self.read_out(units, preds, completions)

        checks: list[RationaleCheck | None] = [None] * len(units)
        n_no_think = 0
        if s.rationale:
            for k, (u, p) in enumerate(zip(units, preds, strict=True)):
                scene = scene_from_meta({"scene": u.scene}) if u.kind == "single" else None
                if scene is None:
                    continue
                text, from_fallback = rationale_text(completions[k][0], p, s.rationale_fallback)
                n_no_think += from_fallback
                checks[k] = check_rationale(text, scene)
        done = [c for c in checks if c is not None]

        metrics: dict[str, Any] = {
            "kind": spec.kind,
            "title": spec.title,
            "corpus": dict(spec.corpus),
            "n_rows": len(ds),
            "n_requests": len(units),
        }
        if spec.kind == "correlation":
            metrics["aspects"] = correlation_metrics(
                units, preds, statistics=s.statistics, bootstrap=self.bootstrap, missing=s.missing
            )
        else:
            metrics["pairs"] = pairwise_metrics(
                units, preds, bootstrap=self.bootstrap, tie_tolerance=s.tie_tolerance
            )
        metrics["parse"] = parse_stats(preds)
        metrics["readout"] = readout
        rationale = summarize_checks(done) if done else None
        if rationale is not None:
            rationale["n_no_think"] = n_no_think
        metrics["rationale"] = rationale
        metrics["wall"] = {
            "complete_s": round(t_complete, 3),
            "total_s": round(time.perf_counter() - start, 3),
        }

        records = []
        for u, (text, error, expected), a, p, c in zip(
            units, completions, answers, preds, checks, strict=True
        ):
            records.append(
                {
                    "benchmark": spec.name,
                    "key": u.key,
                    "row_id": u.row_id,
                    "kind": u.kind,
                    "side": u.side,
                    "aspect": u.aspect,
                    "label": u.label,
                    "preference": u.preference,
                    "completion": text,
                    "error": error,
                    "prediction": p.to_json(),
                    "answer": a.to_json(),
                    "expected": expected,
                    "failure": p.failure,
                    "well_formed": p.well_formed,
                    "rationale": None if c is None else c.to_dict(),
                }
            )
        return BenchmarkResult(spec.name, metrics, records, done, n_no_think)
