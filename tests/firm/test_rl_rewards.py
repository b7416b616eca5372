"""Reward shaping of FIRM's online RL (firm.rl.rewards): every preset equals its documented formula
(FIRM §4) on 1-5 scores, NaN handling, and the config forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from common.config import ConfigError, to_dataclass
from firm.rl.rewards import REWARD_PRESETS, RewardConfig, reward_config, rewards_from_scores

S = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
T = np.array([5.0, 5.0, 1.0, 3.0, 4.0])


def unit(x: np.ndarray) -> np.ndarray:
    return (x - 1) / 4


def test_presets_equal_their_formulas() -> None:
    e, c = unit(S), unit(T)
    edit = {"execution": S, "consistency": T}
    gen = {"instruction": S, "quality": T}
    expect = {
        ("cme", "edit", "edit"): e * (0.6 + 0.4 * c) / 1.0,
        ("qma", "gen", "gen"): e * (0.4 + 0.6 * c) / 1.0,
        ("linear_equal", "edit", "edit"): 0.5 * e + 0.5 * c,
        ("linear_weighted", "edit", "edit"): 0.6 * e + 0.4 * c,
        ("instruction_only", "edit", "edit"): e,
        ("instruction_only", "gen", "gen"): e,
        ("quality_sum", "gen", "gen"): 0.5 * e + 0.5 * c,
    }
    for (name, kind, data), want in expect.items():
        cfg = RewardConfig.preset(name, kind)
        got = rewards_from_scores(edit if data == "edit" else gen, cfg)
        assert cfg.name == name and np.allclose(got, want), name
        assert np.all((got >= 0) & (got <= 1))
    assert set(REWARD_PRESETS) == {
        "qma",
        "cme",
        "linear_equal",
        "linear_weighted",
        "instruction_only",
        "quality_sum",
    }


def test_the_numbers_firm_states() -> None:
    cme = RewardConfig.preset("cme", "edit")
    out = rewards_from_scores({"execution": [1, 5, 5, 3], "consistency": [5, 1, 5, 3]}, cme)
    assert np.allclose(out, [0.0, 0.6, 1.0, 0.5 * (0.6 + 0.4 * 0.5)])  # E=0 -> 0; E=1,C=0 -> 0.6
    qma = RewardConfig.preset("qma", "gen")
    out = rewards_from_scores({"instruction": [1, 5, 5], "quality": [5, 1, 5]}, qma)
    assert np.allclose(out, [0.0, 0.4, 1.0])
    lazy = {"execution": [1.0], "consistency": [5.0]}  # the unchanged source image
    assert rewards_from_scores(lazy, cme)[0] == 0.0
    assert rewards_from_scores(lazy, RewardConfig.preset("linear_equal", "edit"))[0] == 0.5
    assert rewards_from_scores(lazy, RewardConfig.preset("linear_weighted", "edit"))[0] == pytest.approx(0.4)


def test_nan_where_a_needed_score_is_missing() -> None:
    nan = math.nan
    cme = rewards_from_scores(
        {"execution": [nan, 5, 5], "consistency": [5, nan, 3]}, RewardConfig.preset("cme", "edit")
    )
    assert math.isnan(cme[0]) and math.isnan(cme[1]) and cme[2] == pytest.approx(0.8)  # CME: no fallback
    qma = RewardConfig.preset("qma", "gen")
    out = rewards_from_scores({"instruction": [nan, 4, 4], "quality": [5, nan, 1]}, qma)
    assert math.isnan(out[0]) and out[1] == pytest.approx(0.75) and out[2] == pytest.approx(0.75 * 0.4)
    assert np.allclose(rewards_from_scores({"instruction": [3.0]}, qma), [0.5])  # no Q at all: I
    lin = rewards_from_scores(
        {"execution": [5, nan], "consistency": [nan, 5]}, RewardConfig.preset("linear_equal", "edit")
    )
    assert np.isnan(lin).all()
    only = rewards_from_scores(
        {"execution": [5, 2], "consistency": [nan, nan]}, RewardConfig.preset("instruction_only", "edit")
    )
    assert np.allclose(only, [1.0, 0.25])  # C is not needed
    with pytest.raises(KeyError, match="needs 'consistency'"):
        rewards_from_scores({"execution": [5.0]}, RewardConfig.preset("cme", "edit"))


def test_config_forms_and_checks() -> None:
    assert reward_config("cme", "edit") == RewardConfig.preset("cme", "edit")
    assert reward_config({"preset": "qma"}, "gen").weights == {"w1": 0.4, "w2": 0.6}
    custom = reward_config({"combiner": "linear", "weights": {"execution": 3, "consistency": 1}}, "edit")
    assert custom.modes == ("execution", "consistency")
    assert rewards_from_scores({"execution": [5.0], "consistency": [1.0]}, custom)[0] == pytest.approx(0.75)
    stiff = to_dataclass(RewardConfig, {"combiner": "cme", "weights": {"w1": 0.0, "w2": 1.0}})
    assert rewards_from_scores({"execution": [5.0, 5.0], "consistency": [1.0, 3.0]}, stiff).tolist() == [
        0.0,
        0.5,
    ]
    with pytest.raises(ValueError, match="is for edit items, not 'gen'"):
        RewardConfig.preset("cme", "gen")
    with pytest.raises(KeyError, match="known: qma, cme"):
        RewardConfig.preset("cmee", "edit")
    with pytest.raises(ValueError, match="combiner must be one of"):
        RewardConfig("sum")
    with pytest.raises(ValueError, match="w1 and w2 only"):
        RewardConfig("qma", {"instruction": 1.0})
    with pytest.raises(ValueError, match="weights per RM mode"):
        RewardConfig("linear", {"aesthetics": 1.0})
    with pytest.raises(ConfigError, match="weightz"):
        to_dataclass(RewardConfig, {"combiner": "qma", "weightz": {}})
