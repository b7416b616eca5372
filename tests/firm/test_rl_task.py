"""``+exp=firm_gen_rl`` / ``+exp=firm_edit_rl`` end to end on small saved policies with the oracle
critic: tables, grids, curves, the trained policy, and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from common.models.builders import load_model
from common.models.lora import has_lora
from common.models.tiny_generators import build_tiny_flow_unet
from firm.rl.seeds import load_records, pool_seeds
from tests.firm.conftest import run_experiment


@pytest.fixture(scope="module")
def policy_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("policies")
    out = {}
    for kind, editor in (("gen", False), ("edit", True)):
        torch.manual_seed(0)
        bundle = build_tiny_flow_unet(
            block_out_channels=(16, 32), cross_attention_levels=1, attention_heads=2, editor=editor
        )
        bundle.save_pretrained(root / kind)
        out[kind] = root / kind
    return out


def rl_overrides(policy: Path, steps: int = 2) -> list[str]:
    return [
        "critic=oracle",
        f"task.policy=path:{policy}",
        f"task.rl.steps={steps}",
        "task.rl.prompts_per_iteration=2",
        "task.rl.group_size=2",
        "task.rl.sample_steps=2",
        "task.rl.sample_chunks=2",
        "task.rl.train_batch=4",
        "task.rl.lora={r: 4, alpha: 8}",
        "task.rl.checkpoint_every=1",
        "task.eval.prompts=6",
        "task.eval.sample_steps=2",
        "task.eval.every=1",
        "task.eval.every_prompts=3",
        "task.eval.grid=4",
        "seed=1",
    ]


@pytest.mark.parametrize("kind", ["gen", "edit"])
def test_rl_experiment_trains_reports_and_resumes(
    kind: str, policy_dirs: dict[str, Path], tmp_path: Path
) -> None:
    exp = f"firm_{kind}_rl"
    metrics, ctx = run_experiment(exp, tmp_path, *rl_overrides(policy_dirs[kind]))
    run = ctx.run_dir
    assert metrics["train"]["steps"] == 2 and metrics["train"]["resumed_from"] == 0
    assert metrics["critic"] == "oracle" and metrics["reward"] == ("qma" if kind == "gen" else "cme")
    assert metrics["heldout"]["n_pairs"] == 12
    report = (run / "report.md").read_text()
    for row in ("| start |", "| end |", "| ceiling |", "| gain |"):
        assert row in report
    assert ("| chance |" in report) == (kind == "gen")
    assert ("| copy source |" in report) == (kind == "edit")
    assert "#3:" in report and "#4:" not in report  # the grid legend: task.eval.grid prompts
    with Image.open(run / "before_after.png") as sheet:
        assert sheet.size[0] > 0 and sheet.size[1] > 0
    assert (run / "curves.png").is_file()
    log = [line for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    assert len(log) == 2 and all('"heldout_' in line for line in log)  # the reward-hacking watch
    trained = load_model(str(run / "policy"))
    assert has_lora(trained.transformer)
    # the per-pair records behind the gains, which firm.rl.seeds pools over seeds
    records = load_records(run)
    assert len(records["start"]) == len(records["end"]) == 12
    key = "strict" if kind == "gen" else "execution"
    pooled = pool_seeds([records], key)
    assert pooled["mean_gain"] == pytest.approx(metrics["heldout"]["gains"][key]["gain"])
    assert ("copy source" in records) == (kind == "edit")

    # rerunning with more steps continues from the last checkpoint of the same config
    again, _ = run_experiment(exp, tmp_path, *rl_overrides(policy_dirs[kind], steps=3))
    assert again["checkpoint_dir"] == metrics["checkpoint_dir"]
    assert again["train"]["resumed_from"] == 2 and again["train"]["steps"] == 3


def test_bad_rl_settings_name_the_key(policy_dirs: dict[str, Path], tmp_path: Path) -> None:
    base = rl_overrides(policy_dirs["gen"])
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        run_experiment("firm_gen_rl", tmp_path, *base, "task.rl.group_size=1")
    with pytest.raises(ValueError, match="is for edit items"):
        run_experiment("firm_gen_rl", tmp_path, *base, "task.reward=cme")
    with pytest.raises(ValueError, match=r"task\.kind must be one of"):
        run_experiment("firm_gen_rl", tmp_path, *base, "task.kind=video")


def test_a_trained_policy_reevaluated_with_zero_steps_reads_as_it_ended(
    policy_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """A run's saved policy (LoRA adapters and all) as the ``task.policy`` of another run: its
    adapters are folded into the base, and ``task.rl.steps=0`` evaluates it without training, so
    its start records are the first run's end records, pair for pair."""
    _, first = run_experiment("firm_gen_rl", tmp_path / "a", *rl_overrides(policy_dirs["gen"]))
    metrics, again = run_experiment(
        "firm_gen_rl", tmp_path / "b", *rl_overrides(first.run_dir / "policy", steps=0)
    )
    assert metrics["train"]["steps"] == 0 and metrics["final_reward"] is None
    ended = load_records(first.run_dir)["end"]
    records = load_records(again.run_dir)
    key = [(r["pair"], r["strict"], r["n_objects"]) for r in ended]
    assert [(r["pair"], r["strict"], r["n_objects"]) for r in records["start"]] == key
    assert [(r["pair"], r["strict"], r["n_objects"]) for r in records["end"]] == key
    assert metrics["heldout"]["gains"]["strict"]["gain"] == 0.0
