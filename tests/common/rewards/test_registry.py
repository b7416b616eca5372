"""The two kinds of reward: per-item scorers and combiners of critic scores, each in its registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from common.rewards import (
    ITEM_REWARDS,
    REWARD_COMBINERS,
    cme,
    format_reward,
    linear_combination,
    pair_verdict,
    qma,
    score_continuous,
)

GOOD = "<think>ok</think>\n<answer>7</answer>"

ITEM_NAMES = {
    "score_continuous",
    "score_gaussian",
    "score_discrete",
    "pair_continuous",
    "pair_sigmoid",
    "pair_discrete",
    "pair_verdict",
    "format",
}
COMBINER_NAMES = {"cme", "qma", "linear"}


def test_each_kind_has_its_names_and_no_other() -> None:
    assert set(ITEM_REWARDS.names()) >= ITEM_NAMES
    assert set(REWARD_COMBINERS.names()) >= COMBINER_NAMES
    assert not set(ITEM_REWARDS.names()) & set(REWARD_COMBINERS.names())
    assert ITEM_REWARDS.get("score_continuous") is score_continuous
    assert ITEM_REWARDS.get("continuous") is score_continuous
    assert ITEM_REWARDS.get("format") is format_reward
    assert ITEM_REWARDS.get("pair_verdict") is pair_verdict
    assert REWARD_COMBINERS.get("cme") is cme and REWARD_COMBINERS.get("qma") is qma
    assert REWARD_COMBINERS.get("linear_combination") is linear_combination


def test_unknown_names_and_the_wrong_kind_raise_listing_the_known_names() -> None:
    with pytest.raises(KeyError, match=r"unknown per-item reward 'score_continous'.*score_continuous"):
        ITEM_REWARDS.get("score_continous")
    with pytest.raises(KeyError, match="unknown per-item reward 'cme'"):
        ITEM_REWARDS.get("cme")
    with pytest.raises(KeyError, match=r"unknown reward combiner 'format'.*cme"):
        REWARD_COMBINERS.get("format")


def test_item_rewards_map_one_answer_to_a_float() -> None:
    assert ITEM_REWARDS.get("score_continuous")(7.0, 8.0) == pytest.approx(0.9)
    assert ITEM_REWARDS.get("format")(GOOD) == 1.0
    assert ITEM_REWARDS.get("pair_discrete")((8.0, 3.0), "a") == 1.0
    assert ITEM_REWARDS.get("pair_verdict")("b", "a") == 0.0


def test_combiners_keep_the_array_type() -> None:
    e, c = torch.tensor([0.0, 1.0, 1.0]), torch.tensor([1.0, 0.0, 1.0])
    torch.testing.assert_close(REWARD_COMBINERS.get("cme")(e, c), torch.tensor([0.0, 0.6, 1.0]))
    out = REWARD_COMBINERS.get("qma")(np.array([1.0, 1.0]), np.array([0.0, np.nan]))
    np.testing.assert_allclose(out, [0.4, 1.0])
    assert REWARD_COMBINERS.get("cme")(1.0, 0.0) == pytest.approx(0.6)
    assert REWARD_COMBINERS.get("linear")({"e": 1.0, "c": 0.0}, {"e": 0.5, "c": 0.5}) == pytest.approx(0.5)
