"""The T2I-Eval-R1 SFT baseline on 2 gloo processes through :func:`experiments.run.execute`: the
losses it reports are those of one process on the same global batch, rank 0 alone writes the run
files, the exported evaluator and the meta-evaluation (the other rank waits and gets the same
numbers), and one process refuses to continue the 2-process run's checkpoint (same settings hash,
another world size and global batch). The worker: :mod:`tests.t2ieval_r1._sft_task_worker`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments.run import execute
from tests import write_audit
from tests.common.engine._launch import free_port, run_workers, worker_env
from tests.t2ieval_r1._sft_task_worker import task_config
from tests.t2ieval_r1.test_training_tasks import meta_eval_params

pytestmark = pytest.mark.distributed
WORKER = "tests.t2ieval_r1._sft_task_worker"
WRITTEN_ONCE = (
    ("config.yaml",),
    ("run.json",),
    ("metrics.json",),
    ("log.jsonl",),
    ("evaluator", "config.json"),  # the export
    ("meta_eval", "metrics.json"),  # the meta-evaluation
    ("meta_eval", "predictions.jsonl"),
)
"""Files of the run directory (as path parts) that one process, of rank 0, writes."""


def _losses(run_dir: Path) -> list[float]:
    lines = (run_dir / "log.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if '"loss"' in line]


@pytest.fixture(scope="module")
def runs(world_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The 2-process run (audited) and the same global batch in one process."""
    out = tmp_path_factory.mktemp("sft_task_ddp")
    params = out / "meta_eval.json"
    params.write_text(json.dumps(meta_eval_params(world_root)))
    env = worker_env({"MASTER_PORT": str(free_port()), **write_audit.environment(out, out / "audit")})
    finished = run_workers(
        [str(out), "ddp", "4", str(params)], [env], out / "logs", timeout=300, module=WORKER
    )
    finished.check()
    finished.require([out / "rank0.json", out / "rank1.json"])
    one = tmp_path_factory.mktemp("sft_task_one")
    single = execute(task_config(one, "cpu", 8, meta_eval_params(world_root)), one / "run")
    return {
        "out": out,
        "ranks": [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)],
        "writes": write_audit.read(out / "audit"),
        "single": single,
        "single_dir": one / "run",
        "params": meta_eval_params(world_root),
    }


def test_the_reported_losses_are_the_one_process_ones(runs: dict[str, Any]) -> None:
    single = runs["single"]["train"]
    assert runs["single"]["train"]["global_batch"] == 8 and single["steps"] == 4
    one = _losses(runs["single_dir"])
    assert len(one) == 4
    assert _losses(runs["out"] / "run") == pytest.approx(one, rel=1e-5, abs=1e-5)
    for rank in runs["ranks"]:
        train = rank["metrics"]["train"]
        assert train["global_batch"] == 8
        assert train["first_loss"] == pytest.approx(single["first_loss"], rel=1e-5, abs=1e-5)
        assert train["final_loss"] == pytest.approx(single["final_loss"], rel=1e-5, abs=1e-5)


def test_rank_zero_alone_writes_the_run_files_the_export_and_the_meta_evaluation(
    runs: dict[str, Any],
) -> None:
    out, writes = runs["out"], runs["writes"]
    run_dir = out / "run"
    assert writes.by_rank(1, out) == ["rank1.json"]  # rank 1 ran, and wrote nothing of the run
    for parts in WRITTEN_ONCE:
        writers = writes.writers(run_dir.joinpath(*parts))
        assert len(writers) == 1 and {rank for _, rank in writers} == {0}, (parts, writers)
    saved = json.loads((run_dir / "metrics.json").read_text())
    r0, r1 = (rank["metrics"] for rank in runs["ranks"])
    assert saved["meta_eval"]["summary"] == r0["meta_eval"]["summary"] == r1["meta_eval"]["summary"]


def test_a_failure_on_rank_zero_reaches_the_waiting_rank(runs: dict[str, Any]) -> None:
    r0, r1 = (rank["failure"] for rank in runs["ranks"])
    assert r0 == "OSError: disk full"
    assert r1 == "RankZeroError: rank 0 failed in _fail_on_rank_zero: OSError: disk full"


def test_one_process_refuses_the_two_process_checkpoint(runs: dict[str, Any]) -> None:
    out = runs["out"]
    cfg = task_config(out, "cpu", 4, runs["params"])  # the settings hash of the 2-process run
    with pytest.raises(ValueError, match=r"processes 2 -> 1; global batch 8 -> 4") as err:
        execute(cfg, out / "run_cpu")
    assert "task.checkpoint_dir" in str(err.value) and "engine=" in str(err.value)
    assert not (out / "run_cpu" / "metrics.json").exists()
