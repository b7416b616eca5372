"""DDP through Fabric on CPU: 2 gloo processes started by ``fabric.launch()`` itself (the laptop path)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from common.engine import load_checkpoint
from tests.common.engine._launch import free_port, run_workers, worker_env
from tests.common.engine._workers import tiny_lm

pytestmark = pytest.mark.distributed
WORLD = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Start rank 0; Fabric starts rank 1. Returns each rank's findings and the output folder."""
    out = tmp_path_factory.mktemp("ddp")
    env = worker_env({"MASTER_PORT": str(free_port())})
    finished = run_workers(["ddp", str(out)], [env], out / "logs", timeout=180)
    finished.check()
    finished.require([out / f"ddp_rank{r}.json" for r in range(WORLD)])
    ranks = [json.loads((out / f"ddp_rank{r}.json").read_text()) for r in range(WORLD)]
    return {"out": out, "ranks": ranks, "seconds": finished.seconds}


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert set(a) == set(b)
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_fabric_ran_two_gloo_ranks(run: dict[str, Any]) -> None:
    for rank, res in enumerate(run["ranks"]):
        assert (res["rank"], res["world"]) == (rank, WORLD)
        assert res["strategy"] == "DDPStrategy" and res["backend"] == "gloo"
        assert not res["is_zero3"]
        assert res["cluster"]["name"] == "local" and res["cluster"]["world_size"] == WORLD
        assert res["cluster"]["global_rank"] == rank


def test_gradients_are_averaged(run: dict[str, Any]) -> None:
    out: Path = run["out"]
    params = [torch.load(out / f"ddp_params_rank{r}.pt") for r in range(WORLD)]
    reference = torch.load(out / "ddp_reference_after.pt")  # rank 0's init, mean loss of both batches
    assert _max_diff(params[0], params[1]) == 0.0  # identical after a step on different data
    assert _max_diff(params[0], reference) < 1e-6
    assert run["ranks"][0]["grad_norm"] == pytest.approx(run["ranks"][1]["grad_norm"])


def test_generation_and_checkpoint(run: dict[str, Any]) -> None:
    out: Path = run["out"]
    assert len({len(res["generation"]) for res in run["ranks"]}) == WORLD
    model = tiny_lm(seed=5)
    load_checkpoint(out / "ddp.safetensors", model)
    assert _max_diff(model.state_dict(), torch.load(out / "ddp_params_rank0.pt")) == 0.0
