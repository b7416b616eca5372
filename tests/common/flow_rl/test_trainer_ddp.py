"""FlowRLTrainer on 2 CPU ranks (gloo, Fabric DDP from conf/engine/ddp.yaml).

One run of ``_ddp_worker`` per algorithm (both ranks) feeds the tests: a tiny flow UNet + LoRA,
the same seed on both ranks, a prompt shared by both ranks each step (its group spans the ranks)
beside one prompt of each rank's own, 2 steps with a checkpoint after each, then a rerun of the
same command with ``steps=3``; then two runs where the ranks disagree (rank 0 alone over the time
budget, rank 1 alone without a critic), which must stop both ranks together instead of deadlocking.
The logged metrics are the whole step's (both ranks' images), and one process refuses to continue
the 2-rank checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from common.rl.stats import PerPromptStatTracker
from tests.common.engine._launch import free_port, rank_envs, run_workers
from tests.common.flow_rl._ddp_worker import SHARED

pytestmark = pytest.mark.distributed
WORLD = 2
RANK_FILES = ["rng_rank0.json", "rng_rank1.json", "state.ckpt", "trainer_state.json"]


@pytest.fixture(scope="module", params=["diffusion_nft", "flow_grpo"])
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Start both ranks; returns each rank's findings, the process logs and the output folder."""
    algorithm = request.param
    out = tmp_path_factory.mktemp(f"flow_rl_ddp_{algorithm}")
    finished = run_workers(
        [str(out), algorithm],
        rank_envs(WORLD, free_port()),
        out / "logs",
        timeout=240,
        module="tests.common.flow_rl._ddp_worker",
    )
    finished.check()
    finished.require([out / f"rank{r}.pt" for r in range(WORLD)])
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return {"algorithm": algorithm, "out": out, "ranks": ranks, "logs": finished.logs}


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    assert set(a) == set(b)
    return all(torch.equal(a[k], b[k]) for k in a)


def test_two_ranks_ran(run: dict[str, Any]) -> None:
    for rank, res in enumerate(run["ranks"]):
        assert (res["rank"], res["world"]) == (rank, WORLD)
        assert res["tracker_gathers"]
        assert res["seen"] == [0, 1]
        assert res["summary"]["steps"] == 2 and res["summary"]["resumed_from"] == 0


def test_trained_lora_is_synchronised_and_moved(run: dict[str, Any]) -> None:
    r0, r1 = run["ranks"]
    assert _equal(r0["start"], r1["start"])  # same seed on both ranks
    assert _equal(r0["after"], r1["after"]), "DDP did not keep the ranks' LoRA weights identical"
    assert _equal(r0["old_after"], r1["old_after"])
    moved = [k for k in r0["start"] if not torch.equal(r0["start"][k], r0["after"][k])]
    assert any("lora_B" in k for k in moved), "training did not move the LoRA B matrices"


def test_advantages_use_both_ranks_rewards(run: dict[str, Any]) -> None:
    r0, r1 = run["ranks"]
    assert len(r0["calls"]) == len(r1["calls"]) == 2
    for c0, c1 in zip(r0["calls"], r1["calls"], strict=True):
        assert c0["global_std"] == c1["global_std"]
        assert c0["prompts"].count(SHARED) == c1["prompts"].count(SHARED) == 2
        assert not set(c0["prompts"]) - {SHARED} & set(c1["prompts"])  # the other prompts differ
        # one process, the gathered batch (rank order)
        reference = PerPromptStatTracker().compute(
            c0["prompts"] + c1["prompts"],
            torch.cat([c0["rewards"], c1["rewards"]]),
            global_std=c0["global_std"],
        )
        n0 = len(c0["prompts"])
        torch.testing.assert_close(c0["advantages"], reference[:n0], rtol=0, atol=1e-6)
        torch.testing.assert_close(c1["advantages"], reference[n0:], rtol=0, atol=1e-6)
        # ... which is not what a rank computes from its own rewards alone
        local = PerPromptStatTracker().compute(c0["prompts"], c0["rewards"], global_std=c0["global_std"])
        assert not torch.allclose(local, c0["advantages"], atol=1e-4)


def test_rank_zero_logs_and_checkpoints_are_complete(run: dict[str, Any]) -> None:
    r0, r1 = run["ranks"]
    assert r0["logged"] == [1, 2] and r1["logged"] == []
    desc = f"RL {run['algorithm']}"
    assert desc in run["logs"][0] and desc not in run["logs"][1]  # the progress bar: rank 0 only
    expected = {"step_00000001": RANK_FILES, "step_00000002": RANK_FILES}
    assert r0["checkpoints"] == r1["checkpoints"] == expected
    root: Path = run["out"] / "ckpt"
    for step in (1, 2, 3):
        state = json.loads((root / f"step_{step:08d}" / "trainer_state.json").read_text())
        assert state["step"] == step and len(state["history"]) == step
    assert not [p.name for p in root.iterdir() if p.name.endswith(".partial")]


def test_rerun_resumes_at_step_two_on_both_ranks(run: dict[str, Any]) -> None:
    r0, r1 = run["ranks"]
    for res in (r0, r1):
        assert res["summary2"]["resumed_from"] == 2 and res["summary2"]["steps"] == 3
        assert res["seen2"] == [2]
        assert _equal(res["resumed"]["current"], res["after"])  # the loaded weights: step 2's
        assert _equal(res["resumed"]["old"], res["old_after"])
    assert _equal(r0["after2"], r1["after2"])
    assert not _equal(r0["after2"], r0["after"])


def test_time_budget_crossed_on_one_rank_stops_both(run: dict[str, Any]) -> None:
    for res in run["ranks"]:
        assert res["summary_time"]["steps"] == 1 and res["summary_time"]["stopped_early"]
    root: Path = run["out"] / "ckpt_time"
    assert sorted(p.name for p in root.iterdir()) == ["step_00000001"]


def test_critic_outage_on_one_rank_fails_both_after_saving(run: dict[str, Any]) -> None:
    for res in run["ranks"]:
        assert res["outage_error"] is not None and "rerun the same command" in res["outage_error"]
        assert res["outage_cause"] == "CriticUnavailableError"
        assert "steps 1-1 are saved" in res["outage_error"]
    assert "rank 1's critic is down" in run["ranks"][1]["outage_error"]
    assert "another rank's critic" in run["ranks"][0]["outage_error"]
    root: Path = run["out"] / "ckpt_outage"
    assert sorted(p.name for p in root.iterdir()) == ["step_00000001"]


def test_logged_metrics_are_those_of_both_ranks_images(run: dict[str, Any]) -> None:
    r0, r1 = run["ranks"]
    assert len(r0["history"]) == len(r1["history"]) == 2
    for step, (c0, c1) in enumerate(zip(r0["calls"], r1["calls"], strict=True)):
        rewards = torch.cat([c0["rewards"], c1["rewards"]]).double()  # the step's images, rank order
        assert not torch.allclose(c0["rewards"].double().mean(), rewards.mean())  # a rank's own differ
        for res in (r0, r1):
            record = res["history"][step]
            assert record["reward_mean"] == pytest.approx(float(rewards.mean()), abs=1e-6)
            assert record["reward_std"] == pytest.approx(float(rewards.std(correction=0)), abs=1e-6)
        timeless = [
            {k: v for k, v in r["history"][step].items() if not k.startswith("time_")} for r in (r0, r1)
        ]
        assert timeless[0] == timeless[1]  # the update's losses too: averaged over the ranks


def test_one_process_refuses_the_two_rank_checkpoints(run: dict[str, Any]) -> None:
    from common.flow_rl import FlowRLTrainer
    from common.train import make_fabric
    from tests.common.flow_rl._ddp_worker import brightness_reward, config, items, policy

    trainer = FlowRLTrainer(
        policy(),
        config(run["algorithm"], steps=4),
        lambda step: items(0, step),
        brightness_reward,
        checkpoint_root=run["out"] / "ckpt",
        fabric=make_fabric(),
        progress=False,
    )
    with pytest.raises(ValueError, match=r"processes 2 -> 1") as err:
        trainer.fit()
    assert "global batch 8 -> 4" in str(err.value)
