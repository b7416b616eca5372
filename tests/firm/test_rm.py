"""FIRM reward models: RM examples from curated rows, cached curation, the SFT experiments end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from common.models.builders import load_vlm
from common.runtime import RunSettings
from firm.prompts.rm import parse_rm_output
from firm.rm import curated_score, load_curated, rm_example, rm_examples, run_seed
from firm.rm.cache import resolve_source
from firm.rm.data import curated_cache_dir
from tests.firm.conftest import run_experiment

EDIT_CURATE = {"n_examples": 10}
GEN_CURATE = {"n_prompts": 10}


@pytest.fixture(scope="module")
def cache_cfg(tmp_path_factory: pytest.TempPathFactory) -> object:
    from omegaconf import OmegaConf

    root = tmp_path_factory.mktemp("rm_cache")
    return OmegaConf.create(
        {
            "seed": 0,
            "paths": {"cache_dir": str(root / "cache"), "output_dir": str(root)},
            "runtime": {"progress": False},
        }
    )


def test_curation_runs_once_with_the_oracle_and_is_cached(cache_cfg: object) -> None:
    subsets, root = load_curated("edit", cache_cfg, curate=EDIT_CURATE, seed=0)  # type: ignore[arg-type]
    assert set(subsets) == {"execution", "consistency"} and len(subsets["execution"]) >= 8
    assert root == curated_cache_dir(RunSettings.from_config(cache_cfg), "edit", EDIT_CURATE, 0)
    stamp = (root / "README.md").stat().st_mtime_ns
    again, root2 = load_curated("edit", cache_cfg, curate=EDIT_CURATE, seed=0)  # type: ignore[arg-type]
    assert root2 == root and (root / "README.md").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert again["execution"]["id"] == subsets["execution"]["id"]
    assert (
        curated_cache_dir(RunSettings.from_config(cache_cfg), "edit", EDIT_CURATE, 1) != root
    )  # another data seed, other data
    with pytest.raises(FileNotFoundError, match="not a curated gen directory"):
        load_curated("gen", cache_cfg, path=str(root))  # type: ignore[arg-type]


def test_rm_examples_hide_the_report_and_plan_and_target_the_curated_answer(cache_cfg: object) -> None:
    edit, _ = load_curated("edit", cache_cfg, curate=EDIT_CURATE, seed=0)  # type: ignore[arg-type]
    gen, _ = load_curated("gen", cache_cfg, curate=GEN_CURATE, seed=0)  # type: ignore[arg-type]
    for mode, rows in (*edit.items(), *gen.items()):
        row = rows[0]
        ex = rm_example(mode, row)
        text = " ".join(p["text"] for m in ex.messages for p in m["content"] if p["type"] == "text")
        n_images = sum(p["type"] == "image" for m in ex.messages for p in m["content"])
        assert n_images == (2 if mode in ("execution", "consistency") else 1)
        for hidden in ("report", "plan"):
            if hidden in row:  # the pipeline's report / plan never reaches the RM
                assert row[hidden][:40].lower() not in text.lower()
        assert "difference report" not in text and "analysis plan" not in text
        assert ex.target == ex.target.lower()  # canonical text for the project tokenizer
        assert parse_rm_output(mode, ex.target).score == curated_score(mode, row)
        assert rm_example(mode, row, canonical=False).target == row["response"]
    both = rm_examples(edit, ["execution", "consistency"])
    assert len(both) == len(edit["execution"]) + len(edit["consistency"])


def test_model_sources(random_rm_dir: Path, tmp_path: Path) -> None:
    assert resolve_source(str(random_rm_dir)) == str(random_rm_dir)
    run_dir = tmp_path / "run"
    (run_dir / "rm").mkdir(parents=True)
    (run_dir / "rm" / "config.json").write_text("{}")
    (run_dir / "config.yaml").write_text("seed: 7\n")
    assert resolve_source(str(run_dir)) == str(run_dir / "rm") and run_seed(str(run_dir)) == 7
    assert resolve_source("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"
    with pytest.raises(FileNotFoundError):
        resolve_source(str(tmp_path / "missing"))


def rm_overrides(exp: str, model: Path, cache: Path, steps: int = 3) -> list[str]:
    curate = "{n_examples: 10}" if exp == "firm_edit_rm" else "{n_prompts: 10}"
    return [
        f"task.model={model}",
        f"task.data.curate={curate}",
        f"paths.cache_dir={cache}",
        f"task.sft.steps={steps}",
        "task.sft.batch_size=2",
        "task.sft.grad_accum=2",
        "task.sft.lr=3e-3",
        "task.sft.checkpoint_every=1",
        "task.sft.log_every=1",
        "task.eval_items=2",
        "task.eval_max_tokens=8",
        "seed=3",
    ]


@pytest.mark.parametrize("exp", ["firm_edit_rm", "firm_gen_rm"])
def test_rm_experiment_trains_exports_and_resumes(exp: str, random_rm_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    metrics, ctx = run_experiment(exp, tmp_path, *rm_overrides(exp, random_rm_dir, cache))
    assert metrics["train"]["steps"] == 3 and metrics["train"]["resumed_from"] == 0
    assert metrics["sft"]["seed"] == 3 and metrics["template"] == "tiny" and metrics["canonical_targets"]
    assert metrics["final_loss"] < metrics["first_loss"]
    assert set(metrics["held_out"]) == set(metrics["modes"]) and len(metrics["modes"]) == 2
    for res in metrics["held_out"].values():
        assert res["n"] == 2 and 0 <= res["n_missing"] <= 2
    trained = load_vlm(str(ctx.run_dir / "rm"))
    base = load_vlm(str(random_rm_dir))
    diff = [
        k for k, v in trained.model.state_dict().items() if not torch.equal(v, base.model.state_dict()[k])
    ]
    assert len(diff) > 0.8 * len(base.model.state_dict())
    # the same command again finds the finished checkpoint: no training, the same weights
    again, ctx2 = run_experiment(exp, tmp_path, *rm_overrides(exp, random_rm_dir, cache))
    assert again["checkpoint_dir"] == metrics["checkpoint_dir"] and again["train"]["resumed_from"] == 3
    reloaded = load_vlm(str(ctx2.run_dir / "rm")).model.state_dict()
    assert all(torch.equal(v, reloaded[k]) for k, v in trained.model.state_dict().items())
    # a longer run is another schedule (cosine over more steps): a new checkpoint directory
    longer, _ = run_experiment(exp, tmp_path, *rm_overrides(exp, random_rm_dir, cache, steps=4))
    assert longer["checkpoint_dir"] != metrics["checkpoint_dir"]


def test_bad_rm_settings_are_refused(random_rm_dir: Path, tmp_path: Path) -> None:
    base = rm_overrides("firm_edit_rm", random_rm_dir, tmp_path / "cache")
    with pytest.raises(ValueError, match="no mode"):
        run_experiment("firm_edit_rm", tmp_path, *base, "task.modes=[quality]")
    with pytest.raises(ValueError, match=r"task\.sft: unknown key\(s\) \['learning_rate'\]"):
        run_experiment("firm_edit_rm", tmp_path, *base, "+task.sft.learning_rate=1")
