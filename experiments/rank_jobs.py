"""One Hydra job per rank when Lightning's process launcher starts the ranks of a sweep's job.

With ``engine=ddp`` on one machine, ``fabric.launch()`` inside a task starts the other ranks by
running the command line again (``sys.argv``) with ``LOCAL_RANK`` set. For a single run that is
right (Lightning adds ``hydra.run.dir=<the run's directory>``), but under ``-m`` the command line
is the whole sweep: rank 1 would start the sweep again (in its own sweep directory, writing
every job's files a second time), and only its first job would meet rank 0's.

So, around each job of a multirun, :func:`sweep_job` puts the job's own command (its overrides
and run directory) into :data:`RANK_JOB_VARIABLE`, which the launched ranks inherit;
:func:`launched_rank_argv` (called by :func:`experiments.run.main` before Hydra starts) turns a
launched rank's command line into exactly that one job, a plain run in the parent's job
directory (Hydra's ``.hydra/`` not written again, its log in ``train_ddp_process_<rank>.log``).
After the job, the launching process leaves the process group and restores the variables the
launcher set, so the next job of the sweep starts its own ranks.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["RANK_JOB_VARIABLE", "job_command", "launched_rank_argv", "sweep_job"]

RANK_JOB_VARIABLE = "T2I_RANK_JOB"
"""Set by the launching process for the duration of a sweep's job: JSON ``{"run_dir", "overrides"}``."""

LAUNCHER_VARIABLES = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "OMP_NUM_THREADS",
)
"""What Lightning's process launcher sets in the launching process (restored after each job)."""

SWEEP_ONLY = ("hydra.sweep", "hydra.run", "hydra.mode", "hydra/launcher", "hydra.launcher", "hydra/sweeper")
SWEEP_ONLY += ("hydra.sweeper", "hydra.job.name", "hydra.output_subdir", "hydra.job.num", "hydra.job.id")
"""Hydra overrides of the sweep itself (where and how it runs its jobs), not of one job."""


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def job_command(task_overrides: Sequence[str], hydra_overrides: Sequence[str]) -> list[str]:
    """A job's overrides as a plain run needs them: the task's, and the Hydra ones that are not
    about the sweep (:data:`SWEEP_ONLY`)."""
    kept = [o for o in hydra_overrides if not _key(o).startswith(SWEEP_ONLY)]
    return [*task_overrides, *kept]


def _quoted(path: str) -> str:
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def launched_rank_argv(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The command line of a rank that Lightning's launcher started for a sweep's job: the job's
    overrides, its run directory, no ``.hydra/`` output; ``None`` in any other process (rank 0,
    a single run's ranks, SLURM / torchrun ranks), whose command line stays as it is."""
    env = os.environ if environ is None else environ
    job, local = env.get(RANK_JOB_VARIABLE), env.get("LOCAL_RANK", "").strip()
    if not job or local in ("", "0"):
        return None
    spec = json.loads(job)
    return [
        argv[0],
        *spec["overrides"],
        f"hydra.run.dir={_quoted(spec['run_dir'])}",
        "hydra.output_subdir=null",
        f"hydra.job.name=train_ddp_process_{local}",
    ]


def _is_multirun(hydra_cfg: Any) -> bool:
    from omegaconf import OmegaConf

    mode = OmegaConf.select(hydra_cfg, "mode", default=None)
    return str(getattr(mode, "name", mode)) == "MULTIRUN"


@contextlib.contextmanager
def sweep_job(hydra_cfg: Any, run_dir: Any) -> Iterator[None]:
    """Around one job of a multirun in the process Hydra runs it in (see the module docstring):
    the job's command for the ranks the task's Fabric launches, and afterwards, if this process
    launched them, the process group left and the launcher's variables restored. Any other job
    (a single run, a rank that was itself launched): nothing."""
    if hydra_cfg is None or not _is_multirun(hydra_cfg) or os.environ.get("LOCAL_RANK"):
        yield
        return
    from omegaconf import OmegaConf

    saved = {key: os.environ.get(key) for key in (*LAUNCHER_VARIABLES, RANK_JOB_VARIABLE)}
    overrides = job_command(
        list(OmegaConf.select(hydra_cfg, "overrides.task", default=[]) or []),
        list(OmegaConf.select(hydra_cfg, "overrides.hydra", default=[]) or []),
    )
    os.environ[RANK_JOB_VARIABLE] = json.dumps({"run_dir": str(run_dir), "overrides": overrides})
    try:
        yield
    finally:
        if os.environ.get("LOCAL_RANK") is not None:  # the task's Fabric launched ranks from here
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
