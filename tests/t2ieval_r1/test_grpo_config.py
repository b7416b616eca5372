"""The trainer config: clear errors for impossible settings; every T2I-Eval-R1 experiment is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from t2ieval_r1.grpo import GRPOConfig, GRPOConfigError
from t2ieval_r1.grpo.model import PolicySpec

CONF = Path(__file__).resolve().parents[2] / "conf"
EXPS = sorted(p.stem for p in (CONF / "exp").glob("t2ieval_r1_grpo*.yaml"))


def test_defaults_are_valid_and_sizes_derive() -> None:
    cfg = GRPOConfig.from_dict({"batch_size": 16, "micro_batch_size": 4, "rollout": {"group_size": 4}})
    assert (cfg.items_per_step, cfg.mini, cfg.micro, cfg.accumulation_steps, cfg.generation_batch) == (
        4,
        16,
        4,
        4,
        16,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"batch_size": 10, "rollout": {"group_size": 4}},
            r"task.grpo.batch_size \(10\) must be a multiple of task.grpo.rollout.group_size \(4\)",
        ),
        ({"batch_size": 16, "mini_batch_size": 6, "rollout": {"group_size": 2}}, "grpo.mini_batch_size"),
        ({"batch_size": 16, "micro_batch_size": 3, "rollout": {"group_size": 4}}, "grpo.micro_batch_size"),
        (
            {
                "batch_size": 16,
                "micro_batch_size": 8,
                "rollout": {"group_size": 4, "generation_batch_size": 4},
            },
            "must not span two generate calls",
        ),
        ({"rollout": {"group_size": 1}}, "group of one"),
        ({"rollout": {"temperature": 0.0}}, "temperature must be > 0"),
        ({"advantage": "ppo"}, "grpo.advantage: unknown name 'ppo'"),
        ({"reward": {"score_fn": "nope"}}, "grpo.reward.score_fn"),
        ({"optim": {"lr": 1e-3}}, r"grpo: unknown key\(s\) \['optim'\]"),
        ({"lr": "fast"}, "grpo.lr: expected a number"),
        ({"reference": "frozen"}, "grpo.reference: expected one of"),
        ({"steps": 0}, "grpo.steps must be >= 1"),
    ],
)
def test_impossible_configs_fail_with_the_key(params: dict, message: str) -> None:
    with pytest.raises(GRPOConfigError, match=message):
        GRPOConfig.from_dict(params)


@pytest.mark.parametrize("exp", EXPS)
@pytest.mark.parametrize("paper", [False, True])
def test_experiments_build_valid_configs(exp: str, paper: bool) -> None:
    overrides = [f"+exp={exp}"] + (["scale=paper", "engine=zero3"] if paper else [])
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    task = OmegaConf.to_container(cfg.task, resolve=True)
    grpo = GRPOConfig.from_dict(task["grpo"])
    spec = PolicySpec.from_dict(task["model"])
    if paper:
        assert (spec.kind, spec.name) == ("hub", "Qwen/Qwen2.5-VL-7B-Instruct") and cfg.engine.name == "zero3"
        assert (grpo.rollout.group_size, grpo.lr, grpo.kl_coef, grpo.rollout.max_new_tokens) == (
            8,
            1e-6,
            0.04,
            512,
        )
        assert cfg.engine.deepspeed.gradient_accumulation_steps == grpo.accumulation_steps
        assert cfg.scale.dtype == "bfloat16" and cfg.engine.precision.startswith("bf16")
    else:
        assert (spec.kind, spec.name) == ("base", "tiny_qwen2_5_vl") and cfg.engine.name == "cpu"
    expected = {"t2ieval_r1_grpo": "score_continuous", "t2ieval_r1_grpo_discrete": "score_discrete"}
    if exp in expected:
        assert grpo.reward.score_fn == expected[exp]
    if exp == "t2ieval_r1_grpo_pairwise":
        assert task["train"]["name"] == "pairwise"
