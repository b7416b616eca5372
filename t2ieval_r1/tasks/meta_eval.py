"""``+exp=t2ieval_r1_meta_eval``: meta-evaluate one evaluator on T2I-Eval, TIFA and ImageReward.

``task.evaluator`` is a saved evaluator directory, a hub id, a pretrained tiny base name, the
``oracle``, or an OpenAI-compatible endpoint ``{base_url: ..., model: ...}``
(:mod:`t2ieval_r1.evaluate.evaluators`); ``task.predictions=<predictions.jsonl>`` instead
re-scores saved completions without a model. ``task.select`` picks benchmarks out of
``task.benchmarks`` (world corpora by default; replace a ``corpus`` node for the real files),
``task.limit`` caps the rows per aspect of each. World corpora are drawn at the run's
``world.level`` (``world=full`` for the harder row; recorded in the settings).

Writes, in the run directory:

* ``metrics.json``: the uniform layout of :mod:`t2ieval_r1.evaluate.results` (per benchmark and
  aspect: Spearman / Kendall / Pearson with bootstrap CIs, mean-filled counts, parse-failure
  rates by reason; pairwise accuracy with and without ties; rationale accuracy; a flat
  ``summary``), from which :mod:`t2ieval_r1.tables` builds tables over runs;
* ``predictions.jsonl``: every completion with its parsed prediction and rationale check
  (:mod:`t2ieval_r1.evaluate.records`);
* ``<run_dir>/meta_eval.md`` / ``.csv`` / ``.tex``: this run's table (one row per benchmark and aspect);
  ``<run_dir>/results_table.md``: this run as one row of the paper-style table. The Markdown is printed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.runtime import RunContext
from common.scoring.bootstrap import BootstrapConfig
from common.scoring.tables import to_markdown, write_tables
from common.world.levels import run_level
from t2ieval_r1.evaluate import (
    DEFAULT_BENCHMARKS,
    BenchmarkSpec,
    MetaEvalSettings,
    MetaEvaluator,
    assemble_metrics,
    build_evaluator,
    load_benchmark,
    read_completions,
    write_records,
)
from t2ieval_r1.evaluate.evaluators import EvaluatorInfo
from t2ieval_r1.evaluate.results import run_table_rows
from t2ieval_r1.tables import build_results_table, run_result

__all__ = ["benchmark_specs", "run"]


def benchmark_specs(benchmarks: Any, select: Sequence[str] | None) -> list[BenchmarkSpec]:
    """The selected :class:`BenchmarkSpec` objects (``benchmarks``: a config mapping, or ``None``
    for :data:`~t2ieval_r1.evaluate.DEFAULT_BENCHMARKS`), in ``select`` order."""
    if isinstance(benchmarks, DictConfig):
        benchmarks = OmegaConf.to_container(benchmarks, resolve=True)
    specs = (
        dict(DEFAULT_BENCHMARKS)
        if benchmarks is None
        else {name: BenchmarkSpec.from_config(name, node) for name, node in dict(benchmarks).items()}
    )
    names = list(specs) if select is None else [str(s) for s in select]
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ValueError(
            f"task.select names unknown benchmark(s) {unknown}; task.benchmarks has {sorted(specs)}"
        )
    if not names:
        raise ValueError("task.select is empty: name at least one benchmark")
    return [specs[n] for n in names]


def run(
    cfg: DictConfig,
    ctx: RunContext,
    evaluator: Any = "tiny_qwen2_5_vl",
    predictions: str | None = None,
    benchmarks: Any = None,
    select: Sequence[str] | None = None,
    limit: int | None = None,
    method: str | None = None,
    max_tokens: int = 128,
    batch_size: int = 16,
    chunk_size: int = 64,
    template: str = "default",
    answer_policy: str = "lenient",
    pair_mode: str = "single",
    statistics: Sequence[str] = ("spearman", "kendall", "pearson"),
    missing: str = "mean_fill",
    tie_tolerance: float = 0.0,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    rationale: bool = True,
    rationale_fallback: bool = True,
    readout: str = "expected",
    top_logprobs: int = 20,
    floatfmt: str = ".3f",
) -> dict[str, Any]:
    """Meta-evaluate ``evaluator`` (or saved ``predictions``); see the module docstring.

    ``method``: the row label this run gets in tables (default: inferred from the evaluator).
    ``n_resamples=0`` skips the bootstrap; its seed is the run's ``seed``.
    """
    start = time.perf_counter()
    level = run_level(ctx.settings)
    specs = benchmark_specs(benchmarks, None if select is None else list(select))
    settings = MetaEvalSettings(
        template=template,
        chunk_size=int(chunk_size),
        answer_policy=answer_policy,
        pair_mode=pair_mode,
        statistics=tuple(str(s) for s in statistics),
        missing=missing,
        tie_tolerance=float(tie_tolerance),
        rationale=bool(rationale),
        rationale_fallback=bool(rationale_fallback),
        readout=str(readout),
        top_logprobs=int(top_logprobs),
    )
    boot = BootstrapConfig(int(n_resamples), float(confidence), int(ctx.seed)) if n_resamples else None

    t0 = time.perf_counter()
    if predictions is not None:
        annotator = None
        completions = read_completions(predictions)
        info = EvaluatorInfo("predictions", Path(predictions).name, path=str(predictions))
    else:
        completions = None
        annotator, info = build_evaluator(
            evaluator,
            ctx.settings,
            max_tokens=int(max_tokens),
            batch_size=int(batch_size),
            seed=int(ctx.seed),
        )
    t_model = time.perf_counter() - t0
    meta = MetaEvaluator(annotator, settings, bootstrap=boot, completions=completions, progress=ctx.progress)

    results = {}
    t_data = 0.0
    for spec in specs:
        t0 = time.perf_counter()
        ds = load_benchmark(spec, ctx.settings, None if limit is None else int(limit), level=level)
        t_data += time.perf_counter() - t0
        results[spec.name] = meta.evaluate(spec, ds)
        ctx.log(
            {f"{spec.name}/{k}": v for k, v in results[spec.name].metrics["parse"].items() if k != "failures"}
        )

    metrics = assemble_metrics(
        results,
        evaluator={**info.to_dict(), "method": method},
        settings={
            **settings.to_dict(),
            "max_tokens": int(max_tokens),
            "limit": limit,
            "n_resamples": n_resamples,
            "world_level": level,
        },
        seed=int(ctx.seed),
        wall={
            "model_s": round(t_model, 2),
            "data_s": round(t_data, 2),
            "benchmarks_s": {n: r.metrics["wall"]["total_s"] for n, r in results.items()},
            "total_s": round(time.perf_counter() - start, 2),
        },
    )
    write_records(ctx.run_dir / "predictions.jsonl", (rec for r in results.values() for rec in r.records))

    rows = run_table_rows(metrics, [s for s in settings.statistics if s in ("spearman", "kendall")])
    rat = metrics["rationale"]
    caption = (
        f"Meta-evaluation of {info.kind} {info.name!r}: Spearman rho / Kendall tau-b vs the raters' mean "
        + (
            f"({100 * confidence:g}% bootstrap CIs over {n_resamples} resamples, seed {ctx.seed})"
            if boot
            else ""
        )
        + f"; failed parses mean-filled ({missing}); pairs scored {pair_mode}-wise."
        + (
            f" Rationale accuracy (pooled): {rat['accuracy']:.3f} of {rat['n_facts']} facts true, "
            f"{rat['facts_per_rationale']:.2f} facts per rationale, "
            f"unparseable share {rat['unparseable_share']:.3f}."
            if rat and rat.get("accuracy") is not None
            else ""
        )
    )
    write_tables(rows, ctx.run_dir / "meta_eval", floatfmt=floatfmt, caption=caption)
    ctx.log_table("meta_eval", rows)
    table_md = to_markdown(rows, floatfmt=floatfmt)
    (ctx.run_dir / "meta_eval.md").write_text(caption + "\n\n" + table_md)
    paper = build_results_table([run_result(metrics, method)], published=False)
    (ctx.run_dir / "results_table.md").write_text(paper.markdown(floatfmt))
    print(caption + "\n\n" + table_md + "\n" + paper.markdown(floatfmt), flush=True)
    return metrics
