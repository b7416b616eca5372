"""The T2I-Eval-R1 training experiments end to end on a SMALL random model: the SFT baselines and
GRPO from a warmed-up start, each followed by the meta-evaluation of what it trained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir

from common.runtime import RunContext
from tests.t2ieval_r1.conftest import SMALL_VLM, small_vlm
from tests.t2ieval_r1.meta_eval_fixtures import small_benchmarks

ROOT = Path(__file__).resolve().parents[2]


def meta_eval_params(root: Path) -> dict[str, Any]:
    return {
        "benchmarks": small_benchmarks(root),
        "select": ["t2i_eval", "tifa"],
        "n_resamples": 0,
        "max_tokens": 12,
        "limit": 3,
    }


def composed(exp: str, tmp: Path, extra: list[str] = ()) -> Any:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(
            "config",
            overrides=[f"+exp={exp}", f"paths.output_dir={tmp}", f"paths.cache_dir={tmp / 'cache'}", *extra],
        )


def test_sft_baseline_trains_exports_and_meta_evaluates(world_root: Path, tmp_path: Path) -> None:
    from t2ieval_r1.tasks.sft import run

    cfg = composed("t2ieval_r1_sft_rationale", tmp_path, ["runtime.progress=false"])
    ctx = RunContext(run_dir=tmp_path / "run", cfg=cfg, seed=0)
    out = run(
        cfg,
        ctx,
        kind="rationale",
        train={"source": "world_quick", "kind": "single", "n": 8, "seed": 0},
        model={"kind": "preset", "name": "tiny_qwen2_5_vl", "overrides": dict(SMALL_VLM)},
        sft={"lr": 3e-3, "steps": 4, "batch_size": 4, "warmup_ratio": 0.0},
        meta_eval=meta_eval_params(world_root),
    )
    assert out["train"]["steps"] == 4 and out["data"]["n_examples"] == 8
    assert (tmp_path / "run" / "evaluator" / "config.json").is_file()
    saved = json.loads((tmp_path / "run" / "meta_eval" / "metrics.json").read_text())
    assert (
        set(saved["benchmarks"]) == {"t2i_eval", "tifa"} and out["meta_eval"]["summary"] == saved["summary"]
    )
    # rerunning the same settings resumes from the finished checkpoint: no further steps
    again = run(
        cfg,
        RunContext(run_dir=tmp_path / "run2", cfg=cfg, seed=0),
        kind="rationale",
        train={"source": "world_quick", "kind": "single", "n": 8, "seed": 0},
        model={"kind": "preset", "name": "tiny_qwen2_5_vl", "overrides": dict(SMALL_VLM)},
        sft={"lr": 3e-3, "steps": 4, "batch_size": 4, "warmup_ratio": 0.0},
    )
    assert again["train"]["resumed_from"] == 4 and again["checkpoint_dir"] == out["checkpoint_dir"]


def test_grpo_meta_evaluates_the_trained_evaluator_and_its_start(world_root: Path, tmp_path: Path) -> None:
    from t2ieval_r1.tasks.grpo import run

    start = tmp_path / "start"
    small_vlm().save_pretrained(start)
    cfg = composed("t2ieval_r1_grpo", tmp_path, ["runtime.progress=false"])
    ctx = RunContext(run_dir=tmp_path / "run", cfg=cfg, seed=0)
    grpo = {
        "steps": 2,
        "batch_size": 8,
        "micro_batch_size": 4,
        "rollout": {"group_size": 4, "max_new_tokens": 8},
        "eval_every": 0,
        "checkpoint_every": 1,
        "lr": 1e-3,
        "warmup_steps": 1,
    }
    out = run(
        cfg,
        ctx,
        train={"source": "world_quick", "kind": "single", "n": 6, "seed": 0},
        model={"kind": "path", "name": str(start)},
        grpo=grpo,
        meta_eval=meta_eval_params(world_root),
    )
    ev = out["meta_eval"]
    assert ev["start_checkpoint"] == str(start)
    assert set(ev["gain"]) <= set(ev["trained"]) and ev["gain"]
    for key, gain in ev["gain"].items():
        t, s = ev["trained"][key], ev["start"][key]
        assert gain == pytest.approx((t or 0.0) - (s or 0.0))
    assert (tmp_path / "run" / "meta_eval" / "metrics.json").is_file()
    assert (tmp_path / "run" / "meta_eval_start" / "metrics.json").is_file()
    assert list(start.glob("meta_eval-*.json"))  # the start's result is cached beside it
    # the expected-score readout is the headline; the written answers are scored too, from the same
    # completions for the trained evaluator (a predictions-file run) and cached for the start
    saved = json.loads((tmp_path / "run" / "meta_eval" / "metrics.json").read_text())
    assert saved["benchmarks"]["t2i_eval"]["readout"]["name"] == "expected"
    answer = ev["answer_readout"]
    assert set(answer) == {"trained", "start", "gain", "undefined_as_zero"}
    rescored = json.loads((tmp_path / "run" / "meta_eval_answer" / "metrics.json").read_text())
    assert rescored["evaluator"]["kind"] == "predictions" and rescored["summary"] == answer["trained"]
    assert rescored["benchmarks"]["t2i_eval"]["readout"]["name"] == "answer"
    start_answer = json.loads((tmp_path / "run" / "meta_eval_start_answer" / "metrics.json").read_text())
    assert start_answer["evaluator"]["kind"] == "predictions" and start_answer["summary"] == answer["start"]
    assert list(start.glob("meta_eval-*.predictions.jsonl"))  # the start's completions are cached too


def test_resume_key_changes_with_the_starting_checkpoint(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from t2ieval_r1.grpo.model import PolicySpec, policy_source
    from t2ieval_r1.tasks.grpo import checkpoint_root

    ctx = SimpleNamespace(run_dir=tmp_path / "run")
    cfg = OmegaConf.create({"exp_name": "grpo", "paths": {"output_dir": str(tmp_path)}, "task": {"a": 1}})
    old, key_old = checkpoint_root(cfg, ctx, "auto", None, "tiny_qwen2_5_vl-aaaaaaaaaaaa")  # type: ignore[arg-type]
    new, key_new = checkpoint_root(cfg, ctx, "auto", None, "tiny_qwen2_5_vl-bbbbbbbbbbbb")  # type: ignore[arg-type]
    assert key_old != key_new and old != new  # a rebuilt base never resumes the old base's run
    assert checkpoint_root(cfg, ctx, "auto", None, "tiny_qwen2_5_vl-aaaaaaaaaaaa")[0] == old  # type: ignore[arg-type]
    assert policy_source(PolicySpec(kind="path", name=str(tmp_path / "evaluator"))) == str(
        tmp_path / "evaluator"
    )
    assert policy_source(PolicySpec(kind="preset", name="tiny_qwen2_5_vl")) is None
