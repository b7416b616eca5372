"""The meta-evaluation's score readouts: the expected score sees what a mode-collapsed judge's
written answers hide, both readouts come out of one predictions file, and a backend without
log-probs falls back to the written score (counted)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from common.annotators.types import ChatRequest, ChatResponse
from t2ieval_r1.tasks.meta_eval import run
from tests.t2ieval_r1.meta_eval_fixtures import run_cfg, run_ctx, small_benchmarks


class ModeJudge:
    """A scripted peer: writes the middle of the scale for every item, and puts more probability
    on the score above it the better the item truly is (what a GRPO-trained tiny judge does)."""

    name = "mode-judge"
    model = "mode-judge"

    def __init__(self) -> None:
        self.params: list[dict[str, Any]] = []

    @staticmethod
    def p_up(request: ChatRequest) -> float:
        lo, hi = request.meta["scale"]
        truth = float(request.meta["truth"])
        return 0.05 + 0.4 * (truth - lo) / (hi - lo)

    def complete(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        out = []
        for r in requests:
            self.params.append(dict(r.params))
            lo, hi = r.meta["scale"]
            mode = round((lo + hi) / 2)
            up = self.p_up(r)
            alternatives = [
                {"token": str(mode), "logprob": math.log(1 - up)},
                {"token": str(mode + 1), "logprob": math.log(up)},
            ]
            logprobs = [
                {"token": "<answer>", "logprob": 0.0, "top_logprobs": []},
                {"token": str(mode), "logprob": math.log(1 - up), "top_logprobs": alternatives},
                {"token": "</answer>", "logprob": 0.0, "top_logprobs": []},
            ]
            text = f"<think> nothing . </think> <answer> {mode} </answer>"
            out.append(ChatResponse(text=text, model=self.model, logprobs=logprobs))
        return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_expected_readout_ranks_what_the_written_answers_cannot(world_root: Path, tmp_path: Path) -> None:
    judge = ModeJudge()
    run_dir = tmp_path / "expected"
    m = run(
        run_cfg(tmp_path),
        run_ctx(run_dir),
        evaluator=judge,
        benchmarks=small_benchmarks(world_root),
        n_resamples=0,
    )
    assert all(p == {"logprobs": True, "top_logprobs": 20} for p in judge.params)
    records = read_jsonl(run_dir / "predictions.jsonl")
    overall = [r for r in records if r["benchmark"] == "t2i_eval" and r["aspect"] == "overall"]
    assert {r["answer"] for r in overall} == {5.0}
    assert all(r["prediction"] == r["expected"] and 5.0 < r["expected"] < 6.0 for r in overall)
    res = m["benchmarks"]["t2i_eval"]["aspects"]["overall"]
    want = stats.spearmanr([r["expected"] for r in overall], [r["label"] for r in overall]).statistic
    assert res["spearman"] == pytest.approx(want) and not np.isnan(want)
    assert m["benchmarks"]["t2i_eval"]["readout"] == {
        "name": "expected",
        "n_expected": 24,
        "n_answer_fallback": 0,
    }
    assert (
        m["benchmarks"]["imagereward"]["pairs"]["n_pred_ties"]
        < m["benchmarks"]["imagereward"]["pairs"]["n_pairs"]
    )

    # The same completions with the written score: one score for every item ranks nothing.
    again = tmp_path / "answer"
    a = run(
        run_cfg(tmp_path),
        run_ctx(again),
        predictions=str(run_dir / "predictions.jsonl"),
        benchmarks=small_benchmarks(world_root),
        readout="answer",
        n_resamples=0,
    )
    assert a["summary"]["t2i_eval/overall/spearman"] is None or np.isnan(
        a["summary"]["t2i_eval/overall/spearman"]
    )
    assert a["benchmarks"]["t2i_eval"]["readout"]["name"] == "answer"
    pairs = a["benchmarks"]["imagereward"]["pairs"]
    assert pairs["n_pred_ties"] == pairs["n_pairs"]
    assert all(
        r["prediction"] == 5.0
        for r in read_jsonl(again / "predictions.jsonl")
        if r["benchmark"] == "t2i_eval"
    )
    # ... and the expected readout is recovered from the file, without the judge.
    b = run(
        run_cfg(tmp_path),
        run_ctx(tmp_path / "expected_again"),
        predictions=str(run_dir / "predictions.jsonl"),
        benchmarks=small_benchmarks(world_root),
        n_resamples=0,
    )
    assert b["summary"]["t2i_eval/overall/spearman"] == pytest.approx(want)


def test_a_backend_without_logprobs_keeps_the_written_score(world_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "oracle"
    m = run(
        run_cfg(tmp_path),
        run_ctx(run_dir),
        evaluator={"oracle": {"noise": 0.5}},
        benchmarks=small_benchmarks(world_root),
        n_resamples=0,
    )
    readout = m["benchmarks"]["t2i_eval"]["readout"]
    assert (
        readout["n_expected"] == 0
        and readout["n_answer_fallback"] == m["benchmarks"]["t2i_eval"]["parse"]["n"]
    )
    assert all(
        r["prediction"] == r["answer"] and r["expected"] is None
        for r in read_jsonl(run_dir / "predictions.jsonl")
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"readout": "mode"}, r"task\.readout must be one of"),
        ({"top_logprobs": 0}, r"task\.top_logprobs must be in 1-20"),
    ],
)
def test_a_bad_readout_is_named(
    world_root: Path, tmp_path: Path, setting: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run(
            run_cfg(tmp_path),
            run_ctx(tmp_path / "r"),
            evaluator="oracle",
            benchmarks=small_benchmarks(world_root),
            **setting,
        )
