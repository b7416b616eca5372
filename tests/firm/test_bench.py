"""FIRM-Bench: MAE per column with the missing-answer policy, seeds, acceptance, and the experiment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from common.models.tiny import build_tiny_vlm
from common.runtime import RunSettings
from firm.bench import (
    COLUMNS,
    JudgeItem,
    JudgeSpec,
    aggregate,
    beats,
    build_judges,
    score_column,
    score_columns,
)
from firm.bench.report import PUBLISHED
from firm.prompts.rm import RMVerdict
from tests.common.annotators.chat_server import ChatServer
from tests.common.models.conftest import SMALL_VLM
from tests.firm.conftest import run_experiment


def verdict(score: float | None) -> RMVerdict:
    return RMVerdict(score, None, None, "", None if score is not None else "score_missing")


def items(*scores: float, mode: str = "execution") -> list[JudgeItem]:
    return [JudgeItem(f"i{k}", mode, [{"role": "user", "content": "x"}], s) for k, s in enumerate(scores)]


def test_mae_with_mean_fill_midpoint_fallback_and_drop() -> None:
    its = items(5, 1, 3, 4)
    res = score_column([verdict(4), verdict(None), verdict(3), verdict(5)], its)
    # the missing one is filled with the mean of 4, 3, 5 = 4: |4-5| + |4-1| + 0 + |5-4| = 5
    assert res.mae == pytest.approx(5 / 4) and res.n_missing == 1 and res.fill_value == pytest.approx(4.0)
    assert res.failures == {"score_missing": 1}
    dropped = score_column([verdict(4), verdict(None), verdict(3), verdict(5)], its, policy="drop")
    assert dropped.mae == pytest.approx(2 / 3) and dropped.n_used == 3
    assert res.spearman == pytest.approx(0.316227766)  # filled 4, 4, 3, 5 against 5, 1, 3, 4 (scipy)
    assert res.to_dict()["spearman"] == res.spearman
    nothing = score_column([verdict(None)] * 4, its)
    assert nothing.spearman is None  # constant predictions: no ranking
    assert nothing.fill_value == 3.0 and nothing.mae == pytest.approx((2 + 2 + 0 + 1) / 4)
    with pytest.raises(ValueError, match="missing"):
        score_column([verdict(None)] * 4, its, policy="error")
    with pytest.raises(ValueError, match="unknown missing-answer policy"):
        score_column([verdict(1)] * 4, its, policy="zero")


def test_overall_pools_the_items_of_its_columns() -> None:
    ex, co = items(5, 5, 5), items(1, 2, mode="consistency")
    out = score_columns(
        {"Edit exec": [verdict(4)] * 3, "Edit cons": [verdict(1), verdict(1)]},
        {"Edit exec": ex, "Edit cons": co},
    )
    assert out["Edit exec"].mae == 1.0 and out["Edit cons"].mae == 0.5
    assert out["Edit overall"].mae == pytest.approx((3 * 1.0 + 2 * 0.5) / 5)  # item-weighted, as the paper
    assert "Gen overall" not in out


def test_the_best_constant_is_the_median_and_the_margin_is_relative() -> None:
    from firm.bench.metrics import best_constant_columns
    from firm.bench.report import below

    ex, co = items(1, 2, 2, 5), items(4, 4, 5, mode="consistency")
    floor = best_constant_columns({"Edit exec": ex, "Edit cons": co})
    assert floor["Edit exec"].mae == pytest.approx((1 + 0 + 0 + 3) / 4)  # median 2
    assert floor["Edit cons"].mae == pytest.approx(1 / 3)  # median 4
    assert floor["Edit overall"].mae == pytest.approx((4 + 1) / 7)  # each column its own constant
    assert floor["Edit exec"].spearman is None  # a constant does not rank
    other = [1.5, 2.5, 2.0, 4.0]  # no constant does better than the median: a few shifted constants
    assert all(np.abs(np.full(4, c) - np.array([1, 2, 2, 5])).mean() >= floor["Edit exec"].mae for c in other)
    agg = lambda v: {"Edit exec": {"mean": v}}  # noqa: E731
    assert below(agg(0.8), agg(1.0)) == {"Edit exec": pytest.approx(0.2)}
    assert below(agg(1.5), agg(1.0))["Edit exec"] == pytest.approx(-0.5)


def test_seeds_aggregate_and_the_acceptance_check() -> None:
    seeds = [
        {"Edit exec": {"mae": m, "n_missing": k, "n": 10, "spearman": r}}
        for m, k, r in ((0.5, 1, 0.2), (0.7, 0, None), (0.6, 2, 0.4))
    ]
    agg = aggregate(seeds)
    assert agg["Edit exec"]["spearman_per_seed"] == [0.2, None, 0.4]
    assert agg["Edit exec"]["spearman_mean"] == pytest.approx(0.3)  # over the seeds where it is defined
    assert agg["Edit exec"]["mean"] == pytest.approx(0.6) and agg["Edit exec"]["n_missing"] == 3
    assert agg["Edit exec"]["std"] == pytest.approx(float(np.std([0.5, 0.7, 0.6])))
    base = {"Edit exec": {"mean": 0.65, "per_seed": [0.65]}}
    check = beats(agg, base)
    assert check["Edit exec"] == {"reference": 0.65, "all_seeds": False, "mean": True}
    assert not check["all_columns_all_seeds"]
    assert beats(agg, {"Edit exec": {"mean": 0.9, "per_seed": [0.9]}})["all_columns_all_seeds"]


def test_judge_rows_are_checked() -> None:
    rows = build_judges(
        rm_edit=["a", "b"], rm_gen=["c"], endpoints=[{"name": "api", "base_url": "u", "model": "m"}]
    )
    assert [r.name for r in rows] == ["base (zero-shot)", "FIRM RM (ours)", "api"]
    assert rows[1].seeds() == 2 and rows[2].seeds() == 1
    with pytest.raises(ValueError, match="no model source"):
        JudgeSpec("empty")
    with pytest.raises(ValueError, match="unique"):
        build_judges(base=True, models=[{"name": "base (zero-shot)", "edit": ["x"]}])


def critic_answer(text: str, key: str) -> str:
    """A fixed critic: execution 4, consistency unreadable, instruction 2 (tiny-template prompts)."""
    if "evaluate execution" in text:
        return json.dumps({"reasoning": "the change was done", "score": 4})
    if "evaluate consistency" in text:
        return "i am not sure"
    return "main subject : yes . final alignment rating : 2 \\boxed{2}"


def test_firm_bench_experiment_with_an_endpoint_and_in_process_models(tmp_path: Path) -> None:
    model = tmp_path / "random_rm"
    build_tiny_vlm("qwen3_vl", seed=0, **SMALL_VLM).save_pretrained(model)
    n = 4
    with ChatServer(answer=critic_answer) as server:
        endpoint = f"{{name: critic, base_url: '{server.base_url}', model: canned, max_retries: 0}}"
        metrics, ctx = run_experiment(
            "firm_bench",
            tmp_path,
            "task.base=false",
            f"task.max_items={n}",
            f"task.endpoints=[{endpoint}]",
            f"task.rm_edit=[{model},{model}]",
            f"task.rm_gen=[{model},{model}]",
            "task.max_tokens={execution: 6, consistency: 6, instruction: 6}",
            "task.compare_to=critic",
            "task.world_scale=0.05",
            f"paths.cache_dir={tmp_path / 'cache'}",
        )
    assert len(server.received) == 4 * n  # each column's items once
    critic = metrics["per_seed"]["critic"][0]

    from common.world.benchmarks import load_world_dataset

    cfg = RunSettings.from_config({"paths": {"cache_dir": str(tmp_path / "cache")}})
    assert metrics["level"] == "basic"  # the default world level reached the task
    edit = load_world_dataset(cfg, "firm_bench_edit", scale=0.05, level="basic")
    gen = load_world_dataset(cfg, "firm_bench_gen", scale=0.05, level="basic")["test"]
    ex = np.array(edit["execution"]["score"][:n], dtype=float)
    co = np.array(edit["consistency"]["score"][:n], dtype=float)
    easy = np.array(
        [s for s, d in zip(gen["score"], gen["difficulty"], strict=True) if d == "easy"][:n], float
    )
    assert critic["Edit exec"]["mae"] == pytest.approx(np.abs(4 - ex).mean())
    assert critic["Edit cons"]["mae"] == pytest.approx(np.abs(3 - co).mean())  # none parsed: midpoint
    assert critic["Edit cons"]["n_missing"] == n and critic["Edit exec"]["n_missing"] == 0
    assert critic["Gen easy"]["mae"] == pytest.approx(np.abs(2 - easy).mean())
    assert critic["Edit overall"]["mae"] == pytest.approx(
        (np.abs(4 - ex).sum() + np.abs(3 - co).sum()) / (2 * n)
    )

    ours = metrics["results"]["FIRM RM (ours)"]
    assert set(ours) == set(COLUMNS) and all(len(v["per_seed"]) == 2 for v in ours.values())
    assert ours["Edit exec"]["per_seed"][0] == ours["Edit exec"]["per_seed"][1]  # the same model twice
    assert set(metrics["acceptance"]["FIRM RM (ours)"]) >= set(COLUMNS)
    report = (ctx.run_dir / "firm_bench.md").read_text()
    for name in PUBLISHED:
        assert f"{name} (published)" in report
    assert "FIRM RM (ours) (mean of 2 seeds)" in report and "Unparseable answers" in report
    floor = metrics["results"]["best constant (median of the human scores)"]
    assert floor["Edit exec"]["mean"] == pytest.approx(np.abs(np.median(ex) - ex).mean())
    assert "best constant (median of the human scores)" not in metrics["acceptance"]  # a floor
    margin = metrics["below_best_constant"]["critic"]["Edit exec"]
    assert margin == pytest.approx(1 - critic["Edit exec"]["mae"] / floor["Edit exec"]["mean"])
    assert "## MAE below the best constant" in report
    assert all((ctx.run_dir / f"firm_bench_mae.{ext}").is_file() for ext in ("md", "csv", "tex"))
    lines = (ctx.run_dir / "predictions" / "critic" / "0.jsonl").read_text().splitlines()
    assert len(lines) == 4 * n and {"id", "column", "pred", "human", "error"} <= set(json.loads(lines[0]))
