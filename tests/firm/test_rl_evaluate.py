"""Held-out evaluation of FIRM's online RL (firm/rl/evaluate.py): checker numbers, paired gains
(firm/rl/eval_stats.py), the report table and the contact sheet (firm/rl/eval_report.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from common.world.vocab import GENEVAL_TAGS
from firm.rl.eval_report import GAP, LABEL_HEIGHT, before_after_sheet, plot_curves, report_table
from firm.rl.eval_stats import paired_gain, summarize
from firm.rl.evaluate import HELD_OUT_SEED, HeldOut, blank_sampler, copy_source_sampler
from firm.rl.items import training_items


@pytest.fixture(scope="module")
def gen_heldout() -> HeldOut:
    return HeldOut("gen", n_prompts=48, noise_seeds=(0, 1))


@pytest.fixture(scope="module")
def gen_runs(gen_heldout: HeldOut) -> dict:
    """Blank images as the start, ground-truth renders as the end (and the ceiling)."""
    return {"start": gen_heldout.evaluate(blank_sampler(32)), "end": gen_heldout.ceiling()}


@pytest.fixture(scope="module")
def edit_heldout() -> HeldOut:
    return HeldOut("edit", n_prompts=36, noise_seeds=(0,))


def synthetic(n_prompts: int, p: float, seed: int, *, kind: str = "gen", tags=GENEVAL_TAGS[:3]) -> list[dict]:
    """Records of ``n_prompts`` prompts x 2 seeds whose ``strict`` is true with probability ``p``."""
    rng = np.random.default_rng(seed)
    return [
        {
            "pair": f"g-{i}@{s}",
            "item": f"g-{i}",
            "kind": kind,
            "prompt": f"prompt {i}",
            "tag": tags[i % len(tags)],
            "strict": bool(rng.random() < p),
        }
        for i in range(n_prompts)
        for s in (0, 1)
    ]


def test_held_out_set_is_seeded_and_distinct_from_training(gen_heldout: HeldOut) -> None:
    assert gen_heldout.n_pairs == 96
    assert HeldOut("gen", 240, (0, 1)).n_pairs == 480
    again = HeldOut("gen", n_prompts=48, noise_seeds=(0, 1))
    assert [it.prompt for it in again.items] == [it.prompt for it in gen_heldout.items]
    assert all(it.id.startswith(f"gen-{HELD_OUT_SEED}-") for it in gen_heldout.items)
    _, batch = next(training_items("gen", 8, 0, level="basic", resolution=32))
    assert not {it.id for it in batch} & {it.id for it in gen_heldout.items}


def test_ground_truth_sampler_reaches_the_ceiling_and_gains_over_blank(gen_runs: dict) -> None:
    start, end = gen_runs["start"], gen_runs["end"]
    s, e = summarize(start.records), summarize(end.records)
    assert s["n"] == e["n"] == 96
    assert s["strict"] == 0.0 and s["objects_per_image"] == 0.0
    assert e["strict"] >= 0.95 and e["correct"] >= e["strict"]  # basic world at 32 px: 100%
    assert set(e["per_tag"]) == set(GENEVAL_TAGS)
    assert e["strict"] == pytest.approx(np.mean(list(e["per_tag"].values())))  # GenEval: mean over tags
    assert 0.05 < e["chance"]["strict"] < 0.5  # shuffled prompts of the same tag: far below
    g = paired_gain(start.records, end.records, "strict")
    assert g["gain"] == pytest.approx(e["strict"] - s["strict"])
    assert g["gain"] == pytest.approx(g["after"] - g["before"])
    assert g["ci95"][0] > 0.9 and g["n_pairs"] == 96 and g["n_prompts"] == 48
    assert set(g["per_tag"]) == set(GENEVAL_TAGS)
    rec = end.records[0]
    assert rec["pair"] == f"{rec['item']}@0" and 0.0 <= rec["requirement_share"] <= 1.0


def test_identical_runs_gain_zero_with_ci_containing_zero() -> None:
    recs = synthetic(60, 0.5, seed=1)
    g = paired_gain(recs, recs, "strict")
    assert g["gain"] == 0.0 and g["ci95"][0] <= 0.0 <= g["ci95"][1]
    for t in g["per_tag"].values():
        assert t["gain"] == 0.0


def test_a_clear_improvement_has_a_ci_excluding_zero_and_noise_does_not() -> None:
    before, after = synthetic(90, 0.3, seed=2), synthetic(90, 0.7, seed=3)
    g = paired_gain(before, after, "strict")
    assert 0.25 < g["gain"] < 0.55 and g["ci95"][0] > 0.1 and g["ci95"][0] < g["gain"] < g["ci95"][1]
    same = paired_gain(synthetic(90, 0.5, seed=4), synthetic(90, 0.5, seed=5), "strict")
    assert same["ci95"][0] < 0.0 < same["ci95"][1]


def test_gen_gain_is_the_mean_over_tags_edit_gain_the_mean_over_pairs() -> None:
    # Tag sizes differ: the GenEval overall weights tags equally, not pairs.
    tags = ("single_object",) * 3 + ("counting",)
    before = synthetic(40, 0.0, seed=6, tags=tags)
    after = [r | {"strict": r["tag"] == "single_object"} for r in before]
    g = paired_gain(before, after, "strict")
    assert g["per_tag"]["single_object"]["gain"] == 1.0 and g["per_tag"]["counting"]["gain"] == 0.0
    assert g["gain"] == pytest.approx(0.5) and g["aggregate"] == "mean over tags"
    edit_before = [r | {"kind": "edit"} for r in before]
    edit_after = [r | {"kind": "edit"} for r in after]
    assert paired_gain(edit_before, edit_after, "strict")["gain"] == pytest.approx(0.75)


def test_unseen_prompts_and_mismatched_pairs() -> None:
    before, after = synthetic(30, 0.2, seed=7), synthetic(30, 0.8, seed=8)
    g = paired_gain(before, after, "strict", trained_texts=[f"prompt {i}" for i in range(10)])
    assert g["n_unseen_prompts"] == 20 and g["unseen"]["n_pairs"] == 40
    assert paired_gain(before, after, "strict", trained_texts=[r["prompt"] for r in before])["unseen"] is None
    with pytest.raises(ValueError, match="different pairs"):
        paired_gain(before, after[:-1], "strict")


def test_copying_the_source_is_lazy_and_does_not_execute(edit_heldout: HeldOut) -> None:
    copy = summarize(edit_heldout.evaluate(copy_source_sampler).records)
    assert copy["lazy"] == 1.0 and copy["execution"] <= 0.05 and copy["correct"] == 0.0
    ceiling = edit_heldout.ceiling()
    top = summarize(ceiling.records)
    assert top["lazy"] == 0.0 and top["execution"] == 1.0 and top["correct"] >= 0.95
    assert top["edit_change"] == pytest.approx(1.0)
    g = paired_gain(edit_heldout.evaluate(copy_source_sampler).records, ceiling.records, "lazy")
    assert g["gain"] == -1.0 and g["aggregate"] == "mean over pairs"


def test_report_tables(gen_runs: dict, edit_heldout: HeldOut) -> None:
    start, end = gen_runs["start"].records, gen_runs["end"].records
    texts = [r["prompt"] for r in start[:20]]
    table = report_table(start, end, ceiling=end, trained_texts=texts, n_resamples=200)
    lines = table.strip().splitlines()
    assert lines[0].startswith("|  | overall | single_object")
    assert [ln.split("|")[1].strip() for ln in lines[2:]][:5] == ["start", "end", "chance", "ceiling", "gain"]
    assert lines[-1].startswith("| gain (unseen prompts, n=")
    assert "| start | 0.0 |" in table and "+100.0 [+100.0, +100.0]" in table
    copy = edit_heldout.evaluate(copy_source_sampler).records
    top = edit_heldout.ceiling().records
    edit_table = report_table(copy, top, ceiling=top, n_resamples=200)
    assert edit_table.splitlines()[0] == "|  | execution | consistency | correct | lazy |"
    assert "-100.0 [-100.0, -100.0] |" in edit_table.splitlines()[-1]


def test_before_after_sheet_size_and_pixels(
    gen_heldout: HeldOut, gen_runs: dict, edit_heldout: HeldOut
) -> None:
    sheet = gen_heldout.sheet(gen_runs["start"], gen_runs["end"], k=5, scale=4, columns=4)
    tile_w, tile_h = 2 * 128 + GAP, LABEL_HEIGHT + 128
    assert sheet.size == (4 * (tile_w + GAP) - GAP, 2 * (tile_h + GAP) - GAP)
    # the end image of pair 0 sits right of its start image, upscaled with nearest neighbour
    end0 = gen_runs["end"].images[0][0].resize((128, 128), Image.Resampling.NEAREST)
    crop = sheet.crop((128 + GAP, LABEL_HEIGHT, 2 * 128 + GAP, LABEL_HEIGHT + 128))
    assert np.array_equal(np.asarray(crop), np.asarray(end0.convert("RGB")))
    copy = edit_heldout.evaluate(copy_source_sampler)
    edit_sheet = edit_heldout.sheet(copy, copy, k=3, scale=2, columns=4)
    assert edit_sheet.size == (3 * (3 * 64 + 2 * GAP) + 2 * GAP, LABEL_HEIGHT + 64)
    with pytest.raises(ValueError):
        before_after_sheet([end0], [])


def test_plot_curves(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    records = [
        {"step": s, "reward": 0.1 * s} | ({"heldout/strict": 0.2 + s / 100} if s % 5 == 0 else {})
        for s in range(20)
    ]
    out = plot_curves(records, tmp_path / "curves.png", keys=["reward", "heldout/strict"], title="rl")
    assert out is not None and out.exists()
    with Image.open(out) as im:
        assert im.size == (800, 300)
    assert plot_curves([{"step": 1}], tmp_path / "none.png") is None
