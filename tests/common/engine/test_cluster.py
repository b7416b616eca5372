"""Cluster detection through Lightning's environments, in a subprocess with SLURM / torchrun variables.

One fresh interpreter runs every scenario in turn (setting exactly that scenario's variables each
time), which keeps the cost to one import of Lightning.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.common.engine._launch import REPO, worker_env

SLURM = {
    "SLURM_NTASKS": "4",
    "SLURM_NTASKS_PER_NODE": "2",
    "SLURM_NNODES": "2",
    "SLURM_PROCID": "3",
    "SLURM_LOCALID": "1",
    "SLURM_NODEID": "1",
    "SLURM_JOB_ID": "987654",
    "SLURM_JOB_NAME": "t2i-critics",
    "SLURM_NODELIST": "gpu[07-08]",
}
SCENARIOS: dict[str, dict[str, str]] = {
    "slurm": SLURM,
    "slurm-interactive": {**SLURM, "SLURM_JOB_NAME": "interactive"},  # salloc shell: not SLURM
    "torchrun": {
        "TORCHELASTIC_RUN_ID": "abc",
        "RANK": "5",
        "LOCAL_RANK": "1",
        "WORLD_SIZE": "8",
        "GROUP_RANK": "2",
        "MASTER_ADDR": "10.0.0.1",
        "MASTER_PORT": "29500",
    },
    "plain": {},
}

PROBE = """
import json, os, sys
from common.engine import build_fabric, detect_cluster
from tests.common.engine._workers import engine_cfg
scenarios = json.loads(sys.argv[1])
base = dict(os.environ)
results = {}
for name, env in scenarios.items():
    os.environ.clear()
    os.environ.update(base)
    os.environ.update(env)
    info = detect_cluster().to_dict()
    info["master_addr_after"] = os.environ.get("MASTER_ADDR")
    if info["name"] == "slurm":
        fabric = build_fabric(engine_cfg("ddp", accelerator="cpu", devices=2, num_nodes=2))
        info["fabric"] = [type(fabric._connector.cluster_environment).__name__, fabric.global_rank,
                          fabric.world_size, fabric.node_rank, fabric.local_rank]
    results[name] = info
print("RESULT " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def detected() -> dict[str, dict[str, Any]]:
    """detect_cluster() under every scenario, from a fresh interpreter with a clean environment."""
    clean = worker_env()
    clean.pop("MASTER_ADDR", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(SCENARIOS)],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


EXPECTED: dict[str, dict[str, Any]] = {
    "slurm": {
        "name": "slurm",
        "environment": "SLURMEnvironment",
        "global_rank": 3,
        "local_rank": 1,
        "node_rank": 1,
        "world_size": 4,
        "main_address": "gpu07",  # first host of the node list
        "main_port": 15000 + 7654,  # Lightning's rule: last 4 digits of the job id + 15000
        "creates_processes_externally": True,
        "master_addr_after": None,  # detection leaves the environment as it was
        "fabric": ["SLURMEnvironment", 3, 4, 1, 1],  # and Fabric built from conf/engine/ddp.yaml agrees
    },
    "slurm-interactive": {"name": "local", "global_rank": 0, "world_size": 1},
    "torchrun": {
        "name": "torchelastic",
        "global_rank": 5,
        "local_rank": 1,
        "node_rank": 2,
        "world_size": 8,
        "main_address": "10.0.0.1",
        "main_port": 29500,
        "master_addr_after": "10.0.0.1",
    },
    "plain": {"name": "local", "global_rank": 0, "local_rank": 0, "world_size": 1, "main_port": None},
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_detect_cluster(detected: dict[str, dict[str, Any]], scenario: str) -> None:
    info = detected[scenario]
    assert {k: info[k] for k in EXPECTED[scenario]} == EXPECTED[scenario]
