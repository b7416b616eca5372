"""Engine configuration: dataclasses behind ``conf/engine/*.yaml`` and the DeepSpeed JSON built from them.

Each YAML file names :class:`EngineConfig` (``_config_``); :meth:`EngineConfig.from_cfg` builds it
with the one converter, :func:`common.config.to_dataclass` (unknown keys, wrong types, values
outside their allowed set), and :meth:`EngineConfig.validate` checks the combinations; both raise
:class:`EngineConfigError` with the dotted path of the offending key. The DeepSpeed JSON is
never written by hand: :func:`deepspeed_config` derives it from the validated config, so one YAML
key (e.g. ``gradient_clipping``) means the same thing under every strategy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from common.config import ActionableError, ConfigError, to_dataclass


class OneProcessRequiredError(ActionableError, RuntimeError):
    """A build that must run in one process was asked for under a multi-process engine; the message
    gives the one-process command that builds it."""


Accelerator = Literal["auto", "cpu", "cuda", "gpu"]
Strategy = Literal["auto", "ddp", "ddp_spawn", "deepspeed"]
Precision = Literal["32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true"]
OffloadDevice = Literal["none", "cpu", "nvme"]
Backend = Literal["gloo", "nccl"]


EngineConfigError = ConfigError
"""An engine config that does not match :class:`EngineConfig` (the one config error class,
:class:`common.config.ConfigError`, under the name this package has always raised)."""


@dataclass
class DeepSpeedOptions:
    """The DeepSpeed part of an engine config (``engine.deepspeed``); JSON via :func:`deepspeed_config`.

    Field names follow DeepSpeed's own keys so that its documentation applies; ``extra`` is merged
    last into the generated JSON for anything not modelled here.
    """

    stage: int = 3
    offload_optimizer: OffloadDevice = "none"
    offload_param: OffloadDevice = "none"
    nvme_path: str | None = None
    pin_memory: bool = True
    overlap_comm: bool = True
    contiguous_gradients: bool = True
    reduce_bucket_size: int = 500_000_000
    stage3_prefetch_bucket_size: int = 50_000_000
    stage3_param_persistence_threshold: int = 100_000
    stage3_max_live_parameters: int = 1_000_000_000
    stage3_max_reuse_distance: int = 1_000_000_000
    stage3_gather_16bit_weights_on_model_save: bool = True
    sub_group_size: int = 1_000_000_000
    train_micro_batch_size_per_gpu: int = 1
    gradient_accumulation_steps: int = 1
    # Trainers pass torch optimizers (no JIT-compiled DeepSpeed ops): allow them, also with offload.
    zero_allow_untested_optimizer: bool = True
    zero_force_ds_cpu_optimizer: bool = False
    steps_per_print: int = 1_000_000_000
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, path: str = "engine.deepspeed") -> None:
        """Raise :class:`EngineConfigError` on values DeepSpeed would reject or misread."""
        if self.stage not in (0, 1, 2, 3):
            raise EngineConfigError(f"{path}.stage must be 0, 1, 2 or 3, got {self.stage}")
        if self.offload_param != "none" and self.stage != 3:
            raise EngineConfigError(f"{path}.offload_param needs stage 3, got stage {self.stage}")
        if self.offload_optimizer != "none" and self.stage == 0:
            raise EngineConfigError(f"{path}.offload_optimizer needs stage >= 1")
        if "nvme" in (self.offload_param, self.offload_optimizer) and not self.nvme_path:
            raise EngineConfigError(f"{path}.nvme_path is required when offloading to nvme")
        for name in (
            "reduce_bucket_size",
            "stage3_prefetch_bucket_size",
            "stage3_max_live_parameters",
            "stage3_max_reuse_distance",
            "sub_group_size",
            "train_micro_batch_size_per_gpu",
            "gradient_accumulation_steps",
            "steps_per_print",
        ):
            if getattr(self, name) < 1:
                raise EngineConfigError(f"{path}.{name} must be >= 1, got {getattr(self, name)}")
        if self.stage3_param_persistence_threshold < 0:
            raise EngineConfigError(f"{path}.stage3_param_persistence_threshold must be >= 0")


@dataclass
class EngineConfig:
    """How a run is placed on hardware: one ``conf/engine/<name>.yaml`` file.

    ``gradient_clipping`` is the max global gradient norm (``None``: no clipping); DeepSpeed applies
    it inside its step, the other strategies through :func:`common.engine.clip_gradients`.
    """

    name: str = "cpu"
    accelerator: Accelerator = "cpu"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: Strategy = "auto"
    precision: Precision = "32-true"
    gradient_clipping: float | None = 1.0
    process_group_backend: Backend | None = None
    find_unused_parameters: bool = False
    deepspeed: DeepSpeedOptions | None = None

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_cfg(cls, cfg: Any) -> EngineConfig:
        """Build and validate from a mapping or an OmegaConf node (interpolations resolved;
        :func:`common.config.to_dataclass`); an :class:`EngineConfig` is returned as is."""
        if cfg is None:
            raise EngineConfigError("engine: expected a mapping (a conf/engine/<name>.yaml node), got None")
        return to_dataclass(cls, cfg, "engine")

    def validate(self) -> None:
        """Check the combination of fields; raises :class:`EngineConfigError`."""
        if isinstance(self.devices, str) and self.devices != "auto":
            raise EngineConfigError(f"engine.devices must be a positive int or 'auto', got {self.devices!r}")
        if isinstance(self.devices, int) and self.devices < 1:
            raise EngineConfigError(f"engine.devices must be >= 1, got {self.devices}")
        if self.num_nodes < 1:
            raise EngineConfigError(f"engine.num_nodes must be >= 1, got {self.num_nodes}")
        if self.gradient_clipping is not None and self.gradient_clipping <= 0:
            raise EngineConfigError(
                f"engine.gradient_clipping must be > 0 or null (no clipping), got {self.gradient_clipping}"
            )
        if self.strategy == "deepspeed":
            if self.deepspeed is None:
                raise EngineConfigError("engine.strategy is 'deepspeed' but engine.deepspeed is missing")
            if self.accelerator == "cpu":
                raise EngineConfigError(
                    "engine.strategy 'deepspeed' needs CUDA (Lightning's DeepSpeed strategy refuses CPUs); "
                    "on CPU use engine=ddp or engine=cpu"
                )
            self.deepspeed.validate()
        elif self.deepspeed is not None:
            raise EngineConfigError(
                f"engine.deepspeed is set but engine.strategy is {self.strategy!r}; "
                "remove it or use strategy: deepspeed"
            )
        if self.strategy == "auto" and self.num_nodes > 1:
            raise EngineConfigError("engine.num_nodes > 1 needs a distributed strategy (ddp or deepspeed)")

    @property
    def processes(self) -> int:
        """How many processes the engine runs: devices x nodes (``auto`` devices count as one)."""
        return (self.devices if isinstance(self.devices, int) else 1) * self.num_nodes

    def require_one_process(self, what: str, fix: str) -> None:
        """Refuse to build ``what`` (a cache entry) under an engine of several processes.

        Every rank would try to build it, each behind the cache's file lock: rank 0 would train a
        distributed model while the others wait on the lock, a deadlock. Raises ``RuntimeError``
        naming ``what`` and the one-process command ``fix`` that builds it for every later run.
        """
        if self.processes > 1:
            raise OneProcessRequiredError(
                f"{what} is not built and engine {self.name!r} runs {self.processes} processes; "
                f"build it once in one process first (the cache is then shared): {fix}"
            )

    @property
    def is_zero3(self) -> bool:
        """True for DeepSpeed with ZeRO stage 3 (parameters partitioned across ranks)."""
        return self.strategy == "deepspeed" and self.deepspeed is not None and self.deepspeed.stage == 3

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for run directories and logs)."""
        return dataclasses.asdict(self)


def deepspeed_config(engine_cfg: EngineConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The DeepSpeed JSON (as a dict) for a ``strategy: deepspeed`` engine config.

    Carries the ZeRO section (stage, offload, buckets, 16-bit gather on save), bf16/fp16 from
    ``precision``, ``gradient_clipping``, the micro batch and accumulation, and permission to use
    torch optimizers (``zero_allow_untested_optimizer``; ``zero_force_ds_cpu_optimizer`` false so
    offload works without compiling DeepSpeed's CPU Adam). ``deepspeed.extra`` is merged last.
    """
    cfg = EngineConfig.from_cfg(engine_cfg)
    ds = cfg.deepspeed
    if ds is None:
        raise EngineConfigError(f"engine {cfg.name!r} has no deepspeed section (strategy {cfg.strategy!r})")
    zero: dict[str, Any] = {
        "stage": ds.stage,
        "overlap_comm": ds.overlap_comm,
        "contiguous_gradients": ds.contiguous_gradients,
        "reduce_bucket_size": ds.reduce_bucket_size,
        "sub_group_size": ds.sub_group_size,
    }
    if ds.stage == 3:
        zero.update(
            stage3_prefetch_bucket_size=ds.stage3_prefetch_bucket_size,
            stage3_param_persistence_threshold=ds.stage3_param_persistence_threshold,
            stage3_max_live_parameters=ds.stage3_max_live_parameters,
            stage3_max_reuse_distance=ds.stage3_max_reuse_distance,
            stage3_gather_16bit_weights_on_model_save=ds.stage3_gather_16bit_weights_on_model_save,
        )
    for key, device in (("offload_optimizer", ds.offload_optimizer), ("offload_param", ds.offload_param)):
        if device != "none":
            section: dict[str, Any] = {"device": device, "pin_memory": ds.pin_memory}
            if device == "nvme":
                section["nvme_path"] = ds.nvme_path
            zero[key] = section
    out: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": ds.train_micro_batch_size_per_gpu,
        "gradient_accumulation_steps": ds.gradient_accumulation_steps,
        "gradient_clipping": float(cfg.gradient_clipping or 0.0),
        "zero_optimization": zero,
        "zero_allow_untested_optimizer": ds.zero_allow_untested_optimizer,
        "zero_force_ds_cpu_optimizer": ds.zero_force_ds_cpu_optimizer,
        "bf16": {"enabled": cfg.precision.startswith("bf16")},
        "fp16": {"enabled": cfg.precision.startswith("16")},
        "steps_per_print": ds.steps_per_print,
        "wall_clock_breakdown": False,
    }
    _deep_merge(out, ds.extra)
    return out


# --------------------------------------------------------------------------- helpers


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
