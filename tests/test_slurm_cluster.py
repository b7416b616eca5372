"""Sweeps on a real one-node SLURM cluster, through the project's CLI and ``hydra/launcher=slurm``.

scripts/slurm_local.sh installs Debian's ``slurmctld slurmd slurm-client munge`` when they are
missing (apt-get, as root), writes a slurm.conf for this machine into a state directory under the
test's temporary folder (free ports, its own munge key and socket) and starts munged, slurmctld and
slurmd; the test then submits

* a 3-job Hydra multirun of ``hello`` (one SLURM array of three jobs, one task and one CPU each), and
* a 2-task ``engine_check`` job with ``engine=ddp``: two SLURM tasks that Lightning's SLURM
  environment joins into one gloo process group,

waits for them (the CLI blocks until submitit has every result), checks every job's outputs (run
directories, ``metrics.json``, ``run.json`` with the SLURM ids and Lightning's cluster view, the
exit state SLURM reports) and stops the daemons it started. It is skipped only when the packages
are missing and cannot be installed (not root, no apt, no network); ``make test-slurm`` runs it
(CI, after ``make test``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED"}
CANNOT_INSTALL = 3  # scripts/slurm_local.sh start: the packages are missing and cannot be installed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(
    command: str, state: Path, env: dict[str, str], timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), command, str(state)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a client of a freshly started cluster (SLURM_CONF set); the daemons this
    fixture started are stopped afterwards, also when starting them failed half-way."""
    state = tmp_path_factory.mktemp("slurm")
    ctld_port = _free_port()
    slurmd_port = _free_port()
    while slurmd_port == ctld_port:
        slurmd_port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
        "T2I_SLURM_CTLD_PORT": str(ctld_port),
        "T2I_SLURM_SLURMD_PORT": str(slurmd_port),
    }
    try:
        start = _script("start", state, env)
        if start.returncode == CANNOT_INSTALL:
            pytest.skip(f"SLURM packages missing and not installable here:\n{start.stderr[-2000:]}")
        assert start.returncode == 0, f"scripts/slurm_local.sh start failed:\n{start.stdout}\n{start.stderr}"
        assert f"SLURM_CONF={state}/slurm.conf" in start.stdout
        env["SLURM_CONF"] = str(state / "slurm.conf")
        sinfo = subprocess.run(["sinfo", "-h", "-o", "%T %c"], capture_output=True, text=True, env=env)
        assert sinfo.returncode == 0, sinfo.stderr
        node_state, cpus = sinfo.stdout.split()[:2]
        # two CPUs at least, or the 2-task job would wait for ever (Reason=PartitionConfig)
        assert node_state == "idle" and int(cpus) >= 2, sinfo.stdout
        yield env
    finally:
        pids = {
            name: (state / f"{name}.pid").read_text().strip()
            for name in ("munged", "slurmctld", "slurmd")
            if (state / f"{name}.pid").exists()
        }
        stop = _script("stop", state, env, timeout=300)
        assert stop.returncode == 0, stop.stderr
        for name, pid in pids.items():  # exactly the daemons the script started are gone
            assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) still running after stop"
        assert _script("status", state, env, timeout=60).returncode != 0


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m experiments.run -m hydra/launcher=slurm ...``: returns when every job has ended.
    T2I_THREADS is dropped so that runtime.threads comes from the jobs' CPUs per task."""
    job_env = {k: v for k, v in env.items() if k != "T2I_THREADS"}
    job_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", "-m", "hydra/launcher=slurm", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=job_env,
    )


def _sweep_dir(out: Path, exp: str) -> Path:
    (sweep,) = (out / "multirun" / exp).iterdir()
    return sweep


def _job_state(env: dict[str, str], job_id: str, wait_s: float = 120) -> tuple[str, str]:
    """(JobState, ExitCode) of a job once it has ended, from the controller (which keeps ended jobs
    for MinJobAge). submitit returns as soon as the results are written, while the job's processes
    may still be exiting, so this waits until the state is no longer a live one."""
    deadline = time.monotonic() + wait_s
    while True:
        proc = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
        state = re.search(r"\bJobState=(\S+)", proc.stdout)
        code = re.search(r"\bExitCode=(\S+)", proc.stdout)
        assert state and code, proc.stdout
        if state.group(1) not in LIVE_STATES or time.monotonic() > deadline:
            return state.group(1), code.group(1)
        time.sleep(1)


def _read(path: Path) -> Any:
    assert path.is_file(), f"missing {path}"
    return json.loads(path.read_text())


def test_sweep_and_ddp_job_on_slurm(cluster: dict[str, str], tmp_path: Path) -> None:
    env = {**cluster, "T2I_CACHE_DIR": str(tmp_path / "cache")}

    # --- a 3-job multirun: one SLURM array, one job per seed ---
    out = tmp_path / "sweep"
    proc = _cli(env, "+exp=hello", "seed=0,1,2", f"paths.output_dir={out}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    sweep = _sweep_dir(out, "hello")
    assert (sweep / "multirun.yaml").is_file()
    script = next((sweep / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "--array=0-2" in script and "--cpus-per-task=1" in script and "--ntasks-per-node=1" in script
    job_ids, array_ids = set(), set()
    for num in range(3):
        run_dir = sweep / str(num)
        assert _read(run_dir / "metrics.json") == {"message": "hello", "scale": "tiny", "seed": num}
        assert (run_dir / "config.yaml").is_file() and (run_dir / "log.jsonl").is_file()
        meta = _read(run_dir / "run.json")
        assert (meta["status"], meta["exit_code"], meta["seed"]) == ("completed", 0, num), meta
        assert meta["hydra"]["mode"] == "MULTIRUN" and meta["hydra"]["num"] == num
        slurm = meta["slurm"]
        assert slurm is not None and slurm["array_task_id"] == str(num), meta
        assert meta["hydra"]["id"] == f"{slurm['array_job_id']}_{num}"  # submitit's job id
        assert slurm["job_name"] == "hello" and slurm["ntasks"] == "1" and slurm["cpus_per_task"] == "1"
        assert meta["threads"] == 1  # runtime.threads from SLURM_CPUS_PER_TASK (T2I_THREADS unset)
        cluster_view = meta["cluster"]
        assert (cluster_view["name"], cluster_view["environment"]) == ("slurm", "SLURMEnvironment")
        assert (cluster_view["world_size"], cluster_view["global_rank"]) == (1, 0)
        assert _job_state(env, slurm["job_id"]) == ("COMPLETED", "0:0")
        job_ids.add(slurm["job_id"])
        array_ids.add(slurm["array_job_id"])
    assert len(job_ids) == 3 and len(array_ids) == 1

    # --- one job of two SLURM tasks, joined by Lightning's SLURM environment (gloo) ---
    out = tmp_path / "ddp"
    proc = _cli(env, "+exp=engine_check", "engine=ddp", f"paths.output_dir={out}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    sweep = _sweep_dir(out, "engine_check")
    script = next((sweep / ".submitit").glob("*/*_submission.sh")).read_text()
    assert "--ntasks-per-node=2" in script and "--cpus-per-task=1" in script
    run_dir = sweep / "0"
    metrics = _read(run_dir / "metrics.json")
    assert (metrics["engine"], metrics["world_size"]) == ("ddp", 2)
    ranks = metrics["ranks"]
    assert [r["global_rank"] for r in ranks] == [0, 1]
    assert [r["slurm_task_id"] for r in ranks] == ["0", "1"]
    assert {(r["cluster"], r["environment"], r["world_size"]) for r in ranks} == {
        ("slurm", "SLURMEnvironment", 2)
    }
    assert len({r["slurm_job_id"] for r in ranks}) == 1 and len({r["pid"] for r in ranks}) == 2
    assert all(r["threads"] == 1 for r in ranks)
    # averaged gradients over the two ranks' halves = one process on the whole set
    assert metrics["max_weight_diff"] < 1e-5
    assert metrics["loss_last"] < metrics["loss_first"]
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(metrics["steps"]))  # rank 0 alone logs
    meta = _read(run_dir / "run.json")  # rank 0's
    assert (meta["status"], meta["exit_code"]) == ("completed", 0)
    assert meta["slurm"]["job_id"] == ranks[0]["slurm_job_id"] and meta["slurm"]["ntasks"] == "2"
    assert meta["cluster"]["name"] == "slurm" and meta["cluster"]["world_size"] == 2
    assert _job_state(env, meta["slurm"]["job_id"]) == ("COMPLETED", "0:0")
    # both tasks ran the job: submitit keeps one log per task
    job = meta["hydra"]["id"]
    assert {p.name for p in (sweep / ".submitit" / job).glob("*_log.out")} == {
        f"{job}_0_log.out",
        f"{job}_1_log.out",
    }
