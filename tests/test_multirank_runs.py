"""``python -m experiments.run`` with ``engine=ddp`` on one machine (2 gloo processes, the second
started by Fabric inside the task): rank 0 alone writes the run's files, and a local ``-m`` sweep
runs once, each job with its own ranks in its own directory.

The entry point runs as it is, under :mod:`tests.write_audit`, which records every file each
process opens for writing (the ranks Fabric launches included): a file written by rank 1, or by
two processes, shows in the record whatever its content.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import write_audit
from tests.common.engine._launch import REPO, worker_env

pytestmark = pytest.mark.distributed

RUN_FILES = ("config.yaml", "run.json", "metrics.json", "log.jsonl")


def audited_cli(tmp: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], write_audit.Writes]:
    """Run the entry point with ``args`` (threads 1), recording the writes under ``tmp``."""
    log = tmp / "audit"
    env = worker_env(write_audit.environment(tmp, log))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.write_audit", *args, "runtime.threads=1", "runtime.progress=false"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc, write_audit.read(log)


def assert_rank_zero_wrote(writes: write_audit.Writes, run_dir: Path) -> None:
    """Rank 1 ran in ``run_dir`` (its Hydra log is there) and wrote nothing else; each run file was
    written by one process, of rank 0."""
    assert writes.by_rank(1, run_dir) == ["train_ddp_process_1.log"]
    for name in RUN_FILES:
        writers = writes.writers(run_dir / name)
        assert len(writers) == 1 and {rank for _, rank in writers} == {0}, (name, writers)


def test_a_ddp_run_writes_its_files_from_rank_zero_only(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _, writes = audited_cli(tmp_path, "+exp=engine_check", "engine=ddp", f"hydra.run.dir={run_dir}")
    assert_rank_zero_wrote(writes, run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and [r["global_rank"] for r in metrics["ranks"]] == [0, 1]


def test_a_local_ddp_sweep_runs_each_job_once(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc, writes = audited_cli(
        tmp_path, "-m", "+exp=engine_check", "engine=ddp", "seed=0,1", f"hydra.sweep.dir={sweep}"
    )
    assert (proc.stdout + proc.stderr).count("Launching 2 jobs") == 1  # rank 1 never starts the sweep
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]
    assert len(writes.writers(sweep / "multirun.yaml")) == 1
    assert writes.by_rank(1, sweep) == ["0/train_ddp_process_1.log", "1/train_ddp_process_1.log"]
    launched = set()
    for job in (0, 1):
        run_dir = sweep / str(job)
        assert_rank_zero_wrote(writes, run_dir)
        assert f"seed: {job}\n" in (run_dir / "config.yaml").read_text()
        assert json.loads((run_dir / "metrics.json").read_text())["world_size"] == 2
        launched |= {pid for pid, _ in writes.writers(run_dir / "train_ddp_process_1.log")}
    assert len(launched) == 2  # each job started its own rank 1, for that job only
