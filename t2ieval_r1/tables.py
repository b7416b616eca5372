"""The paper-style results table of T2I-Eval-R1, built from meta-evaluation runs (methods x seeds).

Input: the run directories of ``+exp=t2ieval_r1_meta_eval`` (each holds a ``metrics.json`` in the
layout of :mod:`t2ieval_r1.evaluate.results`), each with a method label. Layout, as in the paper:

* rows = methods, in :data:`METHOD_ORDER` first (base zero-shot, SFT scores only, SFT rationales +
  scores, GRPO continuous, GRPO discrete, GRPO pairwise), then any other label in order of
  appearance; then the published T2I-Eval-Bench rows of docs/papers/t2i_eval_r1.md §2
  (:data:`PUBLISHED_T2I_EVAL_BENCH`), labelled as published and not reproduced: they were
  measured on the real T2I-Eval-Bench, ours on the world's T2I-Eval-like benchmark, so they are
  context, not a comparison;
* columns = :data:`DEFAULT_COLUMNS`: T2I-Eval rho / tau per aspect (appearance, intrinsic,
  relationship, overall), TIFA rho / tau, ImageReward accuracy (human ties excluded, and with
  ties), rationale accuracy (share of true facts, pooled over benchmarks).

Each cell aggregates the runs of one method (one run per seed) as ``mean ± h``, where ``h`` is
the half-width of the two-sided Student-t interval over seeds at ``confidence`` (default 95%):
``h = t_{(1 + c) / 2, k - 1} * s / sqrt(k)`` with ``k`` seeds and ``s`` their sample standard
deviation (ddof 1). A rank correlation that a run reports as undefined (its evaluator gave every
item the same score, so it ranks nothing) counts as 0, as in the GRPO task's gain, and the cell
says how many seeds that was (``(k of n constant: 0)``); a key the run does not report at all
leaves the run out of that cell. With one seed there is no interval (the cell is the value alone; the run's
own bootstrap interval over items is in its metrics.json). Per-seed values are kept
(:attr:`Cell.values`, the long-format CSV and the JSON). A run's seed is its evaluator's training
seed when the evaluator was exported by a training run (``evaluator.source_run.seed``), else the
meta-evaluation run's ``seed``; two runs of one method with the same seed are an error. A run
without a label gets the ``task.method`` it was run with, else a default: the method of the
training experiment that exported the evaluator (:data:`EXP_METHODS`: SFT scores only, SFT
rationales+scores, GRPO continuous / discrete / pairwise), ``base zero-shot`` for a pretrained
base, else the evaluator's name.

Python::

    from t2ieval_r1.tables import build_table_from_runs
    table = build_table_from_runs(
        [("base zero-shot", "outputs/runs/t2ieval_r1_meta_eval/base"),
         ("GRPO continuous", "outputs/runs/t2ieval_r1_meta_eval/grpo_s0"),
         ("GRPO continuous", "outputs/runs/t2ieval_r1_meta_eval/grpo_s1")],
        out="outputs/tables/t2ieval_r1")         # writes .md / .csv / .tex / .json
    print(table.markdown())

Command line::

    python -m t2ieval_r1.tables --run "base zero-shot=outputs/runs/.../base" \\
        --run "GRPO continuous=outputs/runs/.../grpo_s*" --out outputs/tables/t2ieval_r1
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from common.scoring.tables import to_csv, to_latex, to_markdown
from t2ieval_r1.evaluate.results import SCHEMA, is_rank_correlation, summarize

__all__ = [
    "DEFAULT_COLUMNS",
    "EXP_METHODS",
    "METHOD_ORDER",
    "PUBLISHED_T2I_EVAL_BENCH",
    "Cell",
    "Column",
    "PublishedRow",
    "ResultsTable",
    "RunResult",
    "build_results_table",
    "build_table_from_runs",
    "load_run",
    "load_runs",
    "seed_interval",
    "write_results_table",
]


@dataclass(frozen=True)
class Column:
    """A table column: the ``summary`` key of metrics.json it shows, and its header."""

    key: str
    label: str


DEFAULT_COLUMNS: tuple[Column, ...] = (
    *(
        Column(f"t2i_eval/{aspect}/{stat}", f"{short} {sym}")
        for aspect, short in (
            ("appearance", "App"),
            ("intrinsic", "Intr"),
            ("relationship", "Rel"),
            ("overall", "Overall"),
        )
        for stat, sym in (("spearman", "rho"), ("kendall", "tau"))
    ),
    Column("tifa/faithfulness/spearman", "TIFA rho"),
    Column("tifa/faithfulness/kendall", "TIFA tau"),
    Column("imagereward/accuracy", "IR acc"),
    Column("imagereward/accuracy_with_ties", "IR acc (ties)"),
    Column("rationale/accuracy", "Rationale acc"),
)
"""The paper's benchmarks and aspects (T2I-Eval, TIFA, ImageReward) plus rationale accuracy."""

METHOD_ORDER: tuple[str, ...] = (
    "base zero-shot",
    "SFT scores only",
    "SFT rationales+scores",
    "GRPO continuous",
    "GRPO discrete",
    "GRPO pairwise",
)
"""Rows that come first, in this order, when present."""

EXP_METHODS: dict[str, str] = {
    "t2ieval_r1_sft_scores": "SFT scores only",
    "t2ieval_r1_sft_rationale": "SFT rationales+scores",
    "t2ieval_r1_grpo": "GRPO continuous",
    "t2ieval_r1_grpo_discrete": "GRPO discrete",
    "t2ieval_r1_grpo_pairwise": "GRPO pairwise",
}
"""Default method label of an evaluator exported by a training experiment (when none is given)."""


@dataclass(frozen=True)
class PublishedRow:
    """A published result (docs/papers/t2i_eval_r1.md §2): overall rho / tau on the real T2I-Eval-Bench."""

    method: str
    overall_spearman: float
    overall_kendall: float | None
    note: str = ""


PUBLISHED_T2I_EVAL_BENCH: tuple[PublishedRow, ...] = (
    PublishedRow("MiniCPM-V-2.6 SFT-distilled", 0.5802, 0.4409),
    PublishedRow("GPT-4o task-decomposed", 0.5566, 0.4285),
    PublishedRow("VIEScore (GPT-4o)", 0.5545, 0.4170),
    PublishedRow("VQAScore", 0.5116, 0.3712),
    PublishedRow("DSG", 0.4704, 0.3655),
    PublishedRow("ImageReward", 0.4046, 0.2839),
    PublishedRow("CLIPScore", 0.1505, 0.1016),
    PublishedRow("FID", -0.1231, -0.0862),
    PublishedRow("one annotator vs the average", 0.95, None, "about"),
)
"""T2I-Eval-Bench, overall aspect (docs/papers/t2i_eval_r1.md §2): the baselines as T2I-Eval-R1's main
table gives them (T2I-Eval's README gives 0.5938 / 0.4566 for the MiniCPM-V-2.6 row; §2)."""

PUBLISHED_SOURCE = "published: T2I-Eval-Bench (real), not reproduced"


@dataclass
class RunResult:
    """One meta-evaluation run: its method label, seed, directory and flat summary."""

    method: str
    seed: int
    run_dir: str | None
    summary: dict[str, Any]


@dataclass
class Cell:
    """The runs of one method in one column: mean, interval half-width, per-seed values."""

    mean: float | None
    half_width: float | None
    values: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    undefined: int = 0
    """Seeds whose rank correlation was undefined (a constant evaluator) and counts as 0."""

    @property
    def n(self) -> int:
        return len(self.values)

    def text(self, floatfmt: str = ".3f") -> str:
        """``mean ± h`` (``mean`` alone with one seed, ``-`` without values)."""
        if self.mean is None:
            return "-"
        text = format(self.mean, floatfmt)
        if self.half_width is not None:
            text += f" ± {format(self.half_width, floatfmt)}"
        if self.undefined:
            text += f" ({self.undefined} of {self.n} constant: 0)"
        return text


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float | None, float | None]:
    """``(mean, half-width)`` of the Student-t interval over seeds (module docstring)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return None, None
    mean = float(x.mean())
    if x.size < 2:
        return mean, None
    t = float(stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1))
    return mean, t * float(x.std(ddof=1)) / math.sqrt(x.size)


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "metrics.json" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no metrics.json; is {run_dir} a +exp=t2ieval_r1_meta_eval run directory?"
        )
    metrics = json.loads(path.read_text())
    schema = metrics.get("schema") if isinstance(metrics, dict) else None
    if schema != SCHEMA:
        raise ValueError(
            f"{path}: not a meta-evaluation metrics.json (schema {schema!r}, expected {SCHEMA!r}); "
            "give the run directories of +exp=t2ieval_r1_meta_eval"
        )
    return metrics


def _default_method(metrics: Mapping[str, Any]) -> str:
    ev = metrics.get("evaluator") or {}
    if ev.get("method"):
        return str(ev["method"])
    run = ev.get("source_run") or {}
    if run.get("exp_name") in EXP_METHODS:
        return EXP_METHODS[str(run["exp_name"])]
    if ev.get("kind") == "base":
        return "base zero-shot"
    return str(ev.get("name") or "evaluator")


def run_result(
    metrics: Mapping[str, Any], method: str | None = None, run_dir: str | None = None
) -> RunResult:
    """A :class:`RunResult` from a metrics.json dict (method label and seed as the module says)."""
    ev = metrics.get("evaluator") or {}
    source_seed = (ev.get("source_run") or {}).get("seed")
    seed = int(source_seed) if source_seed is not None else int(metrics.get("seed", 0))
    summary = dict(metrics.get("summary") or summarize(metrics))
    return RunResult(method or _default_method(metrics), seed, run_dir, summary)


def load_run(run_dir: str | Path, method: str | None = None) -> RunResult:
    """Read one run directory (or its metrics.json)."""
    p = Path(run_dir).expanduser()
    return run_result(_read_metrics(p), method, str(p))


def _expand(path: str | Path) -> list[Path]:
    text = str(Path(path).expanduser())
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text))
        if not found:
            raise FileNotFoundError(f"no run directory matches {text!r}")
        return found
    return [Path(text)]


def load_runs(
    runs: Iterable[tuple[str | None, str | Path]] | Mapping[str, Sequence[str | Path]],
) -> list[RunResult]:
    """Runs from ``[(method or None, run_dir), ...]`` or ``{method: [run_dir, ...]}`` (globs allowed)."""
    pairs: list[tuple[str | None, str | Path]]
    if isinstance(runs, Mapping):
        pairs = [
            (m, d) for m, dirs in runs.items() for d in ([dirs] if isinstance(dirs, str | Path) else dirs)
        ]
    else:
        pairs = list(runs)
    out = [load_run(p, method) for method, d in pairs for p in _expand(d)]
    seen: dict[tuple[str, int], str | None] = {}
    for r in out:
        key = (r.method, r.seed)
        if key in seen:
            raise ValueError(
                f"method {r.method!r} has two runs with seed {r.seed}: {seen[key]} and {r.run_dir}; "
                "give each seed once (or label them as different methods)"
            )
        seen[key] = r.run_dir
    return out


@dataclass
class ResultsTable:
    """Methods x columns cells, the published rows and how the intervals were made."""

    columns: list[Column]
    methods: list[str]
    cells: dict[str, dict[str, Cell]]
    published: list[PublishedRow]
    confidence: float = 0.95

    def seeds(self, method: str) -> list[int]:
        return sorted({s for c in self.cells[method].values() for s in c.seeds})

    def rows(self, floatfmt: str = ".3f") -> list[dict[str, Any]]:
        """Display rows (strings): reproduced methods, then the published rows."""
        out = []
        for m in self.methods:
            row: dict[str, Any] = {"method": m, "source": "reproduced (world)", "seeds": len(self.seeds(m))}
            row.update({c.label: self.cells[m][c.key].text(floatfmt) for c in self.columns})
            out.append(row)
        for p in self.published:
            row = {
                "method": p.method + (f" ({p.note})" if p.note else ""),
                "source": PUBLISHED_SOURCE,
                "seeds": "-",
            }
            for c in self.columns:
                value = {
                    "t2i_eval/overall/spearman": p.overall_spearman,
                    "t2i_eval/overall/kendall": p.overall_kendall,
                }.get(c.key)
                row[c.label] = "-" if value is None else format(value, floatfmt if p.note == "" else ".2f")
            out.append(row)
        return out

    def caption(self) -> str:
        text = (
            f"T2I-Eval-R1 meta-evaluation. Reproduced rows: world benchmarks, mean ± half-width of the "
            f"{100 * self.confidence:g}% Student-t interval over seeds (no ± with one seed); a seed "
            "whose evaluator gave every item one score ranks nothing and counts as 0 "
            "('k of n constant: 0')."
        )
        if self.published:
            text += (
                " Published rows: the real T2I-Eval-Bench (overall aspect, docs/papers/t2i_eval_r1.md §2), "
                "quoted for context, not reproduced and not comparable number for number."
            )
        return text

    def markdown(self, floatfmt: str = ".3f") -> str:
        return self.caption() + "\n\n" + to_markdown(self.rows(floatfmt))

    def latex(self, floatfmt: str = ".3f") -> str:
        return to_latex(self.rows(floatfmt), caption=self.caption())

    def long_records(self) -> list[dict[str, Any]]:
        """One record per (method, column): mean, half-width, seeds and per-seed values."""
        out = []
        for m in self.methods:
            for c in self.columns:
                cell = self.cells[m][c.key]
                out.append(
                    {
                        "method": m,
                        "column": c.label,
                        "key": c.key,
                        "mean": cell.mean,
                        "half_width": cell.half_width,
                        "n_seeds": cell.n,
                        "seeds": " ".join(str(s) for s in cell.seeds),
                        "values": " ".join(repr(v) for v in cell.values),
                        "n_undefined_as_zero": cell.undefined,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "interval": "student_t_over_seeds",
            "columns": [{"key": c.key, "label": c.label} for c in self.columns],
            "methods": {
                m: {
                    c.key: {
                        "mean": cell.mean,
                        "half_width": cell.half_width,
                        "values": cell.values,
                        "undefined_as_zero": cell.undefined,
                        "seeds": cell.seeds,
                    }
                    for c in self.columns
                    for cell in [self.cells[m][c.key]]
                }
                for m in self.methods
            },
            "published": [p.__dict__ for p in self.published],
        }


def _seed_values(runs: Sequence[RunResult], key: str) -> tuple[list[tuple[int, float]], int]:
    """``(seed, value)`` of the runs that report ``key`` (undefined correlations as 0) and how
    many of them were undefined."""
    present: list[tuple[int, float]] = []
    undefined = 0
    for r in runs:
        v = r.summary.get(key)
        if isinstance(v, bool):
            continue
        if isinstance(v, int | float) and math.isfinite(v):
            present.append((r.seed, float(v)))
        elif key in r.summary and is_rank_correlation(key):
            present.append((r.seed, 0.0))  # undefined (None / NaN): ranks nothing
            undefined += 1
    return present, undefined


def build_results_table(
    runs: Sequence[RunResult],
    *,
    columns: Sequence[Column] = DEFAULT_COLUMNS,
    method_order: Sequence[str] = METHOD_ORDER,
    confidence: float = 0.95,
    published: bool = True,
) -> ResultsTable:
    """Aggregate ``runs`` into a :class:`ResultsTable` (module docstring)."""
    if not runs:
        raise ValueError("no runs to tabulate")
    labels = list(dict.fromkeys(r.method for r in runs))
    methods = [m for m in method_order if m in labels] + [m for m in labels if m not in method_order]
    cells: dict[str, dict[str, Cell]] = {}
    for m in methods:
        mine = sorted((r for r in runs if r.method == m), key=lambda r: r.seed)
        cells[m] = {}
        for c in columns:
            present, undefined = _seed_values(mine, c.key)
            mean, hw = seed_interval([v for _, v in present], confidence)
            cells[m][c.key] = Cell(mean, hw, [v for _, v in present], [s for s, _ in present], undefined)
    return ResultsTable(
        list(columns), methods, cells, list(PUBLISHED_T2I_EVAL_BENCH) if published else [], confidence
    )


def write_results_table(table: ResultsTable, stem: str | Path, floatfmt: str = ".3f") -> dict[str, Path]:
    """Write ``<stem>.md`` (caption + table), ``.tex``, ``.csv`` (long format, per seed) and ``.json``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {fmt: stem.with_name(stem.name + "." + fmt) for fmt in ("md", "tex", "csv", "json")}
    paths["md"].write_text(table.markdown(floatfmt))
    paths["tex"].write_text(table.latex(floatfmt))
    paths["csv"].write_text(to_csv(table.long_records()))
    paths["json"].write_text(json.dumps(table.to_dict(), indent=2) + "\n")
    return paths


def build_table_from_runs(
    runs: Iterable[tuple[str | None, str | Path]] | Mapping[str, Sequence[str | Path]],
    out: str | Path | None = None,
    **kwargs: Any,
) -> ResultsTable:
    """Load ``runs`` (:func:`load_runs`), build the table, and write it to ``out`` (a path stem) if given.

    ``kwargs`` go to :func:`build_results_table` (``columns``, ``method_order``, ``confidence``,
    ``published``).
    """
    table = build_results_table(load_runs(runs), **kwargs)
    if out is not None:
        write_results_table(table, out)
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m t2ieval_r1.tables --run LABEL=DIR [--run ...] [--out STEM]``: print (and write)."""
    parser = argparse.ArgumentParser(prog="python -m t2ieval_r1.tables", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        action="append",
        required=True,
        metavar="LABEL=DIR",
        help="a meta-eval run directory (globs allowed) with its method label; DIR alone infers the label",
    )
    parser.add_argument("--out", default=None, help="path stem of the written tables (.md .tex .csv .json)")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--no-published", action="store_true", help="leave out the published rows")
    args = parser.parse_args(argv)
    pairs: list[tuple[str | None, str]] = []
    for item in args.run:
        label, sep, path = item.partition("=")
        pairs.append((label, path) if sep else (None, label))
    table = build_table_from_runs(
        pairs, args.out, confidence=args.confidence, published=not args.no_published
    )
    print(table.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
