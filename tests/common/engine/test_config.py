"""conf/engine/*.yaml compose, validate against EngineConfig, and yield a DeepSpeed JSON DeepSpeed accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.engine import EngineConfig, EngineConfigError, deepspeed_config, is_zero3
from tests.common.engine._workers import engine_cfg

ENGINE_DIR = Path(__file__).resolve().parents[3] / "conf" / "engine"
NAMES = sorted(p.stem for p in ENGINE_DIR.glob("*.yaml"))


def test_the_four_engines_exist() -> None:
    assert {"cpu", "ddp", "zero3", "zero3_offload"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_engine_yaml_composes_and_validates(name: str) -> None:
    cfg = engine_cfg(name)
    assert cfg.name == name
    assert is_zero3(cfg) == name.startswith("zero3")
    assert EngineConfig.from_cfg(cfg.to_dict()) == cfg  # round trip through plain data


def test_cpu_and_ddp_engines() -> None:
    cpu, ddp = engine_cfg("cpu"), engine_cfg("ddp")
    assert (cpu.accelerator, cpu.devices, cpu.strategy, cpu.deepspeed) == ("cpu", 1, "auto", None)
    assert (ddp.strategy, ddp.devices) == ("ddp", 2)


def _deepspeed_runtime_config(config: dict[str, Any]) -> Any:
    """DeepSpeed's own parser (pydantic, extra keys forbidden); needs no process group."""
    from common.engine import prepare_deepspeed

    prepare_deepspeed()
    from deepspeed.runtime.config import DeepSpeedConfig

    return DeepSpeedConfig(config)


def test_zero3_json_is_accepted_by_deepspeed() -> None:
    config = deepspeed_config(engine_cfg("zero3"))
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and "offload_param" not in zero and "offload_optimizer" not in zero
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert config["bf16"] == {"enabled": True} and config["fp16"] == {"enabled": False}
    assert config["gradient_clipping"] == 1.0 and config["train_micro_batch_size_per_gpu"] == 1
    assert config["zero_allow_untested_optimizer"] is True
    parsed = _deepspeed_runtime_config(config)
    assert parsed.zero_optimization_stage == 3
    assert parsed.bfloat16_config.enabled
    assert parsed.gradient_clipping == 1.0


def test_zero3_offload_extends_zero3() -> None:
    base, offload = engine_cfg("zero3"), engine_cfg("zero3_offload")
    assert offload.deepspeed is not None and base.deepspeed is not None
    assert (offload.deepspeed.offload_param, offload.deepspeed.offload_optimizer) == ("cpu", "cpu")
    assert offload.deepspeed.reduce_bucket_size == base.deepspeed.reduce_bucket_size
    config = deepspeed_config(offload)
    assert config["zero_optimization"]["offload_param"] == {"device": "cpu", "pin_memory": True}
    assert config["zero_force_ds_cpu_optimizer"] is False  # torch optimizers allowed with offload
    parsed = _deepspeed_runtime_config(config)
    assert str(parsed.zero_config.offload_param.device).endswith("cpu")


def test_overrides_reach_the_json() -> None:
    cfg = engine_cfg(
        "zero3",
        precision="32-true",
        gradient_clipping="null",
        **{
            "deepspeed.train_micro_batch_size_per_gpu": 4,
            "+deepspeed.extra.zero_optimization.round_robin_gradients": True,
        },
    )
    config = deepspeed_config(cfg)
    assert config["bf16"]["enabled"] is False and config["gradient_clipping"] == 0.0
    assert config["train_micro_batch_size_per_gpu"] == 4
    assert config["zero_optimization"]["round_robin_gradients"] is True  # extra merged in depth
    assert config["zero_optimization"]["stage"] == 3
    _deepspeed_runtime_config(config)


def test_sizes_written_in_float_notation_become_ints() -> None:
    data = engine_cfg("zero3").to_dict()
    data["deepspeed"]["reduce_bucket_size"] = 5e8
    data["deepspeed"]["stage3_prefetch_bucket_size"] = "5e7"
    cfg = EngineConfig.from_cfg(data)
    assert cfg.deepspeed is not None
    assert cfg.deepspeed.reduce_bucket_size == 500_000_000
    assert cfg.deepspeed.stage3_prefetch_bucket_size == 50_000_000


def _with(base: str, **changes: Any) -> dict[str, Any]:
    data = engine_cfg(base).to_dict()
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with("cpu", acelerator="cpu"), "unknown key(s) ['acelerator']"),
        (_with("cpu", strategy="dpp"), "engine.strategy: expected one of"),
        (_with("cpu", precision="bf16"), "engine.precision"),
        (_with("cpu", devices=0), "engine.devices must be >= 1"),
        (_with("cpu", devices="all"), "engine.devices must be a positive int or 'auto'"),
        (_with("cpu", num_nodes=True), "engine.num_nodes: expected an integer"),
        (_with("cpu", gradient_clipping=-1.0), "engine.gradient_clipping must be > 0"),
        (_with("cpu", gradient_clipping="big"), "engine.gradient_clipping: expected"),
        (_with("ddp", num_nodes=2, strategy="auto"), "needs a distributed strategy"),
        (_with("zero3", deepspeed=None), "engine.deepspeed is missing"),
        (_with("zero3", accelerator="cpu"), "needs CUDA"),
        (_with("zero3", deepspeed__stage=4), "engine.deepspeed.stage must be"),
        (_with("zero3", deepspeed__stage=2, deepspeed__offload_param="cpu"), "offload_param needs stage 3"),
        (_with("zero3", deepspeed__offload_param="nvme"), "nvme_path is required"),
        (_with("zero3", deepspeed__offload_param="disk"), "engine.deepspeed.offload_param: expected one of"),
        (_with("zero3", deepspeed__pin_memory="yes"), "engine.deepspeed.pin_memory: expected true or false"),
        (_with("zero3", deepspeed__bucket=1), "engine.deepspeed: unknown key(s) ['bucket']"),
        (_with("zero3", deepspeed__train_micro_batch_size_per_gpu=0), "must be >= 1"),
        (_with("ddp", deepspeed={"stage": 3}), "engine.deepspeed is set but engine.strategy is 'ddp'"),
    ],
)
def test_invalid_configs_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(EngineConfigError) as err:
        EngineConfig.from_cfg(data)
    assert message in str(err.value)


def test_deepspeed_config_of_a_non_deepspeed_engine_is_an_error() -> None:
    with pytest.raises(EngineConfigError, match="no deepspeed section"):
        deepspeed_config(engine_cfg("ddp"))
