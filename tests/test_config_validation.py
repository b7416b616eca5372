"""Every experiment composes at both scales and every node that names its dataclass validates.

Config nodes name the dataclass they are read as (``_config_: module.Class``, common/config.py);
:func:`common.config.validate_tree` converts each of them with the one converter. Here every
``conf/exp`` experiment is composed at ``scale=tiny`` (its default engine) and at ``scale=paper``
with every engine, and validated; the nodes each kind of experiment must name are listed, so a
node that stops naming its dataclass fails here; a wrong value fails at composition with its key
path; every ``conf/pretrain`` file names its objective's dataclass.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.config import CONFIG_KEY, ConfigError, config_class, validate_tree
from common.engine import EngineConfig
from common.flow_rl import FlowRLConfig
from common.models.pretrain.config import CONFIG_CLASSES, available_bases, load_pretrain_config
from common.sft import SFTConfig
from firm.rl.critic_registry import CriticConfig
from firm.rl.eval_config import EvalConfig
from firm.rm.data import CuratedData
from firm.serve.config import ServeConfig
from t2ieval_r1.grpo import GRPOConfig
from t2ieval_r1.grpo.model import PolicySpec
from t2ieval_r1.sft import WarmupSpec

CONF = Path(__file__).resolve().parent.parent / "conf"
EXPS = sorted(p.stem for p in (CONF / "exp").glob("*.yaml"))
ENGINES = ["cpu", "ddp", "zero3", "zero3_offload"]
SETTINGS = [("tiny", None)] + [("paper", engine) for engine in ENGINES]

NAMED: dict[str, dict[str, type]] = {
    "t2ieval_r1_grpo": {"task.grpo": GRPOConfig, "task.model": PolicySpec},
    "t2ieval_r1_sft_": {"task.model": PolicySpec, "task.sft": SFTConfig},
    "firm_edit_rm": {"task.sft": SFTConfig, "task.data": CuratedData},
    "firm_gen_rm": {"task.sft": SFTConfig, "task.data": CuratedData},
    "firm_serve": {"task": ServeConfig},
    "firm_gen_rl": {
        "critic": CriticConfig,
        "task.critic": CriticConfig,
        "task.rl": FlowRLConfig,
        "task.eval": EvalConfig,
    },
    "firm_edit_rl": {
        "critic": CriticConfig,
        "task.critic": CriticConfig,
        "task.rl": FlowRLConfig,
        "task.eval": EvalConfig,
    },
}
"""Experiment name prefix -> the nodes it must name, beside ``engine`` (every experiment)."""


def compose_exp(exp: str, *overrides: str) -> Any:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[f"+exp={exp}", *overrides])


def expected_nodes(exp: str, scale: str) -> dict[str, type]:
    out: dict[str, type] = {"engine": EngineConfig}
    for prefix, nodes in NAMED.items():
        if exp.startswith(prefix):
            out.update(nodes)
    if exp.startswith("t2ieval_r1_grpo") and scale == "tiny":  # the format warm-up (none at paper)
        out["task.model.warmup"] = WarmupSpec
    return out


def test_the_experiments_are_all_covered() -> None:
    assert len(EXPS) >= 19 and {"t2ieval_r1_grpo", "firm_edit_rm", "firm_serve", "hello"} <= set(EXPS)
    for prefix in NAMED:
        assert any(e.startswith(prefix) for e in EXPS), f"no experiment starts with {prefix}"


@pytest.mark.parametrize(("scale", "engine"), SETTINGS, ids=lambda v: str(v))
@pytest.mark.parametrize("exp", EXPS)
def test_every_experiment_validates_at_both_scales(exp: str, scale: str, engine: str | None) -> None:
    cfg = compose_exp(exp, f"scale={scale}", *([f"engine={engine}"] if engine else []))
    found = validate_tree(cfg)
    expected = expected_nodes(exp, scale)
    assert set(found) == set(expected), f"{exp} at scale={scale}: named nodes {sorted(found)}"
    for path, cls in expected.items():
        assert type(found[path]) is cls, (exp, scale, path)
    assert found["engine"].name == (engine or "cpu")
    if "task.grpo" in found:  # what the trainer will build from the same node
        grpo = GRPOConfig.from_dict(OmegaConf.to_container(cfg.task.grpo, resolve=True))
        assert found["task.grpo"] == grpo
        assert grpo.kl_coef == (0.2 if scale == "tiny" else 0.04) and grpo.rollout.group_size == 8


@pytest.mark.parametrize(
    ("exp", "override", "message"),
    [
        (
            "t2ieval_r1_grpo",
            "task.grpo.kl_coef=strong",
            r"^task\.grpo\.kl_coef: expected a number, got 'strong'",
        ),
        (
            "t2ieval_r1_grpo",
            "+task.grpo.kl_coeff=0.1",
            r"^task\.grpo: unknown key\(s\) \['kl_coeff'\].*'kl_coef'",
        ),
        ("t2ieval_r1_grpo", "task.grpo.rollout.top_k=-1", r"grpo\.rollout\.top_k must be >= 0"),
        ("t2ieval_r1_grpo", "task.model.kind=weights", r"^task\.model \(PolicySpec\): .*kind 'weights'"),
        (
            "t2ieval_r1_grpo",
            "+task.model.warmup.sft.lr_warm=1",
            r"model\.warmup\.sft: unknown key\(s\) \['lr_warm'\]",
        ),
        (
            "t2ieval_r1_sft_scores",
            "task.sft.batch_size=0",
            r"^task\.sft \(SFTConfig\): sft\.batch_size must be",
        ),
        ("firm_gen_rm", "task.sft.train_vision=maybe", r"^task\.sft\.train_vision: expected true or false"),
        ("firm_edit_rm", "+task.data.size=3", r"^task\.data: unknown key\(s\) \['size'\] for CuratedData"),
        ("firm_serve", "task.port=99999", r"^task \(ServeConfig\): port must be in 0-65535"),
        ("firm_serve", "task.limits.max_items=many", r"^task\.limits\.max_items: expected an integer"),
        ("hello", "engine.devices=0", r"engine\.devices must be >= 1"),
        ("hello", "engine.strategy=fsdp", r"^engine\.strategy: expected one of 'auto', 'ddp'"),
    ],
)
def test_a_wrong_value_fails_at_composition_with_its_key(exp: str, override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_tree(compose_exp(exp, override))


def test_every_config_key_in_conf_names_a_dataclass() -> None:
    pattern = re.compile(rf"^\s*{CONFIG_KEY}:\s*(\S+)", re.M)
    named = {m for path in CONF.rglob("*.yaml") for m in pattern.findall(path.read_text())}
    assert len(named) >= 9
    for name in named:
        config_class(name)  # importable, and a dataclass


@pytest.mark.parametrize("name", available_bases())
def test_every_pretraining_config_names_its_dataclass(name: str) -> None:
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "pretrain" / f"{name}.yaml"), resolve=True)
    assert isinstance(raw, dict)
    cls = CONFIG_CLASSES[raw["objective"]]
    assert config_class(raw[CONFIG_KEY]) is cls, f"conf/pretrain/{name}.yaml names {raw[CONFIG_KEY]}"
    cfg = load_pretrain_config(name)
    assert type(cfg) is cls and validate_tree({**raw, "name": name}) == {"": cfg}
    with pytest.raises(ConfigError, match=rf"^pretrain\.{name}\.steps: expected an integer, got 'long'"):
        load_pretrain_config(name, {"steps": "long"})
