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
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.reproduction.spec import Declarations, RunSpec, TableSpec

__all__ = [
    "KEY_FILE",
    "LOG_FILE",
    "NOT_IN_RUN_KEY",
    "PlannedRun",
    "compose_run",
    "execute_run",
    "plan_runs",
    "run_key",
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
                    run.status = "reuse" if is_complete(run.run_dir, key) else "run"
                    by_key[key] = run
                    order.append(run)
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


def execute_run(
    run: PlannedRun,
    *,
    python: str = sys.executable,
    timeout_s: float | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> bool:
    """Run ``run`` in a subprocess (module docstring); sets its status, error and wall time."""
    blocked = [d for d in run.depends if d.status not in ("reuse", "completed")]
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
    with (run.run_dir / LOG_FILE).open("w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(2.0):
                if on_progress is not None:
                    on_progress(_last_step(run.run_dir))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
            run.error = f"stopped after --timeout {timeout_s:g} s"
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            stop.set()
            watcher.join()
    run.wall_s = round(time.monotonic() - start, 1)
    if code == 0 and is_complete(run.run_dir, run.key):
        run.status = "completed"
        return True
    run.status = "failed"
    if run.error is None:
        run.error = f"exit code {code}: {_last_error(run.run_dir)}"
    return False


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
