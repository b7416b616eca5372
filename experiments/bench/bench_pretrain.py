"""Time the tiny bases' pretraining from scratch (``python -m experiments.bench pretrain``).

Builds every base of ``conf/pretrain`` with its default budget into a fresh temporary cache (the
project cache is left alone), with ``T2I_THREADS`` torch threads (default 1), and reports per
base the wall time split (data pool, training, evaluation), seconds per step, the machine's load
average (other processes make every number slower) and the card's headline quality numbers.
``T2I_BENCH_BASES=tiny_sd3,tiny_editor`` limits the bases; ``T2I_BENCH_STEPS=N`` overrides the
step budget (a quick timing run: the quality numbers are then not the bases').
Takes about 25 minutes on one idle core with the default budgets.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from common.models.pretrain import available_bases, ensure_base, read_card
from common.models.pretrain.tasks import headline
from common.runtime import RunSettings, set_threads


def main() -> dict[str, Any]:
    import torch
    from omegaconf import OmegaConf

    threads = set_threads(int(os.environ.get("T2I_THREADS", "1")))
    chosen = [b for b in os.environ.get("T2I_BENCH_BASES", "").split(",") if b] or available_bases()
    steps = os.environ.get("T2I_BENCH_STEPS")
    overrides = {"steps": int(steps)} if steps else None
    out: dict[str, Any] = {"threads": threads, "torch": torch.__version__, "bases": {}}
    with tempfile.TemporaryDirectory(prefix="bench_pretrain_") as tmp:
        cfg = OmegaConf.create({"paths": {"cache_dir": tmp}, "runtime": {"progress": False}})
        for name in chosen:
            load_before = os.getloadavg()[0]
            start = time.perf_counter()
            card = read_card(ensure_base(name, RunSettings.from_config(cfg), overrides=overrides))
            t = card["training"]
            out["bases"][name] = {
                "wall_s": round(time.perf_counter() - start, 1),
                "data_s": t["data_s"],
                "train_s": t["train_s"],
                "eval_s": t["eval_s"],
                "s_per_step": round(t["train_s"] / max(t["steps"], 1), 3),
                "load_average_before": round(load_before, 2),
                "load_average_after": round(os.getloadavg()[0], 2),
                **{k: v for k, v in headline(card).items() if k not in ("train_s", "wall_s")},
            }
    out["total_s"] = round(sum(b["wall_s"] for b in out["bases"].values()), 1)
    return out
