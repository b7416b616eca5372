"""Mixed score scales from one corpus (``rescale`` in a corpus spec, t2ieval_r1.data.rescale)."""

from __future__ import annotations

from pathlib import Path

import pytest

from t2ieval_r1.data import load_corpus
from t2ieval_r1.data.rescale import rescale_corpus
from t2ieval_r1.data.schema import DataFormatError
from t2ieval_r1.evaluate.benchmarks import BenchmarkSpec

QUICK = {"source": "world_quick", "kind": "single", "n": 20, "seed": 4, "aspects": ["overall"]}


def test_a_share_of_rows_moves_linearly_onto_the_new_scale() -> None:
    plain = load_corpus(QUICK)
    mixed = load_corpus({**QUICK, "rescale": {"share": 0.5, "to": [1, 5], "seed": 7}})
    assert mixed.column_names == plain.column_names and mixed["id"] == plain["id"]
    moved = [i for i in range(len(mixed)) if mixed[i]["scale_hi"] == 5.0]
    assert len(moved) == 10
    for i in range(len(mixed)):
        y, lo, hi = plain[i]["score"], plain[i]["scale_lo"], plain[i]["scale_hi"]
        assert (lo, hi) == (0.0, 10.0)
        if i in moved:
            assert mixed[i]["scale_lo"] == 1.0
            assert mixed[i]["score"] == pytest.approx(1.0 + y * 4.0 / 10.0, abs=1e-12)
        else:
            assert (mixed[i]["scale_lo"], mixed[i]["scale_hi"], mixed[i]["score"]) == (lo, hi, y)
    # the images and everything else ride along unchanged
    assert mixed[moved[0]]["meta"] == plain[moved[0]]["meta"]
    assert mixed[moved[0]]["image"].tobytes() == plain[moved[0]]["image"].tobytes()


def test_the_seed_picks_the_rows_and_the_extremes_hold() -> None:
    def picked(seed: int) -> list[bool]:
        ds = load_corpus({**QUICK, "rescale": {"share": 0.3, "to": [1, 5], "seed": seed}})
        return [hi == 5.0 for hi in ds["scale_hi"]]

    assert picked(1) == picked(1) and picked(1) != picked(2) and sum(picked(1)) == 6
    assert set(load_corpus({**QUICK, "rescale": {"share": 1.0, "to": [1, 5]}})["scale_hi"]) == {5.0}
    assert set(load_corpus({**QUICK, "rescale": {"share": 0.0, "to": [1, 5]}})["scale_hi"]) == {10.0}


def test_each_row_moves_from_its_own_scale() -> None:
    """Rows already on another scale (lo != 0) move from theirs: 0-10 -> 1-5 -> 0-10 is the identity,
    and a mixed corpus maps every row onto the target."""
    plain = load_corpus(QUICK)
    there = rescale_corpus(plain, {"share": 1.0, "to": [1, 5]})
    back = rescale_corpus(there, {"share": 1.0, "to": [0, 10]})
    assert back["score"] == pytest.approx(plain["score"], abs=1e-9)
    mixed = rescale_corpus(plain, {"share": 0.5, "to": [1, 5], "seed": 3})
    onto = rescale_corpus(mixed, {"share": 1.0, "to": [2, 4]})
    assert set(onto["scale_lo"]) == {2.0} and set(onto["scale_hi"]) == {4.0}
    assert onto["score"] == pytest.approx([2.0 + y * 0.2 for y in plain["score"]], abs=1e-9)


def test_the_top_of_the_scale_stays_on_it() -> None:
    """Rounding must not put a top score above the new top (validation would reject the corpus)."""
    ds = rescale_corpus(load_corpus(QUICK), {"share": 1.0, "to": [0.3, 0.9]})
    assert max(ds["score"]) <= 0.9 and min(ds["score"]) >= 0.3


def test_benchmarks_and_the_validation_corpus_refuse_it() -> None:
    with pytest.raises(ValueError, match="for training corpora"):
        BenchmarkSpec("t", "correlation", {**QUICK, "rescale": {"share": 0.5, "to": [1, 5]}})


def test_pairwise_rows_keep_their_preference() -> None:
    spec = {"source": "world_quick", "kind": "pair", "n": 6, "seed": 2}
    plain, mixed = load_corpus(spec), load_corpus({**spec, "rescale": {"share": 1.0, "to": [1, 5]}})
    assert mixed["preference"] == plain["preference"] and set(mixed["scale_lo"]) == {1.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"share": 0.5}, "needs `share`"),
        ({"share": 1.5, "to": [1, 5]}, r"share must lie in \[0, 1\]"),
        ({"share": 0.5, "to": [5, 1]}, "lo < hi"),
        ({"share": 0.5, "to": [1, 5], "rows": 3}, "unknown keys"),
        ({"share": "half", "to": [1, 5]}, "share must be a number"),
        ({"share": 0.5, "to": [1, "a"]}, "two numbers"),
        ({"share": 0.5, "to": 5}, "two numbers"),
        ({"share": 0.5, "to": [1, 5], "seed": None}, "seed must be a number"),
        (0.5, "must be a mapping"),
    ],
)
def test_bad_specs_say_what_to_write(spec: object, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        rescale_corpus(load_corpus(QUICK), spec)


def test_the_grpo_validation_corpus_refuses_it(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    from t2ieval_r1.tasks.grpo import run

    cfg = OmegaConf.create({"exp_name": "grpo", "paths": {"output_dir": str(tmp_path)}})
    with pytest.raises(ValueError, match=r"remove task\.val\.rescale"):
        run(cfg, None, train=QUICK, val={**QUICK, "rescale": {"share": 0.5, "to": [1, 5]}})  # type: ignore[arg-type]
