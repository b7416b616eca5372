"""Pooling FIRM RL runs over seeds (firm.rl.seeds): per-seed gains, the seed-mean gain and its
two intervals, on hand-made held-out records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from common.config import InputError
from firm.rl.eval_stats import paired_gain
from firm.rl.seeds import RECORDS_FILE, load_records, main, mean_records, pool_seeds

TAGS = ("single_object", "colors")


def records(values: dict[str, list[bool]]) -> list[dict]:
    """Gen records: per tag, one prompt per value, one noise seed."""
    out = []
    for tag, vals in values.items():
        for i, v in enumerate(vals):
            item = f"{tag}-{i}"
            out.append(
                {
                    "pair": f"{item}@0",
                    "item": item,
                    "index": i,
                    "seed": 0,
                    "kind": "gen",
                    "prompt": f"p {item}",
                    "tag": tag,
                    "strict": v,
                    "n_objects": 2,
                }
            )
    return out


START = records({"single_object": [False, False, True, False], "colors": [False, False, False, True]})
ENDS = [
    records({"single_object": [True, False, True, False], "colors": [True, False, False, True]}),
    records({"single_object": [True, True, True, False], "colors": [False, False, False, True]}),
    records({"single_object": [True, True, True, True], "colors": [True, True, False, True]}),
]


def test_mean_records_average_each_pair_over_runs() -> None:
    mean = mean_records(ENDS)
    first = {r["pair"]: r for r in mean}["single_object-1@0"]
    assert first["strict"] == pytest.approx(2 / 3) and first["n_objects"] == 2.0
    assert first["tag"] == "single_object" and first["prompt"] == "p single_object-1"
    with pytest.raises(ValueError, match="other held-out pairs"):
        mean_records([ENDS[0], ENDS[1][:-1]])


def test_the_pooled_gain_is_the_mean_of_the_seed_gains_with_both_intervals() -> None:
    pooled = pool_seeds([{"start": START, "end": e} for e in ENDS], "strict")
    per_seed = [paired_gain(START, e, "strict")["gain"] for e in ENDS]
    # gen gains: the mean over tags of per-tag gains; seed 2: (+0.75 + 0.5) / 2
    assert per_seed == pytest.approx([0.25, 0.25, 0.625])
    assert [g["gain"] for g in pooled["per_seed"]] == pytest.approx(per_seed)
    assert pooled["mean_gain"] == pytest.approx(np.mean(per_seed))
    half = stats.t.ppf(0.975, 2) * np.std(per_seed, ddof=1) / math.sqrt(3)
    assert pooled["seed_t_ci95"] == pytest.approx([np.mean(per_seed) - half, np.mean(per_seed) + half])
    lo, hi = pooled["prompt_bootstrap_ci95"]
    assert lo <= pooled["mean_gain"] <= hi and hi - lo > 0
    assert pooled["before"] == pytest.approx(0.25) and pooled["after_mean"] == pytest.approx(0.625)


def test_runs_from_another_start_are_not_pooled() -> None:
    other = records({"single_object": [True, True, True, False], "colors": [False, False, False, True]})
    with pytest.raises(ValueError, match="starts from another policy"):
        pool_seeds([{"start": START, "end": ENDS[0]}, {"start": other, "end": ENDS[1]}], "strict")


def test_the_command_reads_run_dirs_and_names_a_missing_file(tmp_path: Path, capsys) -> None:
    dirs = []
    for i, end in enumerate(ENDS):
        d = tmp_path / f"seed{i}"
        d.mkdir()
        (d / RECORDS_FILE).write_text(json.dumps({"start": START, "end": end}))
        dirs.append(str(d))
    assert main(dirs) == 0
    out = capsys.readouterr().out
    assert "| mean of 3 | 25.0 | 62.5 | **+37.5**" in out and "over seeds (t)" in out
    with pytest.raises(InputError, match=r"no held-out records; point at the directory of a finished"):
        load_records(tmp_path)
