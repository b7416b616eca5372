"""The Hydra entry point: experiment list on bad input, run directory layout on success."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m experiments.run <args>`` from the repository root (``env``: the process's
    environment, default this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_without_experiment_lists_them_and_fails() -> None:
    proc = run_cli()
    assert proc.returncode == 2
    assert "No experiment chosen" in proc.stderr
    assert "hello" in proc.stderr


def test_every_experiment_is_listed_with_a_whole_sentence() -> None:
    from experiments.run import available_experiments

    exps = available_experiments()
    assert len(exps) == len(list((Path(__file__).parents[1] / "conf" / "exp").glob("*.yaml")))
    cut = {name: desc for name, desc in exps.items() if not desc.endswith(".") or "  " in desc}
    assert cut == {}
    assert exps["t2ieval_r1_sft_scores"].endswith("then meta-evaluation.")


def test_unknown_experiment_lists_them_and_fails() -> None:
    proc = run_cli("+exp=does_not_exist")
    assert proc.returncode == 2
    assert "Unknown experiment(s): does_not_exist" in proc.stderr


def test_run_writes_config_and_metrics(tmp_path: Path) -> None:
    proc = run_cli("+exp=hello", f"paths.output_dir={tmp_path}", "task.message=hi there", "seed=7")
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "runs" / "hello").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == {"message": "hi there", "scale": "tiny", "seed": 7}
    config = (run_dir / "config.yaml").read_text()
    assert "message: hi there" in config and "seed: 7" in config
    assert (run_dir / "log.jsonl").read_text().strip() == '{"step": 0, "message_length": 8}'


def test_hydra_run_dir_override(tmp_path: Path) -> None:
    proc = run_cli("+exp=hello", f"hydra.run.dir={tmp_path}/mine")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mine" / "metrics.json").exists()


def test_a_bad_config_value_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    proc = run_cli("+exp=firm_gen_rl", "critic=oracle", "task.rl.group_size=1", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: " in proc.stderr and "group_size must be >= 2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_checkpoint_and_an_unreachable_server_say_what_to_do_in_one_line(tmp_path: Path) -> None:
    """Errors whose message names the cause and the fix (common.config.ActionableError) end the run
    with that message and exit code 2, not a traceback; run.json records them."""
    missing = run_cli(
        "+exp=t2ieval_r1_meta_eval", "task.evaluator=/nonexistent/ckpt", f"hydra.run.dir={tmp_path}/missing"
    )
    assert missing.returncode == 2, missing.stderr[-2000:]
    assert "error: task.evaluator: model source path '/nonexistent/ckpt' does not exist" in missing.stderr
    assert "give a saved evaluator directory" in missing.stderr and "Traceback" not in missing.stderr

    down = run_cli(
        "+exp=t2ieval_r1_meta_eval",
        "task.evaluator={base_url: 'http://127.0.0.1:9/v1', model: x}",
        "task.limit=1",
        "task.select=[tifa]",
        f"hydra.run.dir={tmp_path}/down",
    )
    assert down.returncode == 2, down.stderr[-2000:]
    assert "error: chat-completions endpoint http://127.0.0.1:9/v1" in down.stderr
    assert "Is the server running" in down.stderr and "Traceback" not in down.stderr
    meta = json.loads((tmp_path / "down" / "run.json").read_text())
    assert meta["status"] == "failed" and "AnnotatorUnavailableError" in meta["error"]


def test_a_missing_value_is_one_line_naming_its_key(tmp_path: Path) -> None:
    # conf/corpus/t2i_eval_distill.yaml leaves the file to the user (path: ???)
    proc = run_cli("+exp=t2ieval_r1_grpo", "corpus@task.train=t2i_eval_distill", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: no value for task.train.path" in proc.stderr and "Traceback" not in proc.stderr


def test_a_failed_job_of_a_local_sweep_does_not_stop_the_others(tmp_path: Path) -> None:
    """In a ``-m`` sweep an error that says what to do is printed for its job, and the next jobs
    still run (the sweep exits non-zero at the end, as Hydra reports a failed job)."""
    proc = run_cli("-m", "+exp=hello", "task.message=???,hi", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode != 0
    assert "error: no value for task.message" in proc.stderr
    assert not (tmp_path / "0" / "metrics.json").exists()
    assert json.loads((tmp_path / "1" / "metrics.json").read_text())["message"] == "hi"
