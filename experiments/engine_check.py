"""A check of the engine, the launcher and the cluster, not an experiment of the papers.

``python -m experiments.run +exp=engine_check engine=ddp`` trains a linear model for a few SGD
steps through Lightning Fabric built from ``cfg.engine`` (:func:`common.engine.build_fabric`), on a
fixed regression set that the ranks split between them, and reports the world it ran in. With
gradients averaged across ranks, the weights after the last step equal those of one process on
the whole set, which every rank recomputes without the engine: ``max_weight_diff`` (float32 round
off, ~1e-7, when the ranks agree). Every rank returns the same metrics (the ranks' views are
gathered); rank 0 writes ``metrics.json`` (:func:`experiments.run.execute`).

Under SLURM (``hydra/launcher=slurm``, one task per rank) Fabric joins the tasks through Lightning's
SLURM environment; on one machine ``fabric.launch()`` starts the other ranks itself.
"""

from __future__ import annotations

import copy
import os
import socket
from typing import Any

from omegaconf import DictConfig

from common.engine import build_fabric, detect_cluster, setup_model_and_optimizer, slurm_job
from common.runtime import RunContext


def _data(seed: int, rows: int, features: int) -> tuple[Any, Any]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=gen)
    w = torch.randn(features, 1, generator=gen)
    y = x @ w + 0.1 * torch.randn(rows, 1, generator=gen)
    return x, y


def _gather(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (``[obj]`` in one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def run(
    cfg: DictConfig,
    ctx: RunContext,
    steps: int = 5,
    rows_per_rank: int = 8,
    features: int = 4,
    lr: float = 0.1,
) -> dict[str, Any]:
    import torch

    fabric = build_fabric(cfg.engine)
    fabric.launch()
    rank, world = fabric.global_rank, fabric.world_size
    x, y = _data(ctx.seed, rows_per_rank * world, features)
    mine = slice(rank * rows_per_rank, (rank + 1) * rows_per_rank)

    torch.manual_seed(ctx.seed)
    model = torch.nn.Linear(features, 1)
    reference = copy.deepcopy(model)
    model, optimizer = setup_model_and_optimizer(fabric, model, torch.optim.SGD(model.parameters(), lr=lr))
    losses = []
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(x[mine]), y[mine])
        fabric.backward(loss)
        optimizer.step()
        optimizer.zero_grad()
        mean = float(fabric.all_reduce(loss.detach(), reduce_op="mean"))  # = the whole set's loss
        losses.append(mean)
        ctx.log({"loss": mean}, step=step)

    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=lr)
    for _ in range(steps):
        torch.nn.functional.mse_loss(reference(x), y).backward()
        ref_optimizer.step()
        ref_optimizer.zero_grad()
    diff = max(
        float((a.detach() - b.detach()).abs().max())
        for a, b in zip(model.parameters(), reference.parameters(), strict=True)
    )

    cluster = detect_cluster()
    job = slurm_job() or {}
    view = {
        "global_rank": rank,
        "local_rank": fabric.local_rank,
        "node_rank": fabric.node_rank,
        "world_size": world,
        "cluster": cluster.name,
        "environment": cluster.environment,
        "slurm_job_id": job.get("job_id"),
        "slurm_task_id": job.get("task_id"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
        "max_weight_diff": diff,
    }
    ranks = _gather(view)
    return {
        "engine": str(cfg.engine.name),
        "world_size": world,
        "steps": steps,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "max_weight_diff": max(r["max_weight_diff"] for r in ranks),
        "ranks": ranks,
    }
