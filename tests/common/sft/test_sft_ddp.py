"""SFT under DDP on CPU (2 gloo processes): ranks split the step's batch, the loss every rank
reports is the single-process token-mean loss of the same global batch (reduced over the ranks),
and a single process refuses to continue the 2-process run's checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from common.sft import SFTTrainer
from tests.common.engine._launch import REPO, free_port, worker_env
from tests.common.sft.test_sft import examples, small_bundle, tiny_cfg

pytestmark = pytest.mark.distributed


def test_ddp_sft_matches_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    env = worker_env({"MASTER_PORT": str(free_port())})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.common.sft._ddp_worker", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and ranks[0]["global_batch"] == 4
    w0, w1 = (torch.load(tmp_path / f"weights_rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)  # DDP kept the ranks in step

    single = SFTTrainer(
        small_bundle(),
        examples(8),
        tiny_cfg(steps=2, batch_size=2, grad_accum=2),
        tmp_path / "one",
        progress=False,
    ).fit()
    one = [rec["loss"] for rec in single["history"]]
    for rank in ranks:  # every rank reports the whole global batch's loss, not its own share
        assert rank["losses"] == pytest.approx(one, rel=1e-5, abs=1e-5)
        assert [rec["loss"] for rec in rank["history"]] == pytest.approx(one, rel=1e-5, abs=1e-5)
    before = small_bundle().model.state_dict()
    assert any(not torch.equal(before[k], w0[k]) for k in before)

    # the same settings in one process (global batch 4 too): the 2-process checkpoint is refused
    with pytest.raises(ValueError, match=r"processes 2 -> 1") as err:
        SFTTrainer(
            small_bundle(), examples(8), tiny_cfg(steps=3, batch_size=2, grad_accum=2), tmp_path / "work"
        ).fit()
    assert "engine ddp -> single" in str(err.value) and "task.resume=never" in str(err.value)
