"""``logger=wandb``: an offline wandb run per job (step metrics, config, images, tables), JSONL kept.

A 2-step GRPO run of ``+exp=t2ieval_r1_grpo`` (0.2M-parameter random Qwen2.5-VL, as in
``tests/test_behaviour_pins.py``) goes through :func:`experiments.run.execute`, the entry point's
body, with ``WANDB_MODE=offline`` and ``WANDB_SILENT``; the offline run is read back with a small
reader of wandb's record file (``run-<id>.wandb``: a LevelDB-style log of ``Record`` protobufs;
wandb 0.31 ships no Python reader) and checked with ``wandb sync --dry-run``. No network: offline
mode never contacts a server, and ``--dry-run`` uploads nothing.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.tracking import wandb_identity
from experiments.run import execute

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

TINY_VLM = (
    "text_hidden_size:64,text_intermediate_size:128,text_layers:2,text_heads:2,text_kv_heads:1,"
    "vision_hidden_size:32,vision_intermediate_size:64,vision_depth:1,vision_heads:2"
)


@pytest.fixture
def offline_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WANDB_MODE", "offline")  # conftest sets "disabled"
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb_dir"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def grpo(out: Path, *overrides: str) -> Path:
    """A 2-step GRPO run (the entry point's body, in process); returns its run directory."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "+exp=t2ieval_r1_grpo",
                f"paths.output_dir={out}",
                "runtime.progress=false",
                "runtime.threads=1",
                "corpus@task.train=world_quick",
                "task.train.n=4",
                "task.val=null",
                "task.model.kind=preset",
                "task.model.name=tiny_qwen2_5_vl",
                "~task.model.overrides",
                f"+task.model.overrides={{{TINY_VLM}}}",
                "task.grpo.steps=2",
                "task.grpo.batch_size=4",
                "task.grpo.micro_batch_size=4",
                "task.grpo.rollout.group_size=2",
                "task.grpo.rollout.max_new_tokens=4",
                "task.grpo.log_every=1",
                "task.grpo.eval_every=0",
                "task.export=false",
                "task.resume=never",
                "task.n_samples=4",
                *overrides,
            ],
        )
    run_dir = out / "run"
    execute(cfg, run_dir)
    return run_dir


def wandb_records(path: Path) -> Iterator[Any]:
    """The ``Record`` protobufs of a ``.wandb`` file: a 7-byte header (``:W&B``, magic, version),
    then 32 KiB blocks of chunks (CRC32, length, type: 1 full, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", "not a wandb record file"
    block, pos, chunk = 32768, 7, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:  # a chunk header never straddles a block: the rest is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pos += 7
        if kind == 0:  # zero padding
            pos += left - 7
            continue
        chunk += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b""
            yield record


def items(entries: Any) -> dict[str, Any]:
    """``{key: value}`` of a history / config / summary update list (nested keys joined by '.')."""
    return {(e.key or ".".join(e.nested_key)): json.loads(e.value_json) for e in entries}


def test_wandb_logger_writes_an_offline_run(tmp_path: Path, offline_wandb: None) -> None:
    run_dir = grpo(tmp_path, "logger=wandb", "logger.tags=[test]")

    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (record_file,) = offline.glob("run-*.wandb")
    records = list(wandb_records(record_file))
    kinds = [r.WhichOneof("record_type") for r in records]
    assert kinds[0] == "header" and "exit" in kinds, kinds

    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.project == "t2i-critics" and run.display_name == f"t2ieval_r1_grpo-{run_dir.name}"
    assert list(run.tags) == ["test"] and run.run_group == ""
    config = items(run.config.update)
    for r in records:
        if r.WhichOneof("record_type") == "config":
            config.update(items(r.config.update))
    assert config["exp_name"] == "t2ieval_r1_grpo"
    assert config["task"]["grpo"]["steps"] == 2 and config["logger"]["name"] == "wandb"

    rows = [items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    steps = [r for r in rows if "reward/total_mean" in r]
    assert [r["_step"] for r in steps] == [1, 2]
    assert [r["optim/lr"] for r in steps] == pytest.approx([2e-5, 4e-5])  # warm-up of lr 2e-4
    assert all("loss/policy" not in r for r in steps)  # None (no update without signal): not logged
    media = {k.split(".")[0]: v for r in rows for k, v in r.items() if k.endswith("._type")}
    assert media == {"samples/images": "image-file", "samples/completions": "table-file"}
    assert list((offline / "files" / "media" / "images").glob("samples/images_*.png"))
    assert list((offline / "files" / "media" / "table").glob("samples/completions_*.table.json"))
    summary: dict[str, Any] = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update(items(r.summary.update))
    assert summary["steps"] == 2

    # the JSONL log is still written, one line per step, and the run's own files
    logged = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2]
    assert logged[1]["reward/total_mean"] == steps[1]["reward/total_mean"]
    assert (run_dir / "metrics.json").is_file() and (run_dir / "samples.png").is_file()

    # the wandb CLI sees a run it would sync (--dry-run: nothing is uploaded)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cli = [sys.executable, "-c", "from wandb.cli.cli import cli; cli()", "sync"]
    assert subprocess.run([*cli, "--help"], env=env, capture_output=True, timeout=120).returncode == 0
    proc = subprocess.run(
        [*cli, "--dry-run", str(offline)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Would sync 1 run(s)" in proc.stdout + proc.stderr
    assert record_file.name in proc.stdout + proc.stderr


def test_jsonl_logger_makes_no_wandb_run(tmp_path: Path, offline_wandb: None) -> None:
    run_dir = grpo(tmp_path)  # logger=jsonl, the default
    assert not (run_dir / "wandb").exists()
    assert [json.loads(line)["step"] for line in (run_dir / "log.jsonl").read_text().splitlines()] == [1, 2]


def test_wandb_run_names_and_sweep_group(tmp_path: Path) -> None:
    assert wandb_identity("demo", tmp_path / "2026-01-01_00-00-00") == ("demo-2026-01-01_00-00-00", None)
    sweep = OmegaConf.create(
        {
            "mode": "RunMode.MULTIRUN",
            "sweep": {"dir": "out/multirun/demo/2026-01-01_00-00-00"},
            "job": {"num": 3},
        }
    )
    assert wandb_identity("demo", tmp_path / "3", sweep) == ("demo-3", "demo/2026-01-01_00-00-00")


def test_only_rank_zero_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.runtime import RunContext
    from common.tracking import RANK_VARIABLES

    for key in RANK_VARIABLES:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("LOCAL_RANK", "1")  # a second process of Lightning's launcher
    other = RunContext(run_dir=tmp_path / "rank1", cfg=OmegaConf.create({}))
    other.log({"loss": 1.0}, step=1)
    assert other.history == [{"step": 1, "loss": 1.0}] and not (tmp_path / "rank1" / "log.jsonl").exists()
    monkeypatch.setenv("LOCAL_RANK", "0")
    first = RunContext(run_dir=tmp_path / "rank0", cfg=OmegaConf.create({}))
    first.log({"loss": 1.0}, step=1)
    assert (tmp_path / "rank0" / "log.jsonl").read_text() == '{"step": 1, "loss": 1.0}\n'
