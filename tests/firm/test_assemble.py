"""Rebalancing shares, histograms and the Table 6 card, dataset writing, the rejection log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import Features, Image, Value, load_from_disk
from PIL import Image as PILImage

from firm.curation.assemble import (
    PUBLISHED_HISTOGRAMS,
    RejectionLog,
    assign_donors,
    dataset_card,
    histogram_table,
    save_dataset,
    score_histogram,
    select_mismatches,
)


@pytest.mark.parametrize(
    ("n", "share", "k"), [(100, 0.2, 20), (300, 0.25, 75), (7, 0.5, 4), (10, 0.0, 0), (5, 1.0, 5)]
)
def test_select_mismatches_takes_the_exact_share(n: int, share: float, k: int) -> None:
    idx = select_mismatches(n, share, np.random.default_rng(0))
    assert len(idx) == k == len(set(idx)) and all(0 <= i < n for i in idx) and idx == sorted(idx)
    with pytest.raises(ValueError):
        select_mismatches(n, 1.5, np.random.default_rng(0))


def test_assign_donors_respects_the_predicate() -> None:
    labels = ["a", "a", "b", "c", "a"]
    donors = assign_donors(5, [0, 1, 2, 3], np.random.default_rng(0), lambda i, j: labels[i] != labels[j])
    assert set(donors) == {0, 1, 2, 3}
    assert all(labels[i] != labels[j] and i != j for i, j in donors.items())
    assert assign_donors(2, [0], np.random.default_rng(0), lambda i, j: False) == {}


def test_histogram_and_table_layout() -> None:
    hist = score_histogram([5, 5, 4, 1, 3, 3, 3])
    assert list(hist) == [5, 4, 3, 2, 1] and hist == {5: 2, 4: 1, 3: 3, 2: 0, 1: 1}
    with pytest.raises(ValueError):
        score_histogram([0])
    table = histogram_table([("Mine", "Execution", hist)]).splitlines()
    assert table[0] == "| Dataset | Dimension | 5 | 4 | 3 | 2 | 1 | Total |"
    assert table[2] == "| Mine | Execution | 2 (28.6%) | 1 (14.3%) | 3 (42.9%) | 0 (0.0%) | 1 (14.3%) | 7 |"


def test_published_rows_are_the_papers() -> None:
    assert sum(PUBLISHED_HISTOGRAMS[("FIRM-Edit-370K", "Execution")].values()) == 190_174
    assert sum(PUBLISHED_HISTOGRAMS[("FIRM-Gen-293K", "Instruction following")].values()) == 292_792
    card = dataset_card(
        title="T",
        summary="S",
        histograms=[("Mine", "Execution", {5: 1, 4: 0, 3: 0, 2: 0, 1: 1})],
        published=[("FIRM-Edit-370K", "Execution")],
        subsets={"execution": {"rows": 2, "columns": ["id", "score"]}},
        config={"seed": 0},
        rejected={"execution": {"empty": 3}},
    )
    assert card.startswith("---\npretty_name:")
    assert "| FIRM-Edit-370K (published) | Execution | 49,995 (26.3%)" in card
    assert "| execution | `empty` | 3 |" in card and "| `execution` | 2 |" in card


def test_save_dataset_round_trip_with_images_and_empty(tmp_path: Path) -> None:
    features = Features({"id": Value("string"), "image": Image(), "score": Value("int8")})
    im = PILImage.fromarray(np.full((4, 4, 3), 200, dtype=np.uint8))
    save_dataset([{"id": "a", "image": im, "score": 5}], features, tmp_path / "ds")
    save_dataset([{"id": "b", "image": im, "score": 4}], features, tmp_path / "ds")  # replaces
    ds = load_from_disk(str(tmp_path / "ds"))
    assert ds["id"] == ["b"] and np.asarray(ds[0]["image"]).tolist() == np.asarray(im).tolist()
    empty = save_dataset([], features, tmp_path / "empty")
    assert len(empty) == 0 and list(load_from_disk(str(tmp_path / "empty")).features) == [
        "id",
        "image",
        "score",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rejection_log(tmp_path: Path) -> None:
    log = RejectionLog(tmp_path / "rejected.jsonl")
    log.add("execution", "x1", "execution", "empty", "")
    log.add("execution", "x2", "execution", "empty", "y" * 5000)
    log.add("quality", "q1", "quality", "no_json", "nope")
    lines = [json.loads(s) for s in (tmp_path / "rejected.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == ["x1", "x2", "q1"] and len(lines[1]["response"]) == 2000
    assert log.summary() == {"execution": {"empty": 2}, "quality": {"no_json": 1}}
    assert log.total() == 3 and log.total("quality") == 1
    assert RejectionLog(tmp_path / "rejected.jsonl").path.read_text() == ""  # a rerun starts afresh
