"""The paper-style table from metrics.json files written by the meta-evaluation task itself."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from common.jsonio import write_json_atomic
from t2ieval_r1.evaluate import BenchmarkSpec, load_benchmark
from t2ieval_r1.tables import (
    PUBLISHED_SOURCE,
    build_table_from_runs,
    load_runs,
    main,
    run_result,
    seed_interval,
)
from t2ieval_r1.tasks.meta_eval import run
from tests.t2ieval_r1.meta_eval_fixtures import run_cfg, run_ctx, small_benchmarks

KEY = "t2i_eval/overall/spearman"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four task runs: "GRPO continuous" with seeds 0 and 1, a base, and a method of another name.

    The evaluator is the noisy world oracle, whose noise is seeded by the run's seed, so the two
    seeds give different numbers, as two training seeds would.
    """
    tmp = tmp_path_factory.mktemp("tables")
    root = tmp / "world"
    for name, node in small_benchmarks(root).items():
        load_benchmark(BenchmarkSpec.from_config(name, node))
    plan = {
        "grpo_s0": ({"oracle": {"noise": 1.5}}, 0, "GRPO continuous"),
        "grpo_s1": ({"oracle": {"noise": 1.5}}, 1, "GRPO continuous"),
        "base": ({"oracle": {"noise": 4.0, "fail_share": 0.3}}, 0, None),
        "mine": ({"oracle": {"noise": 0.5}}, 0, "my evaluator"),
    }
    out = {}
    for name, (evaluator, seed, method) in plan.items():
        run_dir = tmp / "runs" / name
        metrics = run(
            run_cfg(tmp),
            run_ctx(run_dir, seed),
            evaluator=evaluator,
            benchmarks=small_benchmarks(root),
            method=method,
            n_resamples=50,
        )
        write_json_atomic(run_dir / "metrics.json", metrics)  # what experiments.run does with it
        out[name] = run_dir
    return out


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())["summary"]


def test_table_rows_cells_and_intervals(runs: dict[str, Path], tmp_path: Path) -> None:
    table = build_table_from_runs(
        [
            ("my evaluator", runs["mine"]),
            ("GRPO continuous", runs["grpo_s1"]),
            ("GRPO continuous", runs["grpo_s0"]),
            ("base zero-shot", runs["base"]),
        ],
        out=tmp_path / "table",
    )
    assert table.methods == ["base zero-shot", "GRPO continuous", "my evaluator"]
    cell = table.cells["GRPO continuous"][KEY]
    values = [summary(runs["grpo_s0"])[KEY], summary(runs["grpo_s1"])[KEY]]
    assert values[0] != values[1]
    assert cell.seeds == [0, 1] and cell.values == pytest.approx(values)
    assert cell.mean == pytest.approx(np.mean(values))
    assert cell.half_width == pytest.approx(stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / math.sqrt(2))
    assert cell.text() == f"{np.mean(values):.3f} ± {cell.half_width:.3f}"
    base = table.cells["base zero-shot"]["imagereward/accuracy"]
    assert base.half_width is None and base.text() == f"{summary(runs['base'])['imagereward/accuracy']:.3f}"
    assert table.cells["base zero-shot"]["rationale/accuracy"].mean == 1.0  # the oracle's captions

    md = (tmp_path / "table.md").read_text()
    assert md == table.markdown()
    assert "| Overall rho" in md and "| IR acc (ties)" in md and "Rationale acc" in md
    published = [line for line in md.splitlines() if PUBLISHED_SOURCE in line]
    assert len(published) == 9
    minicpm = next(line for line in published if "MiniCPM-V-2.6" in line)
    assert "0.580" in minicpm and "0.441" in minicpm
    grpo = next(line for line in md.splitlines() if line.startswith("| GRPO continuous"))
    assert "reproduced (world)" in grpo and f"{cell.mean:.3f} ± {cell.half_width:.3f}" in grpo

    csv = (tmp_path / "table.csv").read_text().splitlines()
    assert csv[0] == "method,column,key,mean,half_width,n_seeds,seeds,values,n_undefined_as_zero"
    row = next(line for line in csv if line.startswith(f"GRPO continuous,Overall rho,{KEY},"))
    assert row.endswith(f",2,0 1,{values[0]!r} {values[1]!r},0")
    doc = json.loads((tmp_path / "table.json").read_text())
    assert doc["methods"]["GRPO continuous"][KEY]["values"] == pytest.approx(values)
    assert "\\begin{tabular}" in (tmp_path / "table.tex").read_text()


def test_default_labels_seeds_and_errors(runs: dict[str, Path], tmp_path: Path) -> None:
    loaded = load_runs({"GRPO continuous": [str(runs["grpo_s0"].parent / "grpo_s*")]})
    assert [r.seed for r in loaded] == [0, 1]
    (unlabelled,) = load_runs([(None, runs["mine"])])
    assert unlabelled.method == "my evaluator"  # the run's own task.method
    with pytest.raises(ValueError, match="two runs with seed 0"):
        load_runs([("x", runs["grpo_s0"]), ("x", runs["base"])])
    with pytest.raises(FileNotFoundError, match=r"no metrics\.json"):
        load_runs([("x", tmp_path)])
    (tmp_path / "metrics.json").write_text(json.dumps({"rows": 3}))
    with pytest.raises(ValueError, match=r"not a meta-evaluation metrics\.json"):
        load_runs([("x", tmp_path)])
    with pytest.raises(FileNotFoundError, match="no run directory matches"):
        load_runs([("x", str(tmp_path / "nothing*"))])

    metrics = json.loads((runs["base"] / "metrics.json").read_text())
    metrics["evaluator"] = {
        "kind": "checkpoint",
        "name": "x",
        "source_run": {"exp_name": "t2ieval_r1_grpo_discrete", "seed": 5},
    }
    r = run_result(metrics)
    assert (r.method, r.seed) == ("GRPO discrete", 5)
    metrics["evaluator"] = {"kind": "base", "name": "tiny_qwen2_5_vl"}
    assert run_result(metrics).method == "base zero-shot"


def test_command_line(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pattern = str(runs["grpo_s0"].parent / "grpo_s*")
    assert (
        main(
            [
                "--run",
                f"GRPO continuous={pattern}",
                "--run",
                str(runs["mine"]),
                "--out",
                str(tmp_path / "t"),
                "--no-published",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| GRPO continuous" in out and "| my evaluator" in out and PUBLISHED_SOURCE not in out
    assert (tmp_path / "t.md").is_file() and (tmp_path / "t.json").is_file()


def test_seed_interval() -> None:
    mean, hw = seed_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and hw == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert seed_interval([0.4]) == (0.4, None)
    assert seed_interval([]) == (None, None)
    assert seed_interval([0.2, float("nan"), 0.4])[0] == pytest.approx(0.3)
    _, hw90 = seed_interval([1.0, 2.0, 3.0], confidence=0.9)
    assert hw90 == pytest.approx(2.919986 / math.sqrt(3), rel=1e-6)


def test_an_undefined_correlation_counts_as_zero_and_is_marked() -> None:
    """A seed whose evaluator answers one score everywhere ranks nothing: 0, not left out."""
    from t2ieval_r1.tables import RunResult, build_results_table

    runs = [
        RunResult("GRPO continuous", 0, None, {KEY: None, "imagereward/accuracy": 0.5}),
        RunResult("GRPO continuous", 1, None, {KEY: 0.3, "imagereward/accuracy": None}),
        RunResult("GRPO continuous", 2, None, {KEY: float("nan")}),
    ]
    table = build_results_table(runs, published=False)
    cell = table.cells["GRPO continuous"][KEY]
    assert cell.values == [0.0, 0.3, 0.0] and cell.seeds == [0, 1, 2] and cell.undefined == 2
    assert cell.mean == pytest.approx(0.1) and "(2 of 3 constant: 0)" in cell.text()
    accuracy = table.cells["GRPO continuous"]["imagereward/accuracy"]  # not a correlation: left out
    assert accuracy.values == [0.5] and accuracy.undefined == 0
