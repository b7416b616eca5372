"""The engine: Lightning Fabric from ``conf/engine/{cpu,ddp,zero3,zero3_offload}.yaml`` and ZeRO-3 helpers.

Trainers write one loop; the engine config decides whether it runs in one CPU process, under DDP
(gloo on CPU, nccl on GPUs) or under DeepSpeed ZeRO-3 (CUDA through Lightning). The ZeRO-3 helpers
(:func:`sharded_init`, :func:`gathered_parameters`, :func:`save_checkpoint`,
:func:`load_checkpoint`) are no-ops or plain torch when nothing is sharded, and also accept a
``DeepSpeedEngine`` built by ``deepspeed.initialize`` directly (how they are tested on CPU with gloo).
DeepSpeed is imported lazily: the cpu and ddp engines never load it.

Several processes: :func:`on_rank_zero` runs a run's writes, exports and evaluations once (the
other ranks wait), :func:`export_pretrained` is the one ZeRO-3-safe export of a trained bundle,
and :func:`training_layout` / :func:`check_resume_layout` keep a checkpoint from being continued
under another engine, world size or global batch (:mod:`common.engine.layout`).
"""

from common.engine.checkpoint import (
    consolidated_state_dict,
    export_pretrained,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from common.engine.config import (
    DeepSpeedOptions,
    EngineConfig,
    EngineConfigError,
    deepspeed_config,
)
from common.engine.distributed import (
    ClusterInfo,
    RankZeroError,
    barrier,
    detect_cluster,
    global_rank,
    is_distributed,
    is_global_zero,
    local_rank,
    on_rank_zero,
    reduce_over_ranks,
    slurm_job,
    world_size,
)
from common.engine.fabric import build_fabric, build_strategy, clip_gradients, setup_model_and_optimizer
from common.engine.layout import ResumeMismatchError, check_resume_layout, engine_kind, training_layout
from common.engine.zero import (
    find_deepspeed_engine,
    gathered_parameters,
    init_deepspeed_distributed,
    is_partitioned,
    is_zero3,
    partition_numel,
    prepare_deepspeed,
    sharded_init,
    unwrap_model,
)

__all__ = [
    "ClusterInfo",
    "DeepSpeedOptions",
    "EngineConfig",
    "EngineConfigError",
    "RankZeroError",
    "ResumeMismatchError",
    "barrier",
    "build_fabric",
    "build_strategy",
    "check_resume_layout",
    "clip_gradients",
    "consolidated_state_dict",
    "deepspeed_config",
    "detect_cluster",
    "engine_kind",
    "export_pretrained",
    "find_deepspeed_engine",
    "gathered_parameters",
    "global_rank",
    "init_deepspeed_distributed",
    "is_distributed",
    "is_global_zero",
    "is_partitioned",
    "is_zero3",
    "load_checkpoint",
    "local_rank",
    "on_rank_zero",
    "partition_numel",
    "prepare_deepspeed",
    "read_checkpoint",
    "reduce_over_ranks",
    "save_checkpoint",
    "setup_model_and_optimizer",
    "sharded_init",
    "slurm_job",
    "training_layout",
    "unwrap_model",
    "world_size",
]
