"""The score readouts: where a completion writes its score, and the probability-weighted score there."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.scoring.readout import check_readout, expected_score, score_distribution, score_position


def tokens(*texts: str) -> list[dict[str, Any]]:
    return [{"token": t, "logprob": 0.0, "top_logprobs": []} for t in texts]


def with_alternatives(chosen: str, probs: dict[str, float]) -> dict[str, Any]:
    return {
        "token": chosen,
        "logprob": math.log(probs[chosen]),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in probs.items()],
    }


@pytest.mark.parametrize(
    ("texts", "value", "position"),
    [
        (("<answer>", "7", "</answer>"), 7.0, 1),  # the project's tokenizer: one token per score
        (("score", ".", "7"), 7.0, 2),  # a full stop before the score is not a decimal point
        (("<answer>", " 1", "0", "</"), 10.0, 1),  # a digit-split 10 is read at its first digit
        ((" 7", ".", "5"), 7.5, 0),  # a digit-split decimal too
        (("a", "3", "b", "3"), 3.0, 3),  # the last time the score is written
        (("rating", ":", " 4", " \\boxed{", "4", "}"), 4.0, 4),
        (("a", "3"), 4.0, None),  # the parsed score is not in the tokens
        (("no", "numbers"), 1.0, None),
    ],
)
def test_score_position(texts: tuple[str, ...], value: float, position: int | None) -> None:
    assert score_position(tokens(*texts), value) == position


def test_distribution_renormalises_over_the_scale_and_weights_the_scores() -> None:
    entry = with_alternatives("7", {"7": 0.5, "8": 0.2, "12": 0.1, "x": 0.1, " 6": 0.1})
    logprobs = [*tokens("<answer>"), entry, *tokens("</answer>")]
    dist = score_distribution(logprobs, 7.0, 0, 10)
    assert dist == pytest.approx({6.0: 0.125, 7.0: 0.625, 8.0: 0.25})  # 12 is off the scale, x no score
    assert expected_score(logprobs, 7.0, 0, 10) == pytest.approx(6 * 0.125 + 7 * 0.625 + 8 * 0.25)


def test_the_chosen_token_counts_as_the_whole_number_and_is_added_when_not_listed() -> None:
    first = {
        "token": " 1",
        "logprob": math.log(0.6),
        "top_logprobs": [{"token": " 9", "logprob": math.log(0.2)}],
    }
    logprobs = [first, *tokens("0")]  # " 1" "0" writes 10; the " 1" alternative is that 10
    assert score_distribution(logprobs, 10.0, 0, 10) == pytest.approx({9.0: 0.25, 10.0: 0.75})


def test_out_of_range_log_probs_do_not_overflow() -> None:
    """A backend sending log-probs far above 0 (malformed) is read by their differences."""
    entry = {"token": "0", "logprob": None, "top_logprobs": [{"token": "6", "logprob": 710.0}]}
    assert score_distribution([entry], 0.0, 0, 10) == {6.0: 1.0}
    entry = {"token": "6", "logprob": 800.0, "top_logprobs": [{"token": "4", "logprob": 800.0 + math.log(3)}]}
    assert score_distribution([entry], 6.0, 0, 10) == pytest.approx({4.0: 0.75, 6.0: 0.25})


def test_nothing_to_read_gives_none() -> None:
    assert expected_score(None, 7.0, 0, 10) is None
    assert expected_score([], 7.0, 0, 10) is None
    assert expected_score(tokens("<answer>", "7"), 3.0, 0, 10) is None  # not where it says
    only_words = [with_alternatives("7", {"7": 0.5, "x": 0.5})]
    only_words[0]["top_logprobs"] = [{"token": "x", "logprob": math.log(0.5)}]
    only_words[0]["logprob"] = -math.inf  # no finite mass on any score
    assert expected_score(only_words, 7.0, 0, 10) is None


def test_check_readout_names_the_setting() -> None:
    assert check_readout("answer") == "answer"
    with pytest.raises(ValueError, match=r"task\.readout must be one of"):
        check_readout("mean", "task.readout")


entry_strategy = st.fixed_dictionaries(
    {
        "token": st.one_of(st.text(max_size=4), st.sampled_from(["7", " 7", ".", "10", "1", "0", "3.5"])),
        "logprob": st.one_of(st.floats(max_value=0.0), st.none(), st.just(-math.inf)),
        "top_logprobs": st.lists(
            st.fixed_dictionaries(
                {
                    "token": st.one_of(st.text(max_size=3), st.sampled_from(["6", "8", " 9"])),
                    "logprob": st.floats(),
                }
            ),
            max_size=4,
        ),
    }
)


@given(st.lists(entry_strategy, max_size=8), st.floats(min_value=0, max_value=10))
def test_never_raises_and_stays_on_the_scale(logprobs: list[dict[str, Any]], value: float) -> None:
    out = expected_score(logprobs, value, 0.0, 10.0)
    assert out is None or 0.0 <= out <= 10.0
