"""The Hydra launchers of ``conf/hydra/launcher`` compose with the scale's resources, runtime.threads
follows SLURM's CPUs per task, and every run writes its metadata (``run.json``).

Composition only, and runs of the ``hello`` / ``engine_check`` experiments on this machine; the
real SLURM cluster is tests/test_slurm_cluster.py (``make test-slurm``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import get_class
from omegaconf import OmegaConf

from tests.test_entrypoint import run_cli

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


def _launcher(*overrides: str, launcher: str = "slurm") -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"hydra/launcher={launcher}", "+exp=hello", *overrides],
            return_hydra_config=True,
        )
    # resolved against the whole config, as Hydra does when it instantiates the launcher
    out = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert isinstance(out, dict)
    return out


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["engine=cpu"], {"nodes": 1, "tasks_per_node": 1, "gpus_per_node": None, "cpus_per_task": 1}),
        (["engine=ddp"], {"nodes": 1, "tasks_per_node": 2, "gpus_per_node": None, "cpus_per_task": 1}),
        (["scale=paper", "engine=zero3"], {"tasks_per_node": 8, "gpus_per_node": 8, "mem_gb": 0}),
        (["scale=paper", "engine=zero3", "engine.num_nodes=2"], {"nodes": 2, "tasks_per_node": 8}),
        (["scale=paper", "engine=zero3", "scale.slurm.gpus_per_node=4"], {"tasks_per_node": 4}),
        (
            ["engine=ddp", "hydra.launcher.partition=gpu", "hydra.launcher.account=proj"],
            {"partition": "gpu", "account": "proj", "tasks_per_node": 2},
        ),
        (
            ["hydra.launcher.timeout_min=5", "hydra.launcher.constraint=a100", "hydra.launcher.mem_gb=8"],
            {"timeout_min": 5, "constraint": "a100", "mem_gb": 8},
        ),
    ],
)
def test_slurm_launcher_takes_its_resources_from_the_scale_and_engine(
    overrides: list[str], expected: dict[str, Any]
) -> None:
    params = _launcher(*overrides)
    assert params["_target_"].endswith("SlurmLauncher")
    get_class(params["_target_"])  # the plugin is installed
    assert params["name"] == "hello"
    for key, value in expected.items():
        assert params[key] == value, (overrides, key, params[key])
    for key in ("partition", "account", "constraint", "timeout_min", "mem_gb", "cpus_per_task"):
        assert key in params, key


@pytest.mark.filterwarnings(
    r"ignore:\s*'hydra/launcher/submitit_local' is validated against ConfigStore schema"
)
def test_submitit_local_launcher_composes() -> None:
    from dataclasses import fields

    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf

    params = _launcher("engine=ddp", launcher="submitit_local")
    assert params["_target_"] == LocalQueueConf._target_
    get_class(params["_target_"])
    assert set(params) == {f.name for f in fields(LocalQueueConf)}  # the plugin's keys, no more
    # one process per job: Fabric starts a ddp job's other ranks itself
    assert (params["tasks_per_node"], params["nodes"], params["timeout_min"]) == (1, 1, 60)


def _threads() -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["+exp=hello"]).runtime.threads


def test_threads_default_to_slurm_cpus_per_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T2I_THREADS", raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert _threads() == 2
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert _threads() == 3
    monkeypatch.setenv("T2I_THREADS", "1")  # set by the user: wins
    assert _threads() == 1


def test_slurm_job_reads_the_job_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from common.engine import slurm_job

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_job() is None
    for key, value in {
        "SLURM_JOB_ID": "42",
        "SLURM_ARRAY_JOB_ID": "40",
        "SLURM_ARRAY_TASK_ID": "2",
        "SLURM_PROCID": "1",
        "SLURM_CPUS_PER_TASK": "4",
    }.items():
        monkeypatch.setenv(key, value)
    job = slurm_job()
    assert job is not None
    assert {k: job[k] for k in ("job_id", "array_job_id", "array_task_id", "task_id", "cpus_per_task")} == {
        "job_id": "42",
        "array_job_id": "40",
        "array_task_id": "2",
        "task_id": "1",
        "cpus_per_task": "4",
    }


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI outside any SLURM job (the caller's SLURM_* variables dropped), plus ``env_extra``;
    without T2I_THREADS where ``env_extra`` sets SLURM_CPUS_PER_TASK."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(env_extra or {})
    if "SLURM_CPUS_PER_TASK" in env:
        env.pop("T2I_THREADS", None)
    return run_cli(*args, env=env)


def test_run_json_records_a_completed_and_a_failed_run(tmp_path: Path) -> None:
    ok = _run("+exp=hello", f"hydra.run.dir={tmp_path}/ok", "seed=3", "runtime.threads=1")
    assert ok.returncode == 0, ok.stderr
    meta = json.loads((tmp_path / "ok" / "run.json").read_text())
    assert (meta["status"], meta["exit_code"], meta["error"]) == ("completed", 0, None)
    assert (meta["exp_name"], meta["seed"], meta["threads"]) == ("hello", 3, 1)
    assert meta["hydra"]["mode"] == "RUN" and "seed=3" in meta["hydra"]["overrides"]
    assert meta["cluster"] is None and meta["slurm"] is None  # one local process
    assert meta["wall_s"] >= 0 and meta["finished_at"] >= meta["started_at"]

    bad = _run("+exp=hello", f"hydra.run.dir={tmp_path}/bad", "+task.no_such_parameter=1")
    assert bad.returncode != 0
    meta = json.loads((tmp_path / "bad" / "run.json").read_text())
    assert (meta["status"], meta["exit_code"]) == ("failed", 1)
    assert "no_such_parameter" in meta["error"]
    assert not (tmp_path / "bad" / "metrics.json").exists()


def test_run_json_records_lightnings_cluster_view_under_slurm_variables(tmp_path: Path) -> None:
    """A SLURM task as srun starts it (variables only; the real cluster: tests/test_slurm_cluster.py)."""
    slurm = {
        "SLURM_JOB_ID": "1234",
        "SLURM_NTASKS": "1",
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": "0",
        "SLURM_NODELIST": "node7",
        "SLURM_JOB_NAME": "engine_check",
        "SLURM_CPUS_PER_TASK": "3",  # not the default (2), not the tests' T2I_THREADS (1)
    }
    proc = _run("+exp=engine_check", f"hydra.run.dir={tmp_path}", env_extra=slurm)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["cluster"]["name"] == "slurm" and meta["cluster"]["environment"] == "SLURMEnvironment"
    assert meta["cluster"]["main_address"] == "node7" and meta["cluster"]["world_size"] == 1
    assert meta["slurm"]["job_id"] == "1234" and meta["slurm"]["cpus_per_task"] == "3"
    assert meta["threads"] == 3  # runtime.threads from the job's CPUs per task
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["ranks"][0]["cluster"] == "slurm" and metrics["ranks"][0]["slurm_job_id"] == "1234"
    assert metrics["max_weight_diff"] == 0.0 and metrics["loss_last"] < metrics["loss_first"]


def test_a_rank_launched_for_a_sweeps_job_runs_that_job_only() -> None:
    from experiments.rank_jobs import RANK_JOB_VARIABLE, job_command, launched_rank_argv

    overrides = job_command(
        ["+exp=engine_check", "engine=ddp", "seed=1"],
        ["hydra.sweep.dir=/tmp/sweep", "hydra.mode=MULTIRUN", "hydra/launcher=basic", "hydra.verbose=true"],
    )
    assert overrides == ["+exp=engine_check", "engine=ddp", "seed=1", "hydra.verbose=true"]
    job = json.dumps({"run_dir": '/tmp/sweep/1 "x"', "overrides": overrides})
    argv = ["run.py", "-m", "+exp=engine_check", "engine=ddp", "seed=0,1", "hydra.run.dir=elsewhere"]
    assert launched_rank_argv(argv, {RANK_JOB_VARIABLE: job, "LOCAL_RANK": "1"}) == [
        "run.py",
        *overrides,
        'hydra.run.dir="/tmp/sweep/1 \\"x\\""',
        "hydra.output_subdir=null",
        "hydra.job.name=train_ddp_process_1",
    ]
    assert launched_rank_argv(argv, {RANK_JOB_VARIABLE: job, "LOCAL_RANK": "0"}) is None  # the launcher
    assert launched_rank_argv(argv, {"LOCAL_RANK": "1"}) is None  # a single run's rank: Lightning's command
