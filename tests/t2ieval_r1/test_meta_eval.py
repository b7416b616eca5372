"""Meta-evaluation: known correlations from hand-built completions, the oracle, a random tiny model
(through the command line), an endpoint, saved checkpoints, real-format sources and bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from common.annotators import OpenAICompatibleAnnotator, TransformersVLMAnnotator
from common.runtime import RunSettings
from common.scoring import PredictionsFormatError
from t2ieval_r1.data import DataFormatError, load_corpus
from t2ieval_r1.evaluate import (
    BenchmarkSpec,
    EvaluatorSpecError,
    build_evaluator,
    load_benchmark,
    parse_prediction,
    read_completions,
)
from t2ieval_r1.evaluate.benchmarks import limit_corpus
from t2ieval_r1.evaluate.units import build_units
from t2ieval_r1.tasks.meta_eval import benchmark_specs, run
from tests.common.annotators.chat_server import ChatServer
from tests.t2ieval_r1.conftest import small_vlm
from tests.t2ieval_r1.meta_eval_fixtures import (
    ASPECTS,
    SIZES,
    SMALL_PRESET,
    run_cfg,
    run_ctx,
    small_benchmarks,
)

ROOT = Path(__file__).resolve().parents[2]


def specs(root: Path) -> dict[str, BenchmarkSpec]:
    return {n: BenchmarkSpec.from_config(n, node) for n, node in small_benchmarks(root).items()}


def completion(score: Any, think: str = "nothing .") -> str:
    return f"<think> {think} </think> <answer> {score} </answer>"


def filled(values: list[float | None]) -> np.ndarray:
    valid = [v for v in values if v is not None]
    return np.array([np.mean(valid) if v is None else v for v in values])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_hand_built_predictions_give_the_known_correlations(world_root: Path, tmp_path: Path) -> None:
    sp = specs(world_root)
    t2i = build_units(load_benchmark(sp["t2i_eval"]))
    tifa = build_units(load_benchmark(sp["tifa"]))
    pairs = build_units(load_benchmark(sp["imagereward"]))
    lines: list[dict[str, Any]] = []
    expected_intrinsic: list[float | None] = []
    for k, u in enumerate(t2i):
        assert u.label is not None
        if u.aspect == "overall":
            text = completion(u.label)  # the labels themselves: rho = tau = 1
        elif u.aspect == "appearance":
            text = completion(round(10 - u.label, 4))  # reversed: rho = tau = -1
        elif u.aspect == "intrinsic":  # every other prediction fails to parse -> mean-filled
            bad = k % 2 == 0
            text = "<think> nothing . </think>" if bad else completion(round(u.label**0.5, 4))
            expected_intrinsic.append(None if bad else round(u.label**0.5, 4))
        else:  # relationship: one answer off the 0-10 scale, one with two numbers
            text = (
                completion(11) if k % 6 == 2 else completion("3 , 4") if k % 6 == 4 else completion(u.label)
            )
        lines.append({"benchmark": "t2i_eval", "key": u.key, "completion": text})
    for u in tifa[:-1]:  # the last TIFA item has no line at all
        lines.append({"benchmark": "tifa", "key": u.key, "completion": completion(u.label)})
    side_score = {
        ("a", "a"): 8,
        ("a", "b"): 2,
        ("b", "a"): 2,
        ("b", "b"): 8,
        ("tie", "a"): 5,
        ("tie", "b"): 5,
    }
    for u in pairs:
        lines.append(
            {
                "benchmark": "imagereward",
                "key": u.key,
                "completion": completion(side_score[u.preference, u.side]),
            }
        )
    path = tmp_path / "hand.jsonl"
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))

    m = run(
        run_cfg(tmp_path),
        run_ctx(tmp_path / "run"),
        predictions=str(path),
        benchmarks=small_benchmarks(world_root),
        n_resamples=200,
    )
    a = m["benchmarks"]["t2i_eval"]["aspects"]
    assert a["overall"]["spearman"] == pytest.approx(1.0) and a["overall"]["kendall"] == pytest.approx(1.0)
    assert a["appearance"]["spearman"] == pytest.approx(-1.0) and a["appearance"]["kendall"] == pytest.approx(
        -1.0
    )
    human = [u.label for u in t2i if u.aspect == "intrinsic"]
    x = filled(expected_intrinsic)
    assert a["intrinsic"]["n_missing"] == 3 and a["intrinsic"]["n"] == 6
    assert a["intrinsic"]["fill_value"] == pytest.approx(
        np.mean([v for v in expected_intrinsic if v is not None])
    )
    assert a["intrinsic"]["spearman"] == pytest.approx(stats.spearmanr(x, human).statistic)
    assert a["intrinsic"]["kendall"] == pytest.approx(stats.kendalltau(x, human).statistic)
    assert a["intrinsic"]["pearson"] == pytest.approx(stats.pearsonr(x, human).statistic)
    lo, hi = a["intrinsic"]["spearman_ci"]
    assert lo <= a["intrinsic"]["spearman"] <= hi
    assert a["relationship"]["parse"]["failures"] == {"conflicting_values": 1, "out_of_range": 1}
    assert a["intrinsic"]["parse"]["failures"] == {"malformed": 3}
    assert m["benchmarks"]["tifa"]["aspects"]["faithfulness"]["n_missing"] == 1
    assert m["benchmarks"]["tifa"]["parse"]["failures"] == {"no_completion": 1}
    p = m["benchmarks"]["imagereward"]["pairs"]
    n_ties = sum(u.preference == "tie" for u in pairs) // 2
    assert p["n_pairs"] == SIZES["imagereward"]["test"] and p["n_human_ties"] == n_ties
    assert p["accuracy"] == 1.0 and p["accuracy_with_ties"] == 1.0 and p["n_filled_scores"] == 0
    assert m["summary"]["t2i_eval/overall/spearman"] == pytest.approx(1.0)
    assert m["summary"]["imagereward/accuracy"] == 1.0
    # every think block is "nothing ." on scenes with objects: one false "empty" fact each (the TIFA
    # item without a completion has no rationale and no fact)
    assert (
        m["rationale"]["accuracy"] == 0.0 and m["rationale"]["n_facts"] == m["rationale"]["n_rationales"] - 1
    )


def test_oracle_evaluator_mean_fills_failures_and_writes_true_rationales(
    world_root: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    m = run(
        run_cfg(tmp_path),
        run_ctx(run_dir),
        evaluator={"oracle": {"fail_share": 0.3, "noise": 0.8}},
        benchmarks=small_benchmarks(world_root),
        n_resamples=100,
    )
    records = read_jsonl(run_dir / "predictions.jsonl")
    assert len(records) == 6 * 4 + 6 + 9 * 2
    for aspect in ASPECTS:
        recs = [r for r in records if r["benchmark"] == "t2i_eval" and r["aspect"] == aspect]
        preds = [r["prediction"] for r in recs]
        res = m["benchmarks"]["t2i_eval"]["aspects"][aspect]
        assert (
            res["n_missing"]
            == sum(p is None for p in preds)
            == sum(r["failure"] == "malformed" for r in recs)
        )
        if res["n_missing"] in (0, len(preds)):
            continue
        assert res["fill_value"] == pytest.approx(np.mean([p for p in preds if p is not None]))
        assert res["spearman"] == pytest.approx(
            stats.spearmanr(filled(preds), [r["label"] for r in recs]).statistic
        )
    assert sum(r["failure"] is not None for r in records) > 0
    assert m["rationale"]["accuracy"] == 1.0 and m["rationale"]["unparseable_share"] == 0.0
    assert m["rationale"]["object_recall"] == 1.0
    p = m["benchmarks"]["imagereward"]["pairs"]
    assert p["n_filled_scores"] == sum(
        r["prediction"] is None for r in records if r["benchmark"] == "imagereward"
    )
    assert 0.0 <= p["accuracy_ci"][0] <= p["accuracy"] <= p["accuracy_ci"][1] <= 1.0
    assert m["evaluator"]["kind"] == "oracle" and m["schema"] == "t2ieval_r1.meta_eval/1"
    for name in ("meta_eval.md", "meta_eval.csv", "meta_eval.tex", "results_table.md"):
        assert (run_dir / name).is_file()
    assert "| t2i_eval    | overall" in (run_dir / "meta_eval.md").read_text()


def test_pairwise_prompt_mode(world_root: Path, tmp_path: Path) -> None:
    """The oracle's exact truths through the pairwise prompt: accuracy = truth vs the raters."""
    m = run(
        run_cfg(tmp_path),
        run_ctx(tmp_path / "run"),
        evaluator="oracle",
        benchmarks=small_benchmarks(world_root),
        select=["imagereward"],
        pair_mode="pair",
        n_resamples=0,
    )
    ds = load_benchmark(specs(world_root)["imagereward"])
    metas = [json.loads(x) for x in ds["meta"]]
    truth = [np.sign(mt["truth_a"] - mt["truth_b"]) for mt in metas]
    human = [{"a": 1, "b": -1, "tie": 0}[p] for p in ds["preference"]]
    nontie = [i for i, h in enumerate(human) if h != 0]
    p = m["benchmarks"]["imagereward"]["pairs"]
    assert p["pair_mode"] == "pair" and m["benchmarks"]["imagereward"]["parse"]["n"] == len(ds)
    assert p["accuracy"] == pytest.approx(np.mean([truth[i] == human[i] for i in nontie]))
    assert p["accuracy_with_ties"] == pytest.approx(
        np.mean([t == h for t, h in zip(truth, human, strict=True)])
    )
    assert "accuracy_ci" not in p
    assert m["rationale"] is None  # pairwise rationales are not checked


def test_random_tiny_model_end_to_end_from_the_command_line(world_root: Path, tmp_path: Path) -> None:
    overrides = ", ".join(f"{k}: {v}" for k, v in SMALL_PRESET["overrides"].items())
    args = [
        "+exp=t2ieval_r1_meta_eval",
        f"paths.output_dir={tmp_path}",
        "runtime.threads=1",
        "runtime.progress=false",
        f"task.evaluator={{kind: preset, name: tiny_qwen2_5_vl, overrides: {{{overrides}}}}}",
        "task.limit=3",
        "task.max_tokens=12",
        "task.n_resamples=20",
        "seed=4",
    ]
    for name in ("t2i_eval", "tifa", "imagereward"):
        sizes = ", ".join(f"{k}: {v}" for k, v in SIZES[name].items())
        args += [
            f"+task.benchmarks.{name}.corpus.root={world_root}",
            f"+task.benchmarks.{name}.corpus.sizes={{{sizes}}}",
        ]
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs" / "t2ieval_r1_meta_eval").iterdir()
    m = json.loads((run_dir / "metrics.json").read_text())
    records = read_jsonl(run_dir / "predictions.jsonl")
    assert len(records) == 3 * 4 + 3 + 3 * 2
    assert m["seed"] == 4 and m["evaluator"]["kind"] == "preset"
    for name, bench in m["benchmarks"].items():
        mine = [r for r in records if r["benchmark"] == name]
        assert bench["parse"]["n"] == len(mine)
        assert bench["parse"]["n_failed"] == sum(r["failure"] is not None for r in mine)
        assert sum(bench["parse"]["failures"].values()) == bench["parse"]["n_failed"]
        for aspect, res in (bench.get("aspects") or {}).items():
            failed = [r for r in mine if r["aspect"] == aspect and r["failure"] is not None]
            assert res["n_missing"] == len(failed) and res["n"] == 3
    # an untrained model never writes the format: everything fails, nothing crashes
    assert m["summary"]["t2i_eval/parse_failure_rate"] > 0.5
    assert m["benchmarks"]["imagereward"]["pairs"]["n_pairs"] == 3
    assert m["rationale"]["n_rationales"] == 3 * 4 + 3
    assert "Meta-evaluation of preset" in proc.stdout and (run_dir / "config.yaml").is_file()


def test_endpoint_evaluator(world_root: Path, tmp_path: Path) -> None:
    def answer(text: str, key: str) -> str:
        return completion(int(key[:4], 16) % 5 + 1, "a red circle at the top left")

    with ChatServer(answer=answer) as server:
        spec = {"base_url": server.base_url, "model": "served-evaluator", "max_retries": 0}
        m = run(
            run_cfg(tmp_path),
            run_ctx(tmp_path / "run"),
            evaluator=spec,
            benchmarks=small_benchmarks(world_root),
            select=["tifa"],
            n_resamples=0,
        )
        assert len(server.received) == SIZES["tifa"]["test"]
        body = server.bodies[0]
    assert body["model"] == "served-evaluator" and body["temperature"] == 0.0 and body["max_tokens"] == 128
    assert body["messages"][0]["content"][0]["type"] == "image_url"
    res = m["benchmarks"]["tifa"]["aspects"]["faithfulness"]
    assert res["n_missing"] == 0 and res["parse"]["format_rate"] == 1.0
    assert m["evaluator"]["kind"] == "endpoint" and m["evaluator"]["name"] == "served-evaluator"
    assert m["rationale"]["n_facts"] == SIZES["tifa"]["test"]
    # answered again from the response cache: no request reaches a server (there is none now)
    again = run(
        run_cfg(tmp_path),
        run_ctx(tmp_path / "run2"),
        evaluator=spec,
        benchmarks=small_benchmarks(world_root),
        select=["tifa"],
        n_resamples=0,
    )
    assert again["summary"] == m["summary"]


def test_saved_checkpoint_keeps_its_training_run(tmp_path: Path) -> None:
    train_run = tmp_path / "runs" / "t2ieval_r1_grpo" / "x"
    small_vlm(seed=1).save_pretrained(train_run / "evaluator")
    (train_run / "config.yaml").write_text("exp_name: t2ieval_r1_grpo\nseed: 3\n")
    annotator, info = build_evaluator(
        str(train_run / "evaluator"), RunSettings.from_config(run_cfg(tmp_path)), max_tokens=7, batch_size=2
    )
    assert isinstance(annotator, TransformersVLMAnnotator) and annotator.batch_size == 2
    assert annotator.default_params["max_tokens"] == 7 and annotator.default_params["temperature"] == 0.0
    assert info.kind == "checkpoint" and info.name == "x"
    assert info.source_run == {"run_dir": str(train_run), "exp_name": "t2ieval_r1_grpo", "seed": 3}
    # a pretrained base's cached directory (it holds card.json) is a base, not a checkpoint
    base = tmp_path / "bases" / "tiny_qwen2_5_vl-0123"
    small_vlm().save_pretrained(base)
    (base / "card.json").write_text(json.dumps({"name": "tiny_qwen2_5_vl"}))
    _, info = build_evaluator(str(base), RunSettings.from_config(run_cfg(tmp_path)))
    assert (info.kind, info.name, info.source_run) == ("base", "tiny_qwen2_5_vl", None)
    annotator, info = build_evaluator(
        {"base_url": "http://127.0.0.1:1/v1", "model": "m"}, RunSettings.from_config(run_cfg(tmp_path))
    )
    assert isinstance(annotator, OpenAICompatibleAnnotator) and info.kind == "endpoint"
    assert annotator.cache is not None and str(tmp_path / "cache") in str(annotator.cache.path)


def test_tifa_human_source_with_images(tmp_path: Path) -> None:
    from t2ieval_r1.benchmarks.tifa import TIFA_METRICS

    doc = {}
    for i, avg in enumerate((1.5, 4.0, 3.0)):
        key = f"coco_{i}_mini_dalle"
        doc[key] = {
            "text_id": f"coco_{i}",
            "image_path": f"{key}.jpg",
            "text": f"a photo number {i}",
            "human_scores": [avg, avg],
            "human_avg": avg,
            **{metric: 0.5 for metric in TIFA_METRICS},
        }
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(tmp_path / f"{key}.jpg")
    path = tmp_path / "tifa.json"
    path.write_text(json.dumps(doc))
    ds = load_corpus({"source": "tifa_human", "path": str(path), "image_root": str(tmp_path)})
    assert ds["score"] == [1.5, 4.0, 3.0] and set(ds["aspect"]) == {"faithfulness"}
    assert (ds[0]["scale_lo"], ds[0]["scale_hi"]) == (1.0, 5.0) and ds[0]["image"].size == (16, 16)
    (tmp_path / "coco_2_mini_dalle.jpg").unlink()
    with pytest.raises(DataFormatError, match=r"1 of 3 images .* not under"):
        load_corpus({"source": "tifa_human", "path": str(path), "image_root": str(tmp_path)})
    with pytest.raises(DataFormatError, match="set `image_root`"):
        load_corpus({"source": "tifa_human"})


def test_limit_keeps_the_same_items_for_every_aspect(world_root: Path) -> None:
    ds = load_corpus(small_benchmarks(world_root)["t2i_eval"]["corpus"])
    cut = limit_corpus(ds, 2)
    assert len(cut) == 8
    items = {
        a: [i.split(":")[0] for i, asp in zip(cut["id"], cut["aspect"], strict=True) if asp == a]
        for a in ASPECTS
    }
    assert all(v == items["overall"] for v in items.values()) and len(items["overall"]) == 2
    with pytest.raises(ValueError, match="limit must be >= 1"):
        limit_corpus(ds, 0)


@pytest.mark.parametrize(
    ("text", "policy", "value", "failure", "well_formed"),
    [
        ("<think> x </think> <answer> 7 </answer>", "lenient", 7.0, None, True),
        ("<think> x </think> <answer> 7 </answer> trailing", "lenient", 7.0, None, False),
        ("<think> x </think> <answer> 7 </answer> trailing", "strict", None, "malformed", False),
        ("a red circle at the top", "lenient", None, "malformed", False),
        ("<think> x </think> <answer> 12 </answer>", "lenient", None, "out_of_range", True),
        ("<think> x </think> <answer> none </answer>", "lenient", None, "no_number", True),
    ],
)
def test_answer_policies(text: str, policy: str, value: Any, failure: Any, well_formed: bool) -> None:
    p = parse_prediction(text, "single", (0.0, 10.0), policy)
    assert (p.value, p.failure, p.well_formed) == (value, failure, well_formed)
    pair = parse_prediction("<think> a </think> <answer> 6 , 2 </answer>", "pair", (0.0, 10.0))
    assert pair.value == (6.0, 2.0) and pair.think == "a"
    assert parse_prediction(None, "single", (0.0, 10.0), error="HTTP 400").failure == "request_error"


def test_bad_inputs_are_reported_clearly(world_root: Path, tmp_path: Path) -> None:
    with pytest.raises(EvaluatorSpecError, match="empty string"):
        build_evaluator("  ")
    with pytest.raises(EvaluatorSpecError, match="give a model source"):
        build_evaluator({"name": "tiny_qwen2_5_vl"})
    with pytest.raises(EvaluatorSpecError, match="unknown keys"):
        build_evaluator({"kind": "preset", "name": "tiny_qwen2_5_vl", "colour": 1})
    with pytest.raises(EvaluatorSpecError, match="kind 'weights' is unknown"):
        build_evaluator({"kind": "weights", "name": "tiny_qwen2_5_vl"})
    with pytest.raises(EvaluatorSpecError, match="unknown kind 'weights'"):
        build_evaluator("weights:tiny_qwen2_5_vl")
    with pytest.raises(EvaluatorSpecError, match="needs `model`"):
        build_evaluator({"base_url": "http://127.0.0.1:1/v1"})
    with pytest.raises(EvaluatorSpecError, match="does not exist"):
        build_evaluator(str(tmp_path / "runs" / "x" / "evaluator"))
    with pytest.raises(EvaluatorSpecError, match="must be a string"):
        build_evaluator(3)
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchmark_specs(small_benchmarks(world_root), ["t2i_eval", "geneval"])
    with pytest.raises(ValueError, match="kind must be one of"):
        BenchmarkSpec.from_config("x", {"kind": "ranking", "corpus": {"source": "world"}})
    with pytest.raises(ValueError, match=r"task\.benchmarks\.x: unknown key\(s\) \['size'\]"):
        BenchmarkSpec.from_config("x", {"kind": "pairwise", "corpus": {"source": "world"}, "size": 3})
    with pytest.raises(ValueError, match=r"task\.benchmarks\.x\.corpus: missing"):
        BenchmarkSpec.from_config("x", {"kind": "pairwise"})
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"benchmark": "tifa", "key": "a", "completion": "x"}) + "\n" + json.dumps({"key": "b"})
    )
    with pytest.raises(PredictionsFormatError, match=r"bad.jsonl:2: field 'benchmark'"):
        read_completions(path)
    with pytest.raises(ValueError, match="correlation benchmark but its corpus is pairwise"):
        bad = small_benchmarks(world_root)
        bad["imagereward"]["kind"] = "correlation"
        run(
            run_cfg(tmp_path),
            run_ctx(tmp_path / "r"),
            evaluator="oracle",
            benchmarks=bad,
            select=["imagereward"],
        )
