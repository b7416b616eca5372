"""The T2I-Eval-R1 evaluator reward (score + lambda * format)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.parsing import ParseOutcome
from common.rewards import (
    CompositeReward,
    compute_evaluator_reward,
    compute_evaluator_rewards,
    score_continuous,
)

from .strategies import completion_text

GOOD = "<think>The cube is red as asked, but there are 2 spheres instead of 3.</think>\n<answer>7</answer>"


def test_single_by_hand() -> None:
    r = compute_evaluator_reward(GOOD, 8.0)  # scale 0-10, continuous, lambda 1
    assert r.score == pytest.approx(0.9)
    assert r.format == 1.0
    assert r.total == pytest.approx(1.9)
    assert r.failure_reason is None
    assert r.prediction == 7.0
    assert r.parsed.well_formed
    r = compute_evaluator_reward(GOOD, 8.0, format_weight=0.5)
    assert r.total == pytest.approx(1.4)
    r = compute_evaluator_reward(GOOD, 8.0, score_fn="score_gaussian", sigma=2.0)
    assert r.score == pytest.approx(math.exp(-1 / 8))
    r = compute_evaluator_reward(GOOD, 7.4, score_fn="score_discrete", format_weight=0.0)
    assert r.total == 1.0
    r = compute_evaluator_reward("<think>x</think><answer>4</answer>", 5, scale=(1, 5))
    assert r.score == pytest.approx(0.75)  # 1 - 1/4


def test_pair_by_hand() -> None:
    text = (
        "<think>Image 1 shows the red cube; Image 2 misses it.</think><answer>Image 1: 7; Image 2: 4</answer>"
    )
    r = compute_evaluator_reward(text, "a", kind="pair")
    assert r.score == pytest.approx(0.65)
    assert r.total == pytest.approx(1.65)
    assert r.prediction == (7.0, 4.0)
    assert compute_evaluator_reward(text, "b", kind="pair").score == pytest.approx(0.35)
    assert compute_evaluator_reward(text, "tie", kind="pair").score == pytest.approx(0.7)
    assert compute_evaluator_reward(text, "a", kind="pair", score_fn="pair_discrete").score == 1.0
    r = compute_evaluator_reward(text, "a", kind="pair", score_fn="pair_sigmoid", temperature=3.0)
    assert r.score == pytest.approx(1 / (1 + math.exp(-1)))
    verdict = "<think>Image 2 has the right count.</think><answer>Image 2</answer>"
    r = compute_evaluator_reward(verdict, "b", kind="pair", score_fn="pair_verdict", format_weight=0.5)
    assert (r.score, r.format, r.total, r.prediction) == (1.0, 1.0, 1.5, "b")
    r = compute_evaluator_reward(verdict, "a", kind="pair", score_fn="pair_verdict")
    assert (r.score, r.format, r.total) == (0.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ("", "malformed"),
        ("7", "malformed"),
        ("garbage %$#@!", "malformed"),
        ("<answer>7</answer>", "malformed"),
        ("<think>x</think><answer>7</answer><answer>8</answer>", "malformed"),
        ("<think>x</think><answer>7", "malformed"),
        ("<think>x<answer>7</answer></think>", "malformed"),
        ("<think>x</think><answer>7</answer> extra", "malformed"),
        ("<think>x</think><answer>11</answer>", "out_of_range"),
        ("<think>x</think><answer>4/5</answer>", "scale_mismatch"),
        ("<think>x</think><answer>seven</answer>", "no_number"),
        ("<think>x</think><answer>7 or 8</answer>", "conflicting_values"),
        ("<think>x</think><answer>nan</answer>", "not_finite"),
        ("<think>x</think><answer></answer>", "empty"),
    ],
)
def test_failures_get_zero(completion: str, reason: str) -> None:
    r = compute_evaluator_reward(completion, 7.0)
    assert (r.total, r.score, r.format) == (0.0, 0.0, 0.0)
    assert r.failure_reason == reason
    assert r.prediction is None


def test_lenient_mode_scores_malformed_answers() -> None:
    r = compute_evaluator_reward("<answer>7</answer>", 8.0, require_format=False)
    assert (r.score, r.format, r.failure_reason) == (pytest.approx(0.9), 0.0, None)
    assert r.total == pytest.approx(0.9)
    r = compute_evaluator_reward("I think 7", 8.0, require_format=False)
    assert r.score == pytest.approx(0.9)
    r = compute_evaluator_reward("no idea", 8.0, require_format=False)
    assert r.failure_reason == ParseOutcome.NO_NUMBER
    r = compute_evaluator_reward(GOOD, 8.0, require_format=False)
    assert r.total == pytest.approx(1.9)


def test_batch_and_failure_counts() -> None:
    completions = [GOOD, "garbage", "<think>x</think><answer>70</answer>", GOOD, "<think>x</think>"]
    batch = compute_evaluator_rewards(completions, [8, 8, 8, 7, 8], format_weight=0.5)
    assert len(batch) == 5
    assert batch.totals == pytest.approx([1.4, 0.0, 0.0, 1.5, 0.0])
    assert batch.scores == pytest.approx([0.9, 0.0, 0.0, 1.0, 0.0])
    assert batch.formats == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert batch.failure_reasons == [None, "malformed", "out_of_range", None, "malformed"]
    assert batch.failure_counts == {"malformed": 2, "out_of_range": 1}
    assert batch.n_failed == 3
    assert batch.failure_rate == pytest.approx(0.6)
    summary = batch.summary()
    assert summary["reward/total_mean"] == pytest.approx(2.9 / 5)
    assert summary["reward/fail_malformed"] == 2.0
    assert summary["reward/failure_rate"] == pytest.approx(0.6)
    assert compute_evaluator_rewards([], []).summary()["reward/failure_rate"] == 0.0
    with pytest.raises(ValueError, match="labels"):
        compute_evaluator_rewards([GOOD], [1, 2])


def test_composite_reward_object() -> None:
    reward = CompositeReward(kind="pair", scale=(1, 5), score_fn="pair_discrete", format_weight=0.2)
    assert reward.reward_range == (0.0, 1.2)
    r = reward("<think>x</think><answer>4, 2</answer>", "A")
    assert r.total == pytest.approx(1.2)
    # a custom callable with the registered signature
    custom = CompositeReward(score_fn=lambda p, y, *, lo, hi: 0.25, format_weight=0.0)
    assert custom(GOOD, 3.0).total == 0.25


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "single", "score_fn": "pair_continuous"}, "pairwise"),
        ({"kind": "single", "score_fn": "pair_verdict"}, "pairwise"),
        ({"kind": "pair", "score_fn": "score_continuous"}, "single-wise"),
        ({"kind": "single", "score_fn": "cme"}, "not a score reward"),
        ({"kind": "pair", "score_fn": "format"}, "not a pairwise reward"),
        ({"kind": "triple"}, "kind"),
        ({"scale": (10, 0)}, "scale"),
        ({"format_weight": -1.0}, "format_weight"),
        ({"format_weight": math.nan}, "format_weight"),
        ({"score_fn": 3}, "callable"),
        ({"answer": "any"}, "answer"),
    ],
)
def test_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        CompositeReward(**kwargs)


def test_unknown_reward_name() -> None:
    with pytest.raises(KeyError, match="known"):
        CompositeReward(score_fn="nope")


@pytest.mark.parametrize("label", [math.nan, None, "7", True])
def test_bad_single_labels_raise(label: object) -> None:
    with pytest.raises(ValueError, match="label"):
        compute_evaluator_reward("garbage", label)


def test_bad_pair_label_raises() -> None:
    with pytest.raises(ValueError, match="label"):
        compute_evaluator_reward("garbage", "c", kind="pair")


# ------------------------------------------------------------------ properties

SINGLE_FNS = ["score_continuous", "score_gaussian", "score_discrete"]
PAIR_FNS = ["pair_continuous", "pair_sigmoid", "pair_discrete", "pair_verdict"]


@given(
    completion_text,
    st.floats(0, 10),
    st.sampled_from(SINGLE_FNS),
    st.floats(0, 2),
    st.booleans(),
)
def test_single_reward_range(text: str, label: float, fn: str, lam: float, strict: bool) -> None:
    r = compute_evaluator_reward(text, label, score_fn=fn, format_weight=lam, require_format=strict)
    assert 0.0 <= r.score <= 1.0
    assert r.format in (0.0, 1.0)
    assert 0.0 <= r.total <= 1.0 + lam + 1e-12
    assert r.total == pytest.approx(r.score + lam * r.format)
    if strict:
        assert (r.failure_reason is None) == (r.format == 1.0)
    if r.failure_reason is not None:
        assert r.score == 0.0 and r.format == 0.0
        assert r.failure_reason in {o.value for o in ParseOutcome}


@given(completion_text, st.sampled_from(["a", "b", "tie"]), st.sampled_from(PAIR_FNS), st.floats(0, 2))
def test_pair_reward_range(text: str, label: str, fn: str, lam: float) -> None:
    r = compute_evaluator_reward(text, label, kind="pair", score_fn=fn, format_weight=lam, scale=(1, 5))
    assert 0.0 <= r.score <= 1.0
    assert 0.0 <= r.total <= 1.0 + lam + 1e-12
    assert (r.failure_reason is None) == (r.format == 1.0)


@given(
    st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=30),
    st.decimals(0, 10, places=1),
    st.floats(0, 10),
)
def test_well_formed_single_matches_formula(think: str, pred, label: float) -> None:  # type: ignore[no-untyped-def]
    r = compute_evaluator_reward(f"<think>{think}</think><answer>{pred}</answer>", label)
    assert r.failure_reason is None
    assert r.format == 1.0
    assert r.score == pytest.approx(score_continuous(float(pred), label))
