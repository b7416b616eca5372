"""``make reproduce-tables``: the papers' tables, reproduced at the run's scale, beside the published ones.

``python -m experiments.reproduce [--profile quick|full] [--only TABLE ...] [--jobs N] [--dry-run]``

1. reads the declared tables (conf/reproduce/tables.yaml, :mod:`experiments.reproduction.spec`)
   and keeps those of the profile (``--only``: just these);
2. plans their runs (:mod:`experiments.reproduction.runs`): each (experiment, overrides, seed)
   is composed as ``python -m experiments.run`` composes it and keyed by its config; its directory
   is ``<results>/runs/<exp>/<key>/``; a finished run there is reused, the others are run, each in
   its own process, ``--jobs`` at a time (default: the cores, ``os.cpu_count()``, divided by the
   threads a run uses, its ``runtime.threads``: ``T2I_THREADS``, which ``make`` sets to 1; at least
   1), a run only once the runs it reads completed (a progress bar names every run in flight, its
   seed and its newest logged step, and counts the finished ones); a failed run is reported, the
   runs that read it are blocked and the others go on; Ctrl-C or SIGTERM stops the runs in flight
   (rerunning resumes); ``--dry-run`` only lists what would run and what is reused;
3. writes every table to ``<results>/tables/<name>.md``, ``.csv`` and ``.tex``
   (:mod:`experiments.reproduction.render`: mean and 95% interval over seeds, the paper's numbers
   beside them, labelled; placeholders for slots not reproduced yet; below a table, its paired
   differences between two runs, :mod:`experiments.reproduction.compare`), the figures to
   ``<results>/figures/`` (:mod:`experiments.reproduction.figures`), an index of the tables with the
   runs' wall times in ``<results>/tables/README.md`` and the run list in
   ``<results>/reproduce.json``.

Exit code: 0 when every run completed (or was reused), 1 when any failed, 2 for a bad request,
130 / 143 when interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from experiments.reproduction.compare import compare_runs
from experiments.reproduction.figures import curve_figure, score_figure, score_values
from experiments.reproduction.render import Cell, RenderedTable, build_table, placeholder_table, write_table
from experiments.reproduction.runs import (
    CONF_DIR,
    DONE,
    PlannedRun,
    default_jobs,
    execute_runs,
    plan_runs,
    threads_per_run,
)
from experiments.reproduction.spec import DECLARATIONS, Declarations, TableSpec, load_declarations

__all__ = ["main", "select_tables"]


def select_tables(decl: Declarations, profile: str, only: Sequence[str] | None) -> list[TableSpec]:
    """The tables of ``profile`` (``only``: those named, which must be in the profile)."""
    if profile not in decl.profiles:
        raise ValueError(f"unknown profile {profile!r}; profiles: {', '.join(decl.profiles)}")
    if only:
        tables = [decl.table(name) for name in only]
        outside = [t.name for t in tables if not decl.in_profile(t, profile)]
        if outside:
            raise ValueError(
                f"table(s) {', '.join(outside)} are not built by profile {profile!r} "
                f"(profiles: {', '.join(sorted({p for t in tables for p in t.profiles or ()}))})"
            )
        return tables
    return [t for t in decl.tables if decl.in_profile(t, profile)]


def _known_experiments() -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / "exp").glob("*.yaml"))


def _print_plan(runs: Sequence[PlannedRun], profile: str) -> None:
    n_reuse = sum(r.status == "reuse" for r in runs)
    print(f"profile {profile}: {len(runs)} runs, {n_reuse} reused, {len(runs) - n_reuse} to run")
    for r in runs:
        print(f"  {r.status:5s}  {r.label:60s}  {r.run_dir}  (tables: {', '.join(r.tables)})")


def _in_flight(running: Sequence[tuple[PlannedRun, str]]) -> str:
    if not running:
        return "0 running"
    names = ", ".join(f"{r.exp} seed={r.seed} ({step or 'starting'})" for r, step in running)
    return f"{len(running)} running: {names}"


def _run_all(runs: Sequence[PlannedRun], timeout_s: float | None, jobs: int) -> None:
    from tqdm.auto import tqdm

    todo = [r for r in runs if r.status == "run"]
    if not todo:
        return
    bar = tqdm(total=len(todo), unit="run", dynamic_ncols=True, file=sys.stderr)

    def finished(run: PlannedRun) -> None:
        verdict = "completed" if run.status == "completed" else f"{run.status.upper()}: {run.error}"
        wall = f" in {run.wall_s:.1f} s" if run.wall_s is not None else ""
        bar.write(f"[reproduce] {run.label}: {verdict}{wall} ({run.run_dir})")
        bar.update(1)

    try:
        execute_runs(
            todo,
            jobs=jobs,
            timeout_s=timeout_s,
            on_finish=finished,
            on_tick=lambda running: bar.set_description_str(_in_flight(running)),
        )
    finally:
        bar.close()


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread (:func:`_stop_on_sigterm`)."""


@contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Within: SIGTERM raises :class:`_Terminated` in the main thread, so the runs in flight are
    stopped as on Ctrl-C (:func:`experiments.reproduction.runs.execute_runs`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _source_label(runs: Sequence[PlannedRun], n_values: int) -> str:
    scales = sorted({r.scale for r in runs}) or ["?"]
    n = n_values or len(runs)
    return f"this repo, {'/'.join(scales)} scale, {n} seed{'s' if n != 1 else ''}"


def _finished_dirs(runs: Sequence[PlannedRun]) -> dict[int, Path]:
    """Seed -> run directory of the runs that finished (completed or reused)."""
    return {r.seed: r.run_dir for r in runs if r.status in DONE}


def _render(
    decl: Declarations,
    tables: Sequence[TableSpec],
    per_table: dict[tuple[str, str], list[PlannedRun]],
    profile: str,
    results: Path,
) -> list[RenderedTable]:
    rendered = []
    known = _known_experiments()
    for table in tables:
        if table.placeholder is not None:
            out = placeholder_table(table, table.placeholder, known)
        else:
            metrics = {}
            failed = {}
            for spec in table.runs:
                runs = per_table.get((table.name, spec.id))
                if runs is None:  # an ablation outside the profile
                    continue
                metrics[spec.id] = [r.metrics() if r.status in DONE else None for r in runs]
                failed[spec.id] = any(r.status in ("failed", "blocked") for r in runs)
            seeds = sorted(
                {r.seed for runs in (per_table.get((table.name, s.id), []) for s in table.runs) for r in runs}
            )
            scales = sorted({r.scale for s in table.runs for r in per_table.get((table.name, s.id), [])})
            extra = (
                f"This repo: scale={'/'.join(scales)}, profile {profile}, "
                f"seeds {', '.join(map(str, seeds))}; "
                "a cell is the mean ± the half-width of the 95% Student-t interval over seeds "
                "(one value: the run's own interval where it reports one, in brackets)."
            )
            if table.paper is not None:
                extra += (
                    " Rows marked (paper) are the published numbers, on the paper's benchmark and models."
                )

            def label(run_id: str, cells: list[Cell], table: TableSpec = table) -> str:
                runs = per_table.get((table.name, run_id), [])
                return _source_label(runs, max((len(c.values) for c in cells), default=0))

            out = build_table(table, metrics, failed, source_label=label, caption_extra=extra)
            for comp in table.comparisons:
                runs_a, runs_b = (per_table.get((table.name, run_id)) for run_id in (comp.a, comp.b))
                if runs_a is None or runs_b is None:  # an ablation outside the profile
                    continue
                out.comparisons.append(compare_runs(comp, _finished_dirs(runs_a), _finished_dirs(runs_b)))
        write_table(out, results / "tables")
        rendered.append(out)
    return rendered


def _figures(
    tables: Sequence[TableSpec], per_table: dict[tuple[str, str], list[PlannedRun]], results: Path
) -> list[Path]:
    made: list[Path] = []
    seen: set[str] = set()
    for table in tables:
        for spec in table.runs:
            for run in per_table.get((table.name, spec.id), []):
                if run.status not in DONE:
                    continue
                stem = f"{run.exp}-seed{run.seed}-{run.key}"
                if stem not in seen:
                    seen.add(stem)
                    path = curve_figure(
                        run.run_dir, results / "figures" / "curves" / f"{stem}.png", run.label
                    )
                    if path is not None:
                        made.append(path)
                for i, source in enumerate(spec.scores):
                    out = results / "figures" / "scores" / f"{stem}-{i}.png"
                    if str(out) in seen:
                        continue
                    seen.add(str(out))
                    counts = score_values(run.run_dir, source, run.metrics())
                    path = score_figure(counts, out, f"{source.title}: {run.label}")
                    if path is not None:
                        made.append(path)
    return made


def _index(rendered: Sequence[RenderedTable], runs: Sequence[PlannedRun], profile: str, wall_s: float) -> str:
    lines = [f"# Reproduced tables (profile {profile})", ""]
    for t in rendered:
        status = "placeholder, not yet reproduced" if t.placeholder is not None else "table"
        lines.append(f"- [{t.title}]({t.name}.md) ({status})")
    lines += ["", "## Runs", "", "| run | status | wall s | directory |", "|---|---|---:|---|"]
    for r in runs:
        wall = "" if r.wall_s is None else f"{r.wall_s:.1f}"
        lines.append(f"| {r.label} | {r.status} | {wall} | {r.run_dir} |")
    lines += ["", f"Total wall time of this call: {wall_s:.1f} s (reused runs cost nothing).", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.reproduce", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--profile", default="quick", help="quick (1 seed, main rows) or full (3 seeds, ablations)"
    )
    parser.add_argument("--only", nargs="+", metavar="TABLE", help="build only these tables")
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would run and what is reused; run nothing"
    )
    parser.add_argument(
        "--results", type=Path, default=Path("results"), help="output root (default: results)"
    )
    parser.add_argument(
        "--tables-file", type=Path, default=DECLARATIONS, help="the table declarations (YAML)"
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="stop (and fail) a run after this many seconds"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="how many runs execute at once (default: os.cpu_count() // the threads a run uses, "
        "its runtime.threads, e.g. T2I_THREADS; at least 1)",
    )
    parser.add_argument("--list", action="store_true", help="list the declared tables and profiles")
    args = parser.parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"reproduce: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2

    try:
        decl = load_declarations(args.tables_file)
        if args.list:
            for name, p in decl.profiles.items():
                print(f"profile {name}: seeds {p.seeds}, ablations {p.ablations}. {p.description}")
            for t in decl.tables:
                kind = "placeholder" if t.placeholder is not None else f"{len(t.runs)} runs"
                print(
                    f"  {t.name:32s} {kind:12s} profiles: {', '.join(t.profiles or decl.profiles)}  {t.title}"
                )
            return 0
        tables = select_tables(decl, args.profile, args.only)
        runs, per_table = plan_runs(
            decl, [t for t in tables if t.placeholder is None], args.profile, args.results
        )
    except (ValueError, KeyError) as e:  # ConfigError is a ValueError
        print(f"reproduce: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # e.g. a Hydra composition error of a declared run
        print(f"reproduce: cannot plan the runs: {type(e).__name__}: {e}", file=sys.stderr)
        return 2

    _print_plan(runs, args.profile)
    if args.dry_run:
        return 0
    start = time.monotonic()
    todo = [r for r in runs if r.status == "run"]
    jobs = args.jobs if args.jobs is not None else default_jobs(threads_per_run(todo))
    if todo:
        print(f"[reproduce] {len(todo)} runs, {jobs} at a time" + (" (--jobs)" if args.jobs else ""))
    try:
        with _stop_on_sigterm():
            _run_all(runs, args.timeout, jobs)
    except (KeyboardInterrupt, _Terminated) as e:
        print(
            "[reproduce] interrupted: the runs in flight were stopped; rerun the command to resume",
            file=sys.stderr,
        )
        return 130 if isinstance(e, KeyboardInterrupt) else 143
    rendered = _render(decl, tables, per_table, args.profile, args.results)
    figures = _figures(tables, per_table, args.results)
    wall = time.monotonic() - start
    (args.results / "tables" / "README.md").write_text(_index(rendered, runs, args.profile, wall))
    summary = {
        "profile": args.profile,
        "tables": [t.name for t in rendered],
        "wall_s": round(wall, 1),
        "runs": [
            {
                "exp": r.exp,
                "seed": r.seed,
                "key": r.key,
                "run_dir": str(r.run_dir),
                "status": r.status,
                "error": r.error,
                "wall_s": r.wall_s,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "tables": r.tables,
            }
            for r in runs
        ],
        "figures": [str(p) for p in figures],
    }
    (args.results / "reproduce.json").write_text(json.dumps(summary, indent=2) + "\n")
    for t in rendered:
        print(t.markdown())
    bad = [r for r in runs if r.status not in DONE]
    print(
        f"[reproduce] {len(rendered)} tables in {args.results / 'tables'}, {len(figures)} figures in "
        f"{args.results / 'figures'}; wall {wall:.1f} s"
    )
    if bad:
        print(f"[reproduce] {len(bad)} run(s) did not complete:", file=sys.stderr)
        for r in bad:
            print(f"  {r.label}: {r.status}: {r.error} (log: {r.run_dir / 'reproduce.log'})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
