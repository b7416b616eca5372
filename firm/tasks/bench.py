"""``+exp=firm_bench``: FIRM-Bench MAE of the critics on the embedded world's FIRM-Bench analog.

Rows (:func:`firm.bench.critics.build_judges`): the base zero-shot (``base``), the trained RMs
(``rm_edit`` / ``rm_gen``: lists of RM run directories or model directories, one per seed),
other in-process ``models`` and OpenAI-compatible ``endpoints``. Each critic judges the items of
its domains (:mod:`firm.bench.items`) through the Annotator interface with the RM prompts
(``template``: ``tiny`` at scale=tiny, ``full`` otherwise) and greedy decoding; answers are
parsed with :func:`firm.prompts.rm.parse_rm_output`; unparseable answers follow ``missing``
(:mod:`firm.bench.metrics`).

Writes ``<run_dir>/firm_bench.md`` (the table with the published rows beside it, per-seed values, parse
failures), ``firm_bench_mae.{md,csv,tex}`` (the mean table) and ``predictions/<row>/<k>.jsonl`` (every
item's parsed score, reference and error) into the run directory. Returns the per-column means,
standard deviations and per-seed values of every row, the parse-failure counts, the acceptance
check of every other row against ``compare_to`` (each seed below its MAE on every column) and
wall times. The benchmark is the world's at the run's ``world.level`` (``world=full`` for the
harder row); the level is in the metrics and the report.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from omegaconf import DictConfig

from common.config import plain
from common.jsonio import to_jsonable
from common.models.builders import load_vlm
from common.rewards.modes import CONSISTENCY, EXECUTION, INSTRUCTION
from common.runtime import RunContext
from common.scoring.tables import write_tables
from common.world.levels import run_level
from firm.bench.critics import JudgeSpec, build_judges, endpoint_annotator, model_annotator
from firm.bench.items import COLUMNS, DOMAINS, load_bench_items
from firm.bench.metrics import best_constant_columns, score_columns
from firm.bench.report import BEST_CONSTANT, aggregate, beats, below, render_report, table_rows
from firm.bench.verdicts import JudgeItem, judge
from firm.prompts.rm import RMVerdict
from firm.rm.cache import resolve_source
from firm.rm.sources import resolve_template, run_seed

__all__ = ["run"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "row"


def _write_predictions(
    ctx: RunContext, row: str, k: int, verdicts: Mapping[str, Sequence[RMVerdict]], items: Mapping[str, Any]
) -> None:
    path = ctx.path("predictions", _slug(row), f"{k}.jsonl")
    with path.open("w") as f:
        for col, vs in verdicts.items():
            for it, v in zip(items[col], vs, strict=True):
                rec = {"id": it.id, "column": col, "pred": v.score, "human": it.score, "error": v.error}
                f.write(json.dumps(rec) + "\n")


def _judge_columns(
    annotator: Any,
    columns: Sequence[str],
    items: Mapping[str, list[JudgeItem]],
    ctx: RunContext,
    name: str,
    *,
    max_tokens: Mapping[str, int],
    chunk_size: int,
) -> dict[str, list[RMVerdict]]:
    """One critic's verdicts on every item of ``columns``."""
    return {
        col: judge(
            annotator,
            items[col],
            max_tokens=max_tokens,
            chunk_size=chunk_size,
            progress=ctx.progress,
            desc=f"{name} {col}",
        )
        for col in columns
    }


def _judge_row(
    spec: JudgeSpec,
    items: Mapping[str, list[JudgeItem]],
    cfg: DictConfig,
    ctx: RunContext,
    *,
    batch_size: int,
    max_tokens: Mapping[str, int],
    chunk_size: int,
    policy: str,
) -> tuple[list[dict[str, Any]], list[int | None], list[dict[str, Any]]]:
    """Per-seed column results, seed labels and the sources used, for one row.

    Seed ``k`` of a row uses ``edit[k]`` for the edit columns and ``gen[k]`` for the gen columns
    (paired by position; the label is the training seed of the first run directory found).
    """
    kw = {"max_tokens": max_tokens, "chunk_size": chunk_size}
    seeds: list[dict[str, Any]] = []
    labels: list[int | None] = []
    sources: list[dict[str, Any]] = []
    for k in range(spec.seeds()):
        verdicts: dict[str, list[RMVerdict]] = {}
        used: dict[str, Any] = {}
        seed_of = None
        if spec.endpoint is not None:
            cache_dir = str(ctx.settings.cache_dir / "annotator_responses")
            annotator = endpoint_annotator(spec.endpoint, cache_dir)
            verdicts = _judge_columns(annotator, list(items), items, ctx, spec.name, **kw)
            used = {"endpoint": {key: v for key, v in spec.endpoint.items() if "key" not in key}}
        else:
            by_source: dict[str, list[str]] = {}
            for domain, srcs in (("edit", spec.edit), ("gen", spec.gen)):
                if k < len(srcs):
                    by_source.setdefault(srcs[k], []).append(domain)
            for source, domains in by_source.items():  # one load per distinct model
                path = resolve_source(source, ctx.settings)
                scale = ctx.settings.scale
                bundle = load_vlm(path, dtype=scale.dtype, device=scale.device)
                annotator = model_annotator(bundle, f"{spec.name}:{path}", batch_size)
                columns = [c for d in domains for c in DOMAINS[d] if c in items]
                verdicts.update(_judge_columns(annotator, columns, items, ctx, spec.name, **kw))
                used.update({d: path for d in domains})
                seed_of = seed_of if seed_of is not None else run_seed(path)  # rm:<kind> too
                del annotator, bundle
        labels.append(seed_of)
        _write_predictions(ctx, spec.name, k, verdicts, items)
        seeds.append({c: r.to_dict() for c, r in score_columns(verdicts, items, policy).items()})
        sources.append(used)
    return seeds, labels, sources


def run(
    cfg: DictConfig,
    ctx: RunContext,
    base: bool = True,
    base_name: str = "base (zero-shot)",
    rm_name: str = "FIRM RM (ours)",
    rm_edit: Any = None,
    rm_gen: Any = None,
    models: Sequence[Mapping[str, Any]] = (),
    endpoints: Sequence[Mapping[str, Any]] = (),
    template: str | None = None,
    missing: str = "mean_fill",
    max_items: int | None = None,
    batch_size: int = 32,
    max_tokens: Mapping[str, int] | None = None,
    chunk_size: int = 64,
    compare_to: str | None = None,
    world_scale: float = 1.0,
) -> dict[str, Any]:
    """Judge, score and tabulate (see the module docstring)."""
    t0 = time.perf_counter()
    judges = build_judges(
        base=bool(base),
        base_name=base_name,
        rm_name=rm_name,
        rm_edit=plain(rm_edit),
        rm_gen=plain(rm_gen),
        models=plain(models) or (),
        endpoints=plain(endpoints) or (),
    )
    template = resolve_template(template, ctx.settings)
    budget = {EXECUTION: 256, CONSISTENCY: 256, INSTRUCTION: 1024, **dict(plain(max_tokens) or {})}
    level = run_level(ctx.settings)
    all_items = load_bench_items(
        ctx.settings, template=template, max_items=max_items, world_scale=world_scale, level=level
    )
    t_items = time.perf_counter() - t0

    results: dict[str, dict[str, Any]] = {}
    per_seed: dict[str, list[dict[str, Any]]] = {}
    labels: dict[str, list[int | None]] = {}
    sources: dict[str, list[dict[str, Any]]] = {}
    wall: dict[str, float] = {}
    for spec in judges:
        t1 = time.perf_counter()
        domains = [d for d, srcs in (("edit", spec.edit), ("gen", spec.gen)) if srcs or spec.endpoint]
        items = {c: all_items[c] for d in domains for c in DOMAINS[d]}
        seeds, labels[spec.name], sources[spec.name] = _judge_row(
            spec,
            items,
            cfg,
            ctx,
            batch_size=batch_size,
            max_tokens=budget,
            chunk_size=chunk_size,
            policy=missing,
        )
        per_seed[spec.name] = seeds
        results[spec.name] = aggregate(seeds)
        wall[spec.name] = round(time.perf_counter() - t1, 2)
        ctx.log({f"{col}/mean": v["mean"] for col, v in results[spec.name].items()}, step=len(results))

    judged = sorted({c for seeds in per_seed.values() for s in seeds for c in s})
    floor = best_constant_columns({c: all_items[c] for c in judged if c in all_items})
    results[BEST_CONSTANT] = aggregate([{c: r.to_dict() for c, r in floor.items()}])
    vs_constant = {n: below(agg, results[BEST_CONSTANT]) for n, agg in results.items() if n != BEST_CONSTANT}

    reference = compare_to if compare_to is not None else (base_name if base else None)
    acceptance = {}
    if reference is not None and reference in results:
        acceptance = {
            n: beats(agg, results[reference])
            for n, agg in results.items()
            if n not in (reference, BEST_CONSTANT)
        }

    n_items = {c: len(v) for c, v in all_items.items()}
    report = render_report(
        results, labels, title=f"FIRM-Bench (world analog, level {level})", policy=missing, n_items=n_items
    )
    (ctx.run_dir / "firm_bench.md").write_text(report)
    write_tables(
        table_rows(results), ctx.run_dir / "firm_bench_mae", columns=["model", *COLUMNS], index_name="model"
    )
    ctx.log_table("firm_bench_mae", table_rows(results), columns=["model", *COLUMNS], index_name="model")
    print(report, flush=True)
    return to_jsonable(
        {
            "columns": list(COLUMNS),
            "level": level,
            "results": results,
            "per_seed": per_seed,
            "seed_labels": labels,
            "sources": sources,
            "acceptance": acceptance,
            "below_best_constant": vs_constant,
            "missing_policy": missing,
            "template": template,
            "n_items": n_items,
            "max_tokens": budget,
            "wall_s": {"items": round(t_items, 2), **wall, "total": round(time.perf_counter() - t0, 2)},
        }
    )
