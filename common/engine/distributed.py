"""Rank helpers and cluster detection (through Lightning's cluster environments).

The rank helpers read ``torch.distributed`` when it is initialised and fall back to a single
process otherwise, so library code can call them unconditionally. :func:`detect_cluster` asks
Lightning's environments in the order Fabric does (TorchElastic, SLURM, LSF, MPI, then the plain
local/env-var environment) and reports what the chosen one sees, without side effects.
:func:`slurm_job` reads the SLURM job's identity (job, array and task ids, resources) from the
variables SLURM sets, without importing Lightning.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

RANK_ZERO_WAIT = timedelta(days=365)
"""How long the other ranks wait for rank 0 in :func:`on_rank_zero` (a paper-scale export or
meta-evaluation may run for hours, far beyond the process group's usual 30-minute timeout)."""


def is_distributed() -> bool:
    """True when ``torch.distributed`` is initialised with more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def global_rank() -> int:
    """This process's rank among all processes (0 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def local_rank() -> int:
    """This process's rank on its node (``LOCAL_RANK``, ``SLURM_LOCALID``, else 0)."""
    for key in ("LOCAL_RANK", "SLURM_LOCALID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def is_global_zero() -> bool:
    """True on the process that writes files and logs."""
    return global_rank() == 0


def barrier() -> None:
    """Wait for every process (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def reduce_over_ranks(fabric: Any, metrics: Mapping[str, float], op: str = "mean") -> dict[str, float]:
    """Each of ``metrics`` reduced over the ranks with ``op`` (``mean``, ``sum``, ``max``...), in
    float64, by one all-reduce through ``fabric``; every rank gets the same numbers. Collective:
    every rank calls it with the same keys. In one process the values come back as floats."""
    if fabric.world_size == 1:
        return {k: float(v) for k, v in metrics.items()}
    keys = sorted(metrics)
    local = torch.tensor([float(metrics[k]) for k in keys], dtype=torch.float64, device=fabric.device)
    reduced = fabric.all_reduce(local, reduce_op=op).tolist()
    return {k: float(v) for k, v in zip(keys, reduced, strict=True)}


_INSIDE = False
"""True on rank 0 while it runs the work of an :func:`on_rank_zero` (nested calls run directly)."""


class RankZeroError(RuntimeError):
    """Raised on the other ranks when the work :func:`on_rank_zero` ran on rank 0 failed there."""


def on_rank_zero(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on global rank 0 only; every other rank waits for it and returns the
    same result (a copy, sent over ``torch.distributed``; it must pickle).

    The one way a run writes its files, exports and evaluations once under several processes:
    rank 0 does the work, the others wait on a barrier for it, so no rank runs ahead (e.g. reads
    a directory before it is complete) and every rank reports the same numbers. The wait runs
    over a gloo group of its own with a timeout of :data:`RANK_ZERO_WAIT`, not the default group's
    (30 minutes under Lightning), so a long meta-evaluation on rank 0 does not time the others
    out. When ``fn`` raises on rank 0, the others raise :class:`RankZeroError` naming the error.
    Collective: every rank must call it, in the same order. In one process it just calls ``fn``,
    and so it does inside another ``on_rank_zero`` (rank 0 is then alone: the others wait
    outside), so functions that guard themselves with it compose. A rank that dies without the
    launcher stopping the others (SLURM without ``--kill-on-bad-exit``, a bare torchrun) leaves
    them waiting up to that timeout: launch with a launcher that stops all ranks on a failure.
    """
    global _INSIDE
    if _INSIDE or not is_distributed():
        return fn(*args, **kwargs)
    group = dist.new_group(backend="gloo", timeout=RANK_ZERO_WAIT)
    box: list[Any] = [None]
    try:
        if global_rank() == 0:
            _INSIDE = True
            try:
                result = fn(*args, **kwargs)
                pickle.dumps(result)  # a result that cannot be sent fails here, reaching the others
            except BaseException as err:
                box[0] = ("error", f"{type(err).__name__}: {err}")
                dist.broadcast_object_list(box, src=0, group=group)
                raise
            finally:
                _INSIDE = False
            box[0] = ("ok", result)
        dist.broadcast_object_list(box, src=0, group=group)
    finally:
        dist.destroy_process_group(group)
    status, value = box[0]
    if status == "error":
        name = getattr(fn, "__qualname__", repr(fn))
        raise RankZeroError(f"rank 0 failed in {name}: {value}")
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ClusterInfo:
    """What the detected cluster environment says about this process."""

    name: str  # "torchelastic", "slurm", "lsf", "mpi" or "local"
    environment: str  # Lightning's class name
    global_rank: int
    local_rank: int
    node_rank: int
    world_size: int
    main_address: str
    main_port: int | None
    creates_processes_externally: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for logs and JSON)."""
        return asdict(self)


def detect_cluster() -> ClusterInfo:
    """Detect the cluster environment Fabric would use, and the ranks and world size it reports.

    SLURM is detected by Lightning's ``SLURMEnvironment.detect()`` (``srun`` sets SLURM_NTASKS;
    jobs named ``bash`` or ``interactive`` count as interactive and are not treated as SLURM).
    Environment variables that Lightning's environments set as a side effect (MASTER_ADDR,
    MASTER_PORT) are restored, so calling this changes nothing.
    """
    from lightning.fabric.plugins.environments import (
        LightningEnvironment,
        LSFEnvironment,
        MPIEnvironment,
        SLURMEnvironment,
        TorchElasticEnvironment,
    )

    saved = {key: os.environ.get(key) for key in ("MASTER_ADDR", "MASTER_PORT")}
    try:
        for name, env_type in (
            ("torchelastic", TorchElasticEnvironment),
            ("slurm", SLURMEnvironment),
            ("lsf", LSFEnvironment),
            ("mpi", MPIEnvironment),
        ):
            if env_type.detect():
                env = env_type()
                return ClusterInfo(
                    name=name,
                    environment=env_type.__name__,
                    global_rank=env.global_rank(),
                    local_rank=env.local_rank(),
                    node_rank=env.node_rank(),
                    world_size=env.world_size(),
                    main_address=env.main_address,
                    main_port=env.main_port,
                    creates_processes_externally=env.creates_processes_externally,
                )
        env = LightningEnvironment()
        port = os.environ.get("MASTER_PORT")
        if dist.is_available() and dist.is_initialized():
            rank, size = dist.get_rank(), dist.get_world_size()
        else:  # torchrun-style variables, or Lightning's launcher (which sets LOCAL_RANK, WORLD_SIZE)
            rank = int(os.environ.get("RANK", env.local_rank()))
            size = int(os.environ.get("WORLD_SIZE", 1))
        return ClusterInfo(
            name="local",
            environment=LightningEnvironment.__name__,
            global_rank=rank,
            local_rank=env.local_rank(),
            node_rank=env.node_rank(),
            world_size=size,
            main_address=env.main_address,
            main_port=int(port) if port else None,
            creates_processes_externally=env.creates_processes_externally,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


SLURM_VARIABLES = {
    "job_id": "SLURM_JOB_ID",
    "array_job_id": "SLURM_ARRAY_JOB_ID",
    "array_task_id": "SLURM_ARRAY_TASK_ID",
    "job_name": "SLURM_JOB_NAME",
    "partition": "SLURM_JOB_PARTITION",
    "account": "SLURM_JOB_ACCOUNT",
    "cluster_name": "SLURM_CLUSTER_NAME",
    "nodelist": "SLURM_JOB_NODELIST",
    "nnodes": "SLURM_JOB_NUM_NODES",
    "ntasks": "SLURM_NTASKS",
    "ntasks_per_node": "SLURM_NTASKS_PER_NODE",
    "cpus_per_task": "SLURM_CPUS_PER_TASK",
    "gpus_on_node": "SLURM_GPUS_ON_NODE",
    "mem_per_node_mb": "SLURM_MEM_PER_NODE",
    "step_id": "SLURM_STEP_ID",
    "task_id": "SLURM_PROCID",  # the task (rank) in the job step
    "local_task_id": "SLURM_LOCALID",
    "node_id": "SLURM_NODEID",
    "submit_dir": "SLURM_SUBMIT_DIR",
}
"""Field of :func:`slurm_job` -> the variable SLURM sets it from."""


def slurm_job() -> dict[str, str] | None:
    """The SLURM job this process runs in (the fields of :data:`SLURM_VARIABLES` that are set, as
    strings), or ``None`` outside a SLURM job (no ``SLURM_JOB_ID``). Reads the environment only."""
    if not os.environ.get("SLURM_JOB_ID"):
        return None
    return {key: os.environ[var] for key, var in SLURM_VARIABLES.items() if var in os.environ}
