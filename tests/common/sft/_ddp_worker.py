"""``python -m tests.common.sft._ddp_worker <out>``: 2 steps of SFT under DDP (2 gloo CPU processes).

Rank 0 is started by the test; ``fabric.launch()`` starts rank 1. Each rank writes the losses
it reports (the hooks' and the history's: the whole global batch's token-mean loss) and its final
weights; the checkpoint stays in ``<out>/work``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch


def main(out: Path) -> None:
    from common.sft import SFTTrainer
    from common.train import make_fabric
    from tests.common.engine._workers import engine_cfg
    from tests.common.sft.test_sft import examples, small_bundle, tiny_cfg

    fabric = make_fabric(engine_cfg("ddp", accelerator="cpu", devices=2))
    losses: list[float] = []
    trainer = SFTTrainer(
        small_bundle(),
        examples(8),
        tiny_cfg(steps=2, batch_size=1, grad_accum=2),
        out / "work",
        fabric=fabric,
        progress=False,
        hooks=[lambda step, loss: losses.append(loss)],
    )
    result = trainer.fit()
    rank = fabric.global_rank
    torch.save(trainer.bundle.model.state_dict(), out / f"weights_rank{rank}.pt")
    record = {
        "rank": rank,
        "world": fabric.world_size,
        "losses": losses,
        "history": result["history"],
        "global_batch": result["global_batch"],
    }
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    fabric.barrier()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
