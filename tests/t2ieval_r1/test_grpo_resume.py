"""Kill-and-resume of ``python -m experiments.run +exp=t2ieval_r1_grpo``: the first run is SIGKILLed
in the middle of step 3; rerunning the same command continues from the last checkpoint (step 2)
and ends with exactly the weights and step metrics of an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from common.runtime import RunContext
from tests.t2ieval_r1.conftest import SMALL_VLM

ROOT = Path(__file__).resolve().parents[2]
STEPS = 5


def overrides(out: Path, marker: Path) -> list[str]:
    small = ",".join(f"{k}:{v}" for k, v in SMALL_VLM.items())
    return [
        "+exp=t2ieval_r1_grpo",
        f"paths.output_dir={out}",
        "runtime.progress=false",
        "corpus@task.train=world_quick",  # conf/corpus: replaces the node
        "task.train.n=6",
        "task.val=null",
        "task.model.kind=preset",
        "task.model.name=tiny_qwen2_5_vl",
        "~task.model.overrides",
        f"+task.model.overrides={{{small}}}",
        f"task.grpo.steps={STEPS}",
        "task.grpo.batch_size=8",
        "task.grpo.micro_batch_size=4",
        "task.grpo.rollout.group_size=4",
        "task.grpo.rollout.max_new_tokens=8",
        "task.grpo.checkpoint_every=1",
        "task.grpo.keep_checkpoints=10",
        "task.grpo.log_every=1",
        "task.grpo.eval_every=0",
        "task.grpo.kl_coef=0.05",
        "task.grpo.lr=2e-2",
        "task.grpo.warmup_steps=2",
        "task.export=false",
        f"task.reward_fn={{_target_:tests.t2ieval_r1.helpers.KillOnce,marker:'{marker}'}}",
    ]


def run_command(out: Path, marker: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", *overrides(out, marker)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("time/")}


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    out, marker = tmp_path / "out", tmp_path / "killed.marker"
    first = run_command(out, marker)
    assert first.returncode == -9, first.stderr[-3000:]  # SIGKILL in step 3
    (ckpt_root,) = (out / "checkpoints").iterdir()
    assert sorted(p.name for p in ckpt_root.iterdir() if p.name.startswith("step_")) == [
        "step_00000001",
        "step_00000002",
    ]
    second = run_command(out, marker)  # the same command
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stdout and "(step 2)" in second.stdout

    runs = sorted((out / "runs" / "t2ieval_r1_grpo").iterdir())
    assert len(runs) == 2
    logged = [[json.loads(line)["step"] for line in (r / "log.jsonl").read_text().splitlines()] for r in runs]
    assert logged == [[1, 2], [3, 4, 5]]  # nothing repeated, nothing lost
    metrics = json.loads((runs[1] / "metrics.json").read_text())
    assert metrics["steps"] == STEPS and metrics["resumed_from"] == 2
    history = json.loads((runs[1] / "train_log.json").read_text())
    assert [h["step"] for h in history] == list(range(1, STEPS + 1))

    # the uninterrupted run, in this process (resume=never: its own checkpoint directory)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*overrides(tmp_path / "ref", marker), "task.resume=never"])
    ctx = RunContext(run_dir=tmp_path / "ref_run", cfg=cfg, seed=int(cfg.seed))
    reference = instantiate(cfg.task, _partial_=True)(cfg=cfg, ctx=ctx)
    assert reference["steps"] == STEPS and reference["resumed_from"] is None
    ref_history = json.loads((ctx.run_dir / "train_log.json").read_text())
    for a, b in zip(ref_history, history, strict=True):
        assert strip(a) == pytest.approx(strip(b), rel=0, abs=0, nan_ok=True), a["step"]
    resumed_state = model_state(ckpt_root / f"step_{STEPS:08d}" / "state.ckpt")
    ref_state = model_state(ctx.run_dir / "checkpoints" / f"step_{STEPS:08d}" / "state.ckpt")
    assert resumed_state.keys() == ref_state.keys()
    for key, value in ref_state.items():
        assert torch.equal(value, resumed_state[key]), key
    assert ref_history[-1]["reward/total_mean"] != ref_history[0]["reward/total_mean"]  # it did train
