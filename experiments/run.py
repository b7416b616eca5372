"""The one entry point: ``python -m experiments.run +exp=<name> [overrides...]``.

Each ``conf/exp/<name>.yaml`` names a task function (``task._target_``) and its parameters. The
task runs with the composed config and a :class:`common.runtime.RunContext`; its return value is
written to ``<run_dir>/metrics.json`` and the resolved config to ``<run_dir>/config.yaml``. What it
logs goes to ``<run_dir>/log.jsonl`` and, with ``logger=wandb``, to an offline wandb run in
``<run_dir>/wandb/`` (:mod:`common.tracking`). ``<run_dir>/run.json`` is the run's metadata
(:func:`run_metadata`): where and how it ran (host, threads, the Hydra job, the cluster environment
Lightning detects and the SLURM job ids) and how it ended (status, exit code, wall time).
Without ``+exp`` (or with an unknown one) the list of experiments is printed and the exit code is 2.

Several processes (``engine=ddp`` / ``zero3``, launched by Fabric inside the task, or by SLURM /
torchrun): every rank runs the task, but only rank 0 writes the run's files (config.yaml,
run.json, metrics.json, the log); the others wait for metrics.json
(:func:`common.engine.on_rank_zero`). Under ``-m`` each job's ranks run that job only
(:mod:`experiments.rank_jobs`): one sweep, each job's files once.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.config import ActionableError, InputError, plain, register_defaults, validate_tree
from common.jsonio import write_json_atomic
from common.presets import conf_root
from experiments.rank_jobs import RANK_JOB_VARIABLE, launched_rank_argv, sweep_job

CONF_DIR = conf_root()
"""The Hydra config tree (``conf/``, found by :mod:`common.presets`)."""
METADATA_FILE = "run.json"
SCHEMA_MATCHING_NOTICE = r"\s*'hydra/launcher/submitit_local' is validated against ConfigStore schema"
SRUN_HINT = r"The `srun` command is available on your system but is not used"
"""Lightning's hint on a machine with SLURM's tools, outside a SLURM job: a local run is meant."""

CLUSTER_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_NTASKS",
    "WORLD_SIZE",
    "TORCHELASTIC_RUN_ID",
    "LSB_JOBID",
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
)
"""Variables that a cluster or a process launcher sets (besides the rank variables of
:data:`common.tracking.RANK_VARIABLES`): with any of them set, ``run.json`` asks Lightning which
cluster environment the run is in; without, the run is one local process and Lightning (seconds to
import) is not consulted."""


def available_experiments() -> dict[str, str]:
    """Experiment name -> the start of its YAML's header comment: its lines joined up to the first
    that ends with a full stop (blank comment lines skipped)."""
    out: dict[str, str] = {}
    for path in sorted((CONF_DIR / "exp").glob("*.yaml")):
        words: list[str] = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            if "@package" in line or not line.lstrip("# ").strip():
                continue
            words.append(line.lstrip("# ").strip())
            if words[-1].endswith("."):
                break
        out[path.stem] = " ".join(words)
    return out


def requested_experiments(argv: list[str]) -> list[str] | None:
    """The experiment names in ``+exp=a`` / ``exp=a,b`` arguments, or None if absent."""
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if sep and key == "exp":
            return [v.strip() for v in value.split(",") if v.strip()]
    return None


def usage(problem: str) -> str:
    lines = [problem, "", "Usage: python -m experiments.run +exp=<name> [key=value ...]", "", "Experiments:"]
    exps = available_experiments()
    width = max((len(n) for n in exps), default=0)
    lines += [f"  {name.ljust(width)}  {desc}" for name, desc in exps.items()]
    return "\n".join(lines)


def cluster_environment() -> dict[str, Any] | None:
    """Lightning's view of the cluster (:func:`common.engine.detect_cluster`: environment, ranks,
    world size, main address) when a launcher or cluster variable is set, else ``None`` (a single
    local process)."""
    # lazy: common.tracking pulls in scipy (~2.8 s); the CLI must start fast for its usage path
    from common.tracking import RANK_VARIABLES

    if not any(os.environ.get(key) for key in (*RANK_VARIABLES, *CLUSTER_VARIABLES)):
        return None
    # lazy: common.engine pulls in torch + lightning (~3.3 s), only needed under a launcher or cluster
    from common.engine import detect_cluster

    return detect_cluster().to_dict()


def run_metadata(cfg: Any, *, hydra: Any = None, threads: int | None = None) -> dict[str, Any]:
    """The metadata ``run.json`` starts with: the experiment, host and process, torch threads, the
    Hydra job (mode, number, id, overrides), Lightning's cluster environment
    (:func:`cluster_environment`) and the SLURM job (:func:`common.engine.slurm_job`: job, array
    and task ids, resources; ``None`` outside SLURM). :func:`execute` adds how the run ended."""
    from omegaconf import OmegaConf

    # lazy: common.engine pulls in torch + lightning (~3.3 s); the CLI must start fast for its usage path
    from common.engine import slurm_job

    job = None
    if hydra is not None:
        overrides = OmegaConf.select(hydra, "overrides.task", default=None)
        mode = OmegaConf.select(hydra, "mode", default=None)
        job = {
            "mode": getattr(mode, "name", mode),  # RUN or MULTIRUN
            "num": OmegaConf.select(hydra, "job.num", default=None),
            "id": OmegaConf.select(hydra, "job.id", default=None),
            "overrides": list(overrides) if overrides is not None else [],
        }
    return {
        "exp_name": str(OmegaConf.select(cfg, "exp_name", default="")),
        "seed": OmegaConf.select(cfg, "seed", default=None),
        "status": "running",
        "exit_code": None,
        "error": None,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "finished_at": None,
        "wall_s": None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": sys.executable,
        "threads": threads,
        "hydra": job,
        "cluster": cluster_environment(),
        "slurm": slurm_job(),
    }


def run_task(cfg: Any) -> dict[str, Any]:
    """Run the task named by ``cfg.task`` inside the current Hydra run directory."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        with sweep_job(hydra_cfg, run_dir):
            return execute(cfg, run_dir, hydra=hydra_cfg)
    except ActionableError as e:  # the message names the cause and the fix: no traceback (run.json has it)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {e}", file=sys.stderr)
        if hydra_cfg.mode == RunMode.MULTIRUN:  # one failed job of a sweep: the others still run
            raise
        sys.exit(2)


def execute(cfg: Any, run_dir: Path, *, hydra: Any = None) -> dict[str, Any]:
    """Run ``cfg.task`` in ``run_dir``: config.yaml, run.json, the task with its logger
    (``conf/logger``; a wandb run is finished even when the task raises), metrics.json, and run.json
    again with how the run ended (also after a crash). ``hydra``: the job's Hydra config (names the
    wandb run and its sweep group; its job number and overrides go to run.json), if any. Only
    rank 0 writes config.yaml, run.json and metrics.json (the other ranks of a distributed task
    wait until metrics.json is written and return rank 0's metrics). A missing (``???``) value is
    an error naming its key, and every node of ``cfg`` that names its dataclass is checked
    (:func:`common.config.validate_tree`), so a wrong value fails with its key path before anything
    runs."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    # lazy: common.engine pulls in torch (~1 s); the CLI must start fast for its usage path
    from common.engine import on_rank_zero

    # lazy: runtime (omegaconf) and tracking (scipy), ~3 s; the CLI must start fast for its usage path
    from common.runtime import (
        RunContext,
        RunSettings,
        save_resolved_config,
        seed_everything,
        set_threads,
    )
    from common.tracking import RunLogger, is_rank0

    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:  # a `???` value: one the user must give (a data path of conf/corpus, ...)
        raise InputError(
            f"no value for {', '.join(missing)} (??? in the config); set it, e.g. {missing[0]}=..."
        )
    validate_tree(cfg)
    start = time.monotonic()
    if is_rank0():  # from the launcher's variables: the task has not started the process group yet
        save_resolved_config(cfg, run_dir)
    settings = RunSettings.from_config(cfg)  # what library code may know of the run, built once
    threads = set_threads(settings.threads)
    seed_everything(int(cfg.seed))
    meta = run_metadata(cfg, hydra=hydra, threads=threads) if is_rank0() else None
    if meta is not None:
        write_json_atomic(run_dir / METADATA_FILE, meta)
    logger = RunLogger.start(
        run_dir, logger=plain(cfg.get("logger")), exp_name=cfg.get("exp_name"), config=cfg, hydra=hydra
    )
    exit_code = 1
    try:
        ctx = RunContext(run_dir=run_dir, cfg=cfg, seed=int(cfg.seed), logger=logger, settings=settings)
        task = instantiate(cfg.task, _partial_=True)
        metrics = task(cfg=cfg, ctx=ctx) or {}
        metrics = on_rank_zero(_write_metrics, run_dir, metrics)
        logger.summary(metrics)
        exit_code = 0
    except BaseException as e:
        if meta is not None:
            meta["error"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        logger.finish(exit_code)
        if meta is not None:
            meta.update(
                status="completed" if exit_code == 0 else "failed",
                exit_code=exit_code,
                finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
                wall_s=round(time.monotonic() - start, 3),
            )
            write_json_atomic(run_dir / METADATA_FILE, meta)
    print(f"[{cfg.exp_name}] run directory: {run_dir}")
    return metrics


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """``<run_dir>/metrics.json`` (rank 0, :func:`execute`); returns ``metrics``."""
    write_json_atomic(run_dir / "metrics.json", metrics)
    return metrics


def main() -> None:
    rank_argv = launched_rank_argv(sys.argv)
    if rank_argv is not None:  # a rank that Fabric launched for one job of a sweep: that job only
        sys.argv[:] = rank_argv
        os.environ.pop(RANK_JOB_VARIABLE)  # read: what this job starts is not that job again
    names = requested_experiments(sys.argv[1:])
    known = available_experiments()
    if names is None:
        print(usage("No experiment chosen."), file=sys.stderr)
        sys.exit(2)
    unknown = [n for n in names if n not in known]
    if unknown:
        print(usage(f"Unknown experiment(s): {', '.join(unknown)}."), file=sys.stderr)
        sys.exit(2)

    import warnings

    import hydra

    # conf/hydra/launcher/submitit_local.yaml replaces the plugin's config of that name (and is
    # checked against it, as Hydra does for a file named like a stored schema); the notice that
    # this matching is deprecated says nothing to the user
    warnings.filterwarnings("ignore", message=SCHEMA_MATCHING_NOTICE, category=UserWarning)
    if not os.environ.get("SLURM_JOB_ID"):  # inside a SLURM job the hint may matter: kept
        warnings.filterwarnings("ignore", message=SRUN_HINT)
    register_defaults()  # the dataclass defaults nodes the YAML pulls in (common.config)
    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(run_task)()


if __name__ == "__main__":
    main()
