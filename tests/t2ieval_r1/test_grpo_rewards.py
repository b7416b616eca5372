"""The trainer's reward path: malformed completions get 0, are counted by reason, never crash."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from common.rl import group_advantages
from t2ieval_r1.grpo import FAILURE_REASONS, EvalItem, EvaluatorReward, RewardConfig
from t2ieval_r1.grpo.trainer import reward_metrics

IMG = Image.new("RGB", (8, 8))
SINGLE = EvalItem("s", "single", "a photo of a red circle", [IMG], "overall", (0.0, 10.0), 7.0)
PAIR = EvalItem("p", "pair", "a photo of a red circle", [IMG, IMG], "overall", (0.0, 10.0), "a")
TIFA = EvalItem("t", "single", "a photo of a star", [IMG], "faithfulness", (1.0, 5.0), 4.0)

MALFORMED = [
    "",  # empty
    "7",  # no tags
    "the score is 7",  # no tags
    "<think> ok </think>",  # no answer
    "<answer> 7 </answer>",  # no think
    "<think> a </think> <answer> 7 </answer> <answer> 8 </answer>",  # two answers
    "<think> a </think> <answer> 7 </answer> extra",  # text outside the tags
    "<answer> 7 </answer> <think> a </think>",  # wrong order
    "<think> a <answer> 7 </answer> </think>",  # nested
    "<think> a </think> <answer> 11 </answer>",  # out of range
    "<think> a </think> <answer> -1 </answer>",  # out of range
    "<think> a </think> <answer> 7 or 8 </answer>",  # two numbers
    "<think> a </think> <answer> nan </answer>",  # not finite
    "<think> a </think> <answer> seven </answer>",  # no number
    "<think> a </think> <answer> 7 / 5 </answer>",  # another scale
    "<think> a </think> <answer> </answer>",  # empty answer
    "\x00\x01<think>\ud7ff",  # garbage
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_single_completions_get_zero_and_a_reason(text: str) -> None:
    result = EvaluatorReward()([text], [SINGLE])
    assert (
        result.totals == [0.0]
        and result.components["score"] == [0.0]
        and result.components["format"] == [0.0]
    )
    assert result.failure_reasons[0] in FAILURE_REASONS
    metrics = reward_metrics(result, group_size=1)
    assert metrics["reward/failure_rate"] == 1.0
    assert metrics[f"reward/fail_{result.failure_reasons[0]}"] == 1.0


def test_well_formed_completions_are_scored_continuously() -> None:
    texts = [
        "<think> a red circle at the center </think> <answer> 7 </answer>",
        "<think> x </think><answer>4</answer>",
        "<think> two images </think> <answer> 8 , 3 </answer>",
        "<think> two images </think> <answer> image 1 : 2 , image 2 : 9 </answer>",
        "<think> a star </think> <answer> 5 </answer>",
    ]
    result = EvaluatorReward(RewardConfig(format_weight=0.5))(texts, [SINGLE, SINGLE, PAIR, PAIR, TIFA])
    assert result.failure_reasons == [None] * 5
    assert result.components["score"] == pytest.approx([1.0, 0.7, 0.75, 0.15, 0.75])
    assert result.totals == pytest.approx([1.5, 1.2, 1.25, 0.65, 1.25])
    assert result.predictions[2] == (8.0, 3.0)


def test_discrete_and_gaussian_rewards_are_selectable() -> None:
    texts = ["<think> x </think> <answer> 7.4 </answer>", "<think> x </think> <answer> 8 </answer>"]
    discrete = EvaluatorReward(
        RewardConfig(score_fn="score_discrete", score_kwargs={"tol": 0.5}, format_weight=0.0)
    )
    assert discrete(texts, [SINGLE, SINGLE]).totals == [1.0, 0.0]
    gauss = EvaluatorReward(
        RewardConfig(score_fn="score_gaussian", score_kwargs={"sigma": 1.0}, format_weight=0.0)
    )
    assert gauss(texts, [SINGLE, SINGLE]).totals[1] == pytest.approx(math.exp(-0.5))


completion_text = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda pre, think, mid, answer, post: (
            f"{pre}<think>{think}</think>{mid}<answer>{answer}</answer>{post}"
        ),
        st.sampled_from(["", " ", "x", "<answer>"]),
        st.text(max_size=30),
        st.sampled_from(["", " ", "\n", "y", "</think>"]),
        st.one_of(
            st.text(max_size=12),
            st.floats(allow_nan=True, allow_infinity=True).map(str),
            st.integers(-100, 100).map(str),
            st.tuples(st.integers(-3, 13), st.integers(-3, 13)).map(lambda t: f"{t[0]} , {t[1]}"),
        ),
        st.sampled_from(["", " ", "z", "<answer> 3 </answer>"]),
    ),
)


@given(
    texts=st.lists(completion_text, min_size=4, max_size=4), kind=st.sampled_from(["single", "pair", "tifa"])
)
def test_fuzzed_completions_never_crash_and_failures_are_counted(texts: list[str], kind: str) -> None:
    item = {"single": SINGLE, "pair": PAIR, "tifa": TIFA}[kind]
    result = EvaluatorReward()(texts, [item] * 4)
    lo, hi = 0.0, 2.0  # score reward in [0, 1] + format weight 1
    for total, reason, fmt, score in zip(
        result.totals,
        result.failure_reasons,
        result.components["format"],
        result.components["score"],
        strict=True,
    ):
        assert math.isfinite(total) and lo <= total <= hi
        if reason is not None:
            assert reason in FAILURE_REASONS and total == 0.0 and fmt == 0.0 and score == 0.0
        else:
            assert fmt == 1.0
    metrics = reward_metrics(result, group_size=2)
    n_failed = sum(r is not None for r in result.failure_reasons)
    assert metrics["reward/failure_rate"] == n_failed / 4
    assert sum(metrics[f"reward/fail_{r}"] for r in FAILURE_REASONS) == pytest.approx(n_failed / 4)
    adv = group_advantages(torch.tensor(result.totals), group_size=2)
    assert torch.isfinite(adv).all()
