"""The runs the tables need: planned, keyed by their composed config, reused or run.

Each (experiment, overrides, seed) of the selected tables is composed with Hydra's compose API
exactly as ``python -m experiments.run`` composes it, and keyed by
:func:`common.run_checkpoints.resume_key` of the resolved config without the keys that do not
change what a run computes (:data:`NOT_IN_RUN_KEY`: paths, threads, progress bars, logger). Its
directory is ``<results>/runs/<exp>/<key>/``. A directory whose ``<run_dir>/reproduce.json`` holds
the same key, whose metrics.json exists and whose run.json says ``completed`` is reused; any
other run is executed as ``python -m experiments.run +exp=<exp> ... hydra.run.dir=<run_dir>``
in a subprocess (the same code path; a crash, even of the interpreter, fails that run only), with
its output in ``<run_dir>/reproduce.log``. The same run needed by several tables runs once.

:func:`execute_runs` runs the planned runs ``jobs`` at a time (:func:`default_jobs`: the cores
divided by the threads a run uses), each once its dependencies completed; a run whose dependency
failed is ``blocked``. Each run is its own process group, stopped as a whole (SIGTERM, then SIGKILL)
on its timeout or when the caller is interrupted, so no run outlives the call.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments.reproduction.spec import Declarations, RunSpec, TableSpec

__all__ = [
    "KEY_FILE",
    "LOG_FILE",
    "NOT_IN_RUN_KEY",
    "PlannedRun",
    "compose_run",
    "critical_path_minutes",
    "default_jobs",
    "execute_run",
    "execute_runs",
    "plan_runs",
    "run_key",
    "threads_per_run",
]

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
REPO_ROOT = CONF_DIR.parent
KEY_FILE = "reproduce.json"
LOG_FILE = "reproduce.log"
NOT_IN_RUN_KEY: tuple[str, ...] = ("paths", "runtime", "logger")
"""Config keys that do not change what a run computes (where files go, threads, progress bars,
where metrics are mirrored): left out of the run key."""
RUN_REF = re.compile(r"\{runs:([\w.-]+)\}")
EXTRA_OVERRIDES: tuple[str, ...] = ("runtime.progress=false",)
"""Added to every executed run (not in the key): its log is a file, not a terminal."""
DONE = ("reuse", "completed")
"""The statuses of a run whose results exist."""
STOP_GRACE_S = 5.0
"""How long a stopped run's processes get between SIGTERM and SIGKILL."""
DEFAULT_MINUTES = 1.0
"""The expected minutes of a run whose declaration gives none (:attr:`RunSpec.minutes`)."""


def compose_run(exp: str, overrides: Sequence[str]) -> Any:
    """The run config ``python -m experiments.run +exp=<exp> <overrides>`` composes."""
    from hydra import compose, initialize_config_dir

    from common.config import register_defaults

    register_defaults()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=[f"+exp={exp}", *overrides])


def run_key(cfg: Any) -> str:
    """The 12-hex-digit key of a composed (or loaded) run config."""
    from omegaconf import OmegaConf

    # lazy: common.run_checkpoints pulls in torch (~1.1 s); the reproduce CLI imports this module at start
    from common.run_checkpoints import resume_key

    tree = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    return resume_key(tree, NOT_IN_RUN_KEY)  # type: ignore[arg-type]


@dataclass
class PlannedRun:
    exp: str
    seed: int
    overrides: list[str]
    """Everything after ``+exp=<exp>``, ``seed=<k>`` included."""
    key: str
    run_dir: Path
    scale: str = "tiny"
    tables: list[str] = field(default_factory=list)
    depends: list[PlannedRun] = field(default_factory=list)
    status: str = "pending"
    """``reuse`` (completed before), ``run`` (to run), then ``completed``, ``failed`` or ``blocked``."""
    error: str | None = None
    wall_s: float | None = None
    started_at: str | None = None
    """When this call started the run's process (ISO 8601, UTC); ``None``: not run by this call."""
    finished_at: str | None = None
    threads: int | None = None
    """The run's ``runtime.threads`` as composed (``None``: torch's default, every core)."""
    minutes: float = DEFAULT_MINUTES
    """The expected duration of its declaration (:attr:`RunSpec.minutes`), for the schedule."""

    @property
    def label(self) -> str:
        return f"{self.exp} seed={self.seed} [{self.key}]"

    def metrics(self) -> dict[str, Any] | None:
        path = self.run_dir / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else None


def is_complete(run_dir: Path, key: str) -> bool:
    """Whether ``run_dir`` holds a finished run of config key ``key``."""
    try:
        stamp = json.loads((run_dir / KEY_FILE).read_text())
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        stamp.get("key") == key and meta.get("status") == "completed" and (run_dir / "metrics.json").is_file()
    )


def _hydra_list(dirs: Iterable[Path]) -> str:
    return "[" + ",".join("'" + str(d).replace("'", "\\'") + "'" for d in dirs) + "]"


def plan_runs(
    decl: Declarations, tables: Sequence[TableSpec], profile: str, results: Path
) -> tuple[list[PlannedRun], dict[tuple[str, str], list[PlannedRun]]]:
    """Every run of ``tables`` in ``profile`` (deduplicated by key, in dependency order) and, per
    ``(table, run id)``, its runs (one per seed)."""
    prof = decl.profiles[profile]
    by_key: dict[str, PlannedRun] = {}
    order: list[PlannedRun] = []
    per_table: dict[tuple[str, str], list[PlannedRun]] = {}
    hinted: set[str] = set()  # runs whose minutes come from a declaration
    for table in tables:
        for spec in table.runs:
            if spec.ablation and not prof.ablations:
                continue
            runs = []
            for seed in spec.seeds if spec.seeds is not None else prof.seeds:
                overrides, depends = _resolve_refs(table, spec, per_table)
                overrides = [*overrides, f"seed={seed}"]
                cfg = compose_run(spec.exp, overrides)
                key = run_key(cfg)
                run = by_key.get(key)
                if run is None:
                    scale = str(cfg.scale.name)
                    run = PlannedRun(spec.exp, seed, overrides, key, results / "runs" / spec.exp / key, scale)
                    run.depends = depends
                    threads = cfg.runtime.get("threads")
                    run.threads = None if threads is None else int(threads)
                    run.status = "reuse" if is_complete(run.run_dir, key) else "run"
                    by_key[key] = run
                    order.append(run)
                if spec.minutes is not None:
                    run.minutes = max(spec.minutes, run.minutes) if run.key in hinted else spec.minutes
                    hinted.add(run.key)
                if table.name not in run.tables:
                    run.tables.append(table.name)
                runs.append(run)
            per_table[(table.name, spec.id)] = runs
    return order, per_table


def _resolve_refs(
    table: TableSpec, spec: RunSpec, done: dict[tuple[str, str], list[PlannedRun]]
) -> tuple[list[str], list[PlannedRun]]:
    depends: list[PlannedRun] = []

    def sub(m: re.Match[str]) -> str:
        ref = m.group(1)
        if (table.name, ref) not in done:
            raise ValueError(
                f"table {table.name!r}, run {spec.id!r}: {{runs:{ref}}} must name an earlier run of the "
                "table that the profile includes"
            )
        runs = done[(table.name, ref)]
        depends.extend(runs)
        return _hydra_list(r.run_dir for r in runs)

    return [RUN_REF.sub(sub, o) for o in spec.overrides], depends


def _last_step(run_dir: Path) -> str:
    """The newest logged step of a running run (``log.jsonl``), for the progress display."""
    path = run_dir / "log.jsonl"
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
        rec = json.loads(lines[-1])
    except (OSError, ValueError, IndexError):
        return ""
    step = rec.get("step")
    return f"step {step}" if step is not None else ""


def threads_per_run(runs: Iterable[PlannedRun], cpus: int | None = None) -> int:
    """The most threads any run of ``runs`` uses (``runtime.threads``; unset: ``cpus``, all the
    cores, as torch takes them); 1 for no runs."""
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    return max((cpus if r.threads is None else r.threads for r in runs), default=1)


def default_jobs(threads: int, cpus: int | None = None) -> int:
    """How many runs of ``threads`` threads each run at once by default:
    ``max(1, cpus // threads)``, ``cpus`` being ``os.cpu_count()``."""
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    return max(1, cpus // max(1, threads))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _stop(proc: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> int:
    """Stop ``proc`` and every process of its group (SIGTERM, then SIGKILL); its exit code."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(proc.pid, sig)
        try:
            return proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
    return proc.wait()


def execute_run(
    run: PlannedRun,
    *,
    python: str = sys.executable,
    timeout_s: float | None = None,
    on_progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> bool:
    """Run ``run`` in a subprocess (module docstring); sets its status, error, wall time and
    start / end times. ``cancel`` set: the run is stopped, fails as ``interrupted``."""
    blocked = [d for d in run.depends if d.status not in DONE]
    if blocked:
        run.status = "blocked"
        run.error = "needs " + ", ".join(d.label for d in blocked) + ", which did not complete"
        return False
    run.run_dir.mkdir(parents=True, exist_ok=True)
    (run.run_dir / "metrics.json").unlink(missing_ok=True)  # a stale one of an earlier failed try
    stamp = {"key": run.key, "exp": run.exp, "seed": run.seed, "overrides": run.overrides}
    (run.run_dir / KEY_FILE).write_text(json.dumps(stamp, indent=2) + "\n")
    cmd = [
        python,
        "-m",
        "experiments.run",
        f"+exp={run.exp}",
        *run.overrides,
        *EXTRA_OVERRIDES,
        f"hydra.run.dir={run.run_dir}",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    start = time.monotonic()
    deadline = None if timeout_s is None else start + timeout_s
    run.started_at = _now()
    with (run.run_dir / LOG_FILE).open("w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        # its own process group (session): stopped as a whole, and a terminal's Ctrl-C reaches this
        # process only, which stops the runs itself (execute_runs)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(2.0):
                if on_progress is not None:
                    on_progress(_last_step(run.run_dir))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code: int | None = None
        try:
            while code is None:
                poll_s = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                try:
                    code = proc.wait(timeout=poll_s)
                except subprocess.TimeoutExpired:
                    if cancel is not None and cancel.is_set():
                        code = _stop(proc)
                        run.error = "interrupted"
                    elif deadline is not None and time.monotonic() >= deadline:
                        code = _stop(proc)
                        run.error = f"stopped after --timeout {timeout_s:g} s"
        except BaseException:
            _stop(proc)
            raise
        finally:
            stop.set()
            watcher.join()
    run.wall_s = round(time.monotonic() - start, 1)
    run.finished_at = _now()
    if code == 0 and run.error is None and is_complete(run.run_dir, run.key):
        run.status = "completed"
        return True
    run.status = "failed"
    if run.error is None:
        run.error = f"exit code {code}: {_last_error(run.run_dir)}"
    return False


def critical_path_minutes(runs: Sequence[PlannedRun]) -> dict[str, float]:
    """Per run key: its expected minutes plus the longest chain of runs that depend on it (among
    ``runs``), the priority of longest-chain-first scheduling."""
    dependents: dict[str, list[PlannedRun]] = {r.key: [] for r in runs}
    for r in runs:
        for d in r.depends:
            if d.key in dependents:
                dependents[d.key].append(r)
    memo: dict[str, float] = {}

    def chain(run: PlannedRun) -> float:
        if run.key not in memo:
            memo[run.key] = run.minutes + max((chain(d) for d in dependents[run.key]), default=0.0)
        return memo[run.key]

    return {r.key: chain(r) for r in runs}


def execute_runs(
    runs: Sequence[PlannedRun],
    *,
    jobs: int,
    python: str = sys.executable,
    timeout_s: float | None = None,
    on_finish: Callable[[PlannedRun], None] | None = None,
    on_tick: Callable[[list[tuple[PlannedRun, str]]], None] | None = None,
    tick_s: float = 2.0,
) -> None:
    """Execute every run of ``runs`` whose status is ``run``, at most ``jobs`` at once (one thread
    each, around :func:`execute_run`), longest chain first (:func:`critical_path_minutes`; plan
    order among equals) as far as their dependencies allow: a run starts once all its
    dependencies completed; a run with a failed (or blocked) dependency is
    blocked without starting. ``on_finish(run)`` follows each run's end (blocked ones included),
    ``on_tick([(run, newest step), ...])`` each change and every ``tick_s`` seconds: the runs in
    flight; both are called from the calling thread. An exception in the calling thread
    (KeyboardInterrupt, or what a SIGTERM handler raises) stops every run in flight, waits for
    their processes to end and is re-raised; a stopped run left its directory as a killed run does
    (rerunning resumes it)."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    pending = [r for r in runs if r.status == "run"]
    priority = critical_path_minutes(pending)
    pending.sort(key=lambda r: -priority[r.key])  # stable: plan order among equal chains
    running: dict[str, tuple[PlannedRun, threading.Thread]] = {}
    steps: dict[str, str] = {}
    ended: queue.Queue[PlannedRun] = queue.Queue()
    cancel = threading.Event()

    def work(run: PlannedRun) -> None:
        try:
            execute_run(
                run,
                python=python,
                timeout_s=timeout_s,
                on_progress=lambda s: steps.__setitem__(run.key, s),
                cancel=cancel,
            )
        except Exception as e:  # e.g. the run directory cannot be written: this run fails only
            run.status, run.error = "failed", f"{type(e).__name__}: {e}"
        finally:
            ended.put(run)

    def finish(run: PlannedRun) -> None:
        if on_finish is not None:
            on_finish(run)

    def tick() -> None:
        if on_tick is not None:
            on_tick([(r, steps.get(r.key, "")) for r, _ in running.values()])

    try:
        while pending or running:
            waiting = []
            for run in pending:
                if any(d.status in ("failed", "blocked") for d in run.depends):
                    execute_run(run)  # blocked: names the dependencies that did not complete
                    finish(run)
                elif len(running) < jobs and all(d.status in DONE for d in run.depends):
                    thread = threading.Thread(target=work, args=(run,), name=f"run {run.label}")
                    thread.start()
                    running[run.key] = (run, thread)
                else:
                    waiting.append(run)
            pending = waiting
            if not running:  # nothing in flight, nothing startable: a dependency outside the plan
                for run in pending:
                    execute_run(run)
                    finish(run)
                break
            tick()
            try:
                done = ended.get(timeout=tick_s)
            except queue.Empty:
                continue
            while True:
                running.pop(done.key)[1].join()
                steps.pop(done.key, None)
                finish(done)
                try:
                    done = ended.get_nowait()
                except queue.Empty:
                    break
            tick()
    except BaseException:
        cancel.set()
        for _, thread in running.values():
            thread.join()
        raise


def _last_error(run_dir: Path) -> str:
    """The error run.json records, else the last line of the run's log."""
    try:
        err = json.loads((run_dir / "run.json").read_text()).get("error")
        if err:
            return str(err)
    except (OSError, ValueError):
        pass
    try:
        lines = [ln for ln in (run_dir / LOG_FILE).read_text().splitlines() if ln.strip()]
        return lines[-1] if lines else "no output"
    except OSError:
        return "no output"
