"""One rank of the warm-up deadlock test: ``ensure_warmup`` under a 2-process ddp engine.

Usage: ``python -m tests.t2ieval_r1._warmup_worker OUT START CACHE``. Writes ``OUT/rank<r>.json``
with the warm-up's path, or the error it raised.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from common.runtime import RunSettings
from t2ieval_r1.sft import WarmupSpec, ensure_warmup

DDP = {"name": "ddp", "devices": 2, "strategy": "ddp", "process_group_backend": "gloo"}
SPEC = {
    "corpus": {"source": "world_quick", "kind": "single", "n": 8, "seed": 0},
    "sft": {"lr": 3e-3, "steps": 6, "batch_size": 4, "warmup_ratio": 0.0},
}


def main(out: Path, start: Path, cache: Path) -> None:
    rank = int(os.environ["RANK"])
    settings = RunSettings.from_config({"paths": {"cache_dir": str(cache)}, "engine": DDP})
    try:
        found = {"path": str(ensure_warmup(start, WarmupSpec.from_dict(SPEC), settings, progress=False))}
    except RuntimeError as err:
        found = {"error": str(err)}
    (out / f"rank{rank}.json").write_text(json.dumps(found))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
