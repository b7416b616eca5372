"""Both curation pipelines end to end with the world oracle: datasets, histograms, rejections."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from datasets import load_from_disk

from common.annotators import WorldOracleAnnotator
from common.parsing import parse_score
from common.world.captions import parse_caption
from firm.curation.assemble import RejectionLog, histogram_table, score_histogram
from firm.curation.edit import _score_request, both_images_text, curate_edit, sample_edit_items
from firm.curation.gen import _eval_request, curate_gen, sample_gen_items
from firm.curation.validate import validate_quality
from firm.prompts.edit import DESCRIBE_BOTH_FIRST
from firm.prompts.gen import DESCRIBE_FIRST
from tests.firm.conftest import run_experiment

ROOT = Path(__file__).resolve().parents[2]


def rejected_ids(out: Path) -> dict[str, set[str]]:
    by_subset: dict[str, set[str]] = defaultdict(set)
    lines = (out / "rejected.jsonl").read_text().splitlines()
    for line in lines:
        rec = json.loads(line)
        assert rec["reason"] and rec["stage"]
        by_subset[rec["dataset"]].add(rec["id"])
    return by_subset


def test_gen_curation_with_a_noisy_sloppy_oracle(tmp_path: Path) -> None:
    metrics, _ = run_experiment(
        "firm_gen_curate", tmp_path, "task.n_prompts=60", "annotator.malformed_rate=0.08", "seed=5"
    )
    out = Path(metrics["out_dir"])
    inst, qual = load_from_disk(str(out / "instruction")), load_from_disk(str(out / "quality"))
    assert len(inst) == metrics["rows"]["instruction"] and len(qual) == metrics["rows"]["quality"]
    rejected = rejected_ids(out)
    assert metrics["rejected_total"] == sum(map(len, rejected.values())) > 0
    assert len(inst) + len(rejected["instruction"]) == 60 and len(qual) + len(rejected["quality"]) == 60
    assert not rejected["instruction"] & set(inst["id"]) and not rejected["quality"] & set(qual["id"])
    assert inst[0]["image"].size == (128, 128)
    for row in inst:
        assert parse_score(row["response"], 1, 5) == row["score"] and row["plan"].startswith("[Main Subject")
    for row in qual:
        assert validate_quality(row["response"]).value == {
            k: row[k] for k in ("aesthetics", "quality", "structure")
        }
    hist = score_histogram(inst["score"])
    assert metrics["histogram"]["instruction"] == hist
    card = (out / "README.md").read_text()
    assert (
        histogram_table([("FIRM-Gen (world, this run)", "Instruction following", hist)]).splitlines()[2]
        in card
    )
    assert "FIRM-Gen-293K (published)" in card
    assert metrics["agreement"]["instruction"]["mae"] < 0.3


def test_edit_curation_with_rebalancing(tmp_path: Path) -> None:
    metrics, _ = run_experiment(
        "firm_edit_curate",
        tmp_path,
        "task.n_examples=40",
        "task.mismatch_share=0.25",
        "annotator.malformed_rate=0.08",
    )
    out = Path(metrics["out_dir"])
    ex, co = load_from_disk(str(out / "execution")), load_from_disk(str(out / "consistency"))
    rejected = rejected_ids(out)
    n_mis = metrics["mismatched"]
    assert 8 <= n_mis <= 10 and metrics["mismatch_share_realised"] == n_mis / 40
    assert len(ex) + len(rejected["execution"]) == 40
    assert len(co) + len(rejected["consistency"]) == 40 - n_mis
    assert not any(co["mismatch"]) and sum(1 for m in ex["mismatch"] if m) >= n_mis - len(
        rejected["execution"]
    )
    for row in ex:
        assert parse_score(row["response"], 1, 5) == row["score"]
        assert "## Obvious differences" in row["report"] and "## Detailed differences" in row["report"]
        assert (row["instruction"] != row["original_instruction"]) == bool(row["mismatch"])
    card = (out / "README.md").read_text()
    for dim in ("Execution", "Consistency"):
        assert f"| FIRM-Edit-370K (published) | {dim} |" in card
        assert f"| FIRM-Edit (world, this run) | {dim} |" in card
    assert metrics["histogram"]["execution"] == score_histogram(ex["score"])
    assert metrics["agreement"]["consistency"]["mae"] < 0.4


@pytest.mark.parametrize("exp", ["firm_edit_curate"])
def test_command_line(exp: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "experiments.run",
            f"+exp={exp}",
            f"paths.output_dir={tmp_path}",
            "task.n_examples=12",
            "runtime.progress=false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / exp).iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "datasets" / "firm_edit" / "README.md").exists()
    assert metrics["rows"]["execution"] + sum(metrics["rejected"].get("execution", {}).values()) == 12
    assert "| FIRM-Edit (world, this run) | Execution |" in proc.stdout


def test_described_answers_start_with_the_drawn_scene(tmp_path: Path) -> None:
    """``describe_image``: the evaluator is asked to say what the image shows first, and the
    oracle's answer starts with the caption of the scene actually drawn; off, neither."""
    items = sample_gen_items(12, 3, level="basic")
    off, on = (
        curate_gen(
            items, WorldOracleAnnotator(), RejectionLog(tmp_path / f"{flag}.jsonl"), describe_image=flag
        )
        for flag in (False, True)
    )
    assert len(on["instruction"]) == len(off["instruction"]) == 12
    by_id = {it.id: it for it in items}
    for plain, described in zip(off["instruction"], on["instruction"], strict=True):
        truth = by_id[described["id"]].truth
        assert truth is not None and (parse_caption(truth.description) or truth.description == "nothing .")
        head, _, rest = described["response"].partition("\n\n")
        assert head == f"The image shows {truth.description}" and rest == plain["response"]
        assert described["score"] == plain["score"]
    prompt = _eval_request(items[0], "[Main Subject/Element]\n- x", describe_image=True).messages[-1]
    text = " ".join(c["text"] for c in prompt["content"] if c.get("type") == "text")
    assert DESCRIBE_FIRST.strip() in text and text.startswith(DESCRIBE_FIRST)
    plain_prompt = _eval_request(items[0], "[Main Subject/Element]\n- x").messages[-1]
    assert DESCRIBE_FIRST.strip() not in " ".join(c.get("text", "") for c in plain_prompt["content"])


def test_described_edit_reasoning_starts_with_both_captions(tmp_path: Path) -> None:
    """``describe_images``: the judge is asked to describe both images first, and the oracle's
    reasoning starts with the captions of the source and the result; scores do not change."""
    items = sample_edit_items(10, 2, level="basic")
    oracle = WorldOracleAnnotator()
    off, on = (
        curate_edit(items, oracle, RejectionLog(tmp_path / f"{flag}.jsonl"), describe_images=flag)
        for flag in (False, True)
    )
    by_id = {it.id: it for it in items}
    for dim in ("execution", "consistency"):
        assert len(on[dim]) == len(off[dim]) > 0
        for plain, described in zip(off[dim], on[dim], strict=True):
            truth = by_id[described["id"]].truth
            assert truth is not None and described["score"] == plain["score"]
            seen = both_images_text(truth)
            assert described["reasoning"] == f"{seen} {plain['reasoning']}"
            assert seen.startswith("The original image shows") and " The edited image shows " in seen
    request = _score_request(items[0], "execution", "report", describe_images=True)
    text = " ".join(c["text"] for c in request.messages[-1]["content"] if c.get("type") == "text")
    assert text.startswith(DESCRIBE_BOTH_FIRST)
