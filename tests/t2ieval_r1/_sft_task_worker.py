"""``python -m tests.t2ieval_r1._sft_task_worker <out> <engine> <batch_size> <meta_eval.json>``: the
SFT baseline experiment (``+exp=t2ieval_r1_sft_rationale`` on a SMALL model, 4 steps, meta-evaluated) through
:func:`experiments.run.execute`, the entry point's own path, in ``<out>/run``.

With ``engine=ddp`` the process the test starts is rank 0 and the task's Fabric starts rank 1 by
running this module again. Every process records its writes (:mod:`tests.write_audit`, when the
test sets its variables) and writes what ``execute`` returned to ``<out>/rank<r>.json``; after the
run, each rank asks :func:`common.engine.on_rank_zero` for work that fails on rank 0 and records
what it raised (``failure``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TRAIN = {"source": "world_quick", "kind": "single", "n": 8, "seed": 0}
SFT = {"lr": 3e-3, "steps": 4, "grad_accum": 1, "warmup_ratio": 0.0, "log_every": 1, "checkpoint_every": 2}


def task_config(out: Path, engine: str, batch_size: int, meta_eval: dict[str, Any]) -> Any:
    """The composed run config: the experiment with a SMALL preset model and a short SFT of
    ``batch_size`` examples per process and step (``ddp``: 2 processes, so 4 per process is the
    global batch of 8 that one process has with 8)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from tests.t2ieval_r1.conftest import SMALL_VLM

    overrides = [
        "+exp=t2ieval_r1_sft_rationale",
        f"paths.output_dir={out / 'outputs'}",
        f"paths.cache_dir={out / 'cache'}",
        "runtime.progress=false",
        "runtime.threads=1",
        f"engine={engine}",
    ]
    if engine == "ddp":
        overrides += ["engine.accelerator=cpu", "engine.devices=2"]
    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    with open_dict(cfg):
        cfg.task.train = TRAIN
        cfg.task.model.kind = "preset"
        cfg.task.model.overrides = dict(SMALL_VLM)
        cfg.task.sft = OmegaConf.merge(cfg.task.sft, {**SFT, "batch_size": batch_size})
        cfg.task.meta_eval = meta_eval
    return cfg


def _fail_on_rank_zero() -> None:
    raise OSError("disk full")


def main(out: Path, engine: str, batch_size: int, meta_eval_file: Path) -> None:
    from tests.write_audit import install

    install()
    from common.engine import global_rank, on_rank_zero
    from experiments.run import execute

    cfg = task_config(out, engine, batch_size, json.loads(meta_eval_file.read_text()))
    metrics = execute(cfg, out / "run")
    failure = None
    try:
        on_rank_zero(_fail_on_rank_zero)
    except Exception as err:  # what each rank saw: rank 0 its own error, the others RankZeroError
        failure = f"{type(err).__name__}: {err}"
    record = {"metrics": metrics, "failure": failure}
    (out / f"rank{global_rank()}.json").write_text(json.dumps(record, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
