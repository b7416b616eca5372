"""Parsing: tag structure, scores, score pairs and verdicts, on real-looking and broken strings."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.parsing import (
    ParseOutcome,
    parse_answer,
    parse_completion,
    parse_pair_scores,
    parse_pair_scores_detailed,
    parse_preference,
    parse_preference_detailed,
    parse_score,
    parse_score_detailed,
)
from tests.common.rewards.strategies import completion_text

# ------------------------------------------------------------------ <think>/<answer> structure

WELL_FORMED = [
    ("<think>ok</think><answer>7</answer>", "ok", "7"),
    ("  <think>a\nb</think>\n\n<answer> 7 </answer>\n", "a\nb", "7"),
    ("<THINK>x</THINK><Answer>5</Answer>", "x", "5"),
    ("<think >x</ think><answer>5</answer >", "x", "5"),
    ("<think></think><answer></answer>", "", ""),
    ("<think>the cube is red, 2 spheres</think><answer>Image 1: 7; Image 2: 4</answer>", None, None),
]


@pytest.mark.parametrize(("text", "think", "answer"), WELL_FORMED)
def test_well_formed_completions(text: str, think: str | None, answer: str | None) -> None:
    parsed = parse_completion(text)
    assert parsed.well_formed
    assert parsed.problems == []
    if think is not None:
        assert parsed.think == think
        assert parsed.answer == answer


MALFORMED = [
    ("", None, {"empty"}),
    ("   \n", None, {"empty"}),
    ("7", None, {"missing_think", "missing_answer"}),
    ("<think>x</think>", None, {"missing_answer"}),
    ("<answer>7</answer>", "7", {"missing_think"}),
    ("<think>ok</think><answer>7", "7", {"unclosed_answer"}),
    ("<think>ok<answer>7</answer>", "7", {"unclosed_think", "nested_tags"}),
    ("<think>a<answer>3</answer></think>", "3", {"nested_tags"}),
    ("<think>x</think><answer>1</answer><answer>2</answer>", "2", {"multiple_answer"}),
    ("<think>x</think><think>y</think><answer>1</answer>", "1", {"multiple_think"}),
    ("<answer>3</answer><think>x</think>", "3", {"wrong_order"}),
    ("hi <think>x</think><answer>3</answer>", "3", {"text_outside_tags"}),
    ("<think>x</think> and so <answer>3</answer>", "3", {"text_outside_tags"}),
    ("<think>x</think><answer>3</answer> thanks!", "3", {"text_outside_tags"}),
    ("</think><answer>3</answer>", "3", {"unmatched_close_think"}),
    ("<think>x</answer><answer>3", "3", {"unclosed_think"}),
    ("<think>x</think></answer><answer>3</answer>", "3", {"unmatched_close_answer"}),
]


@pytest.mark.parametrize(("text", "answer", "problems"), MALFORMED)
def test_malformed_completions(text: str, answer: str | None, problems: set[str]) -> None:
    parsed = parse_completion(text)
    assert not parsed.well_formed
    assert problems <= set(parsed.problems)
    assert parsed.answer == answer


@pytest.mark.parametrize("value", [None, 7, 3.5, b"<think>x</think><answer>7</answer>", ["a"], object()])
def test_non_strings_do_not_raise(value: object) -> None:
    assert parse_completion(value).problems == ["not_text"]
    assert parse_score_detailed(value).outcome is ParseOutcome.NOT_TEXT
    assert parse_pair_scores_detailed(value).outcome is ParseOutcome.NOT_TEXT
    assert parse_preference_detailed(value).outcome is ParseOutcome.NOT_TEXT


# ------------------------------------------------------------------ single scores

SCORES_0_10 = [
    ("7", 7.0),
    ("7.5", 7.5),
    (" 7 ", 7.0),
    ("Score is 7.", 7.0),
    ("0", 0.0),
    ("10", 10.0),
    (".5", 0.5),
    ("+3", 3.0),
    ("8/10", 8.0),
    ("10/10", 10.0),
    ("8 / 10", 8.0),
    ("score: 7.5 out of 10", 7.5),
    ("\\boxed{4}", 4.0),
    ("\\boxed{ 4 }", 4.0),
    ("\\boxed{\\text{4}}", 4.0),
    ("Final Alignment Rating: 3 \\boxed{3}", 3.0),
    ("Final Alignment Rating: 3", 3.0),
    ("**Score:** 8", 8.0),
    ("Overall score = 6", 6.0),
    ('{"score": 6}', 6.0),
    ('{"score": "6"}', 6.0),
    ('{"Score": 6.5}', 6.5),
    ("{'score': 6}", 6.0),
    ('{"reasoning": "The cat was recoloured; 2 minor changes.", "score": 4}', 4.0),
    ('{"reasoning": "I would give a score: 2 at first", "score": 4}', 4.0),  # JSON wins outright
    ('Here is my answer:\n```json\n{"reasoning": "fine", "score": 5}\n```\nHope it helps (3 tries).', 5.0),
    ('{"result": {"score": 9}}', 9.0),
    ("The image shows 2 cats and 1 dog. Score: 7", 7.0),  # explicit marker beats bare numbers
    ("7 7", 7.0),  # the same value twice is not a conflict
    ("Score: 7 (that is, \\boxed{7})", 7.0),
    ("Score：７", 7.0),  # full-width colon and digit (NFKC)
    ("Ｓｃｏｒｅ: 8", 8.0),
    ("评分：8", 8.0),
    ("😀 7 😀", 7.0),
    ("I'd rate it 9/10", 9.0),
    ("9th place, score: 6", 6.0),
]


@pytest.mark.parametrize(("text", "expected"), SCORES_0_10)
def test_scores_that_parse(text: str, expected: float) -> None:
    result = parse_score_detailed(text, 0, 10)
    assert result.outcome is ParseOutcome.OK, result
    assert result.value == pytest.approx(expected)
    assert parse_score(text, 0, 10) == pytest.approx(expected)


FAILURES_0_10 = [
    ("", ParseOutcome.EMPTY),
    ("   ", ParseOutcome.EMPTY),
    ("no number here", ParseOutcome.NO_NUMBER),
    ("seven", ParseOutcome.NO_NUMBER),
    ("v2 and x7 and 7th", ParseOutcome.NO_NUMBER),  # glued to words: not numbers
    ("1.2.3", ParseOutcome.NO_NUMBER),
    ("\\boxed{}", ParseOutcome.NO_NUMBER),
    ("7 or 8", ParseOutcome.CONFLICT),
    ("7-8", ParseOutcome.CONFLICT),
    ("7,5", ParseOutcome.CONFLICT),  # decimal comma is not supported: two numbers
    ("Final Alignment Rating: 3 \\boxed{4}", ParseOutcome.CONFLICT),
    ("\\boxed{3} \\boxed{4}", ParseOutcome.CONFLICT),
    ('{"score": 3} {"score": 4}', ParseOutcome.CONFLICT),
    ("7 (on a 0 to 10 scale)", ParseOutcome.CONFLICT),
    ("nan", ParseOutcome.NOT_FINITE),
    ("NaN", ParseOutcome.NOT_FINITE),
    ("inf", ParseOutcome.NOT_FINITE),
    ("-Infinity", ParseOutcome.NOT_FINITE),
    ("Score: nan", ParseOutcome.NOT_FINITE),
    ("1e400", ParseOutcome.NOT_FINITE),
    ("1" * 400, ParseOutcome.NOT_FINITE),
    ('{"score": NaN}', ParseOutcome.NOT_FINITE),
    ('{"score": 1' + "0" * 400 + "}", ParseOutcome.NOT_FINITE),
    ('{"score": 1' + "0" * 5000 + "}", ParseOutcome.NOT_FINITE),  # beyond int()'s digit limit
    ("99999999999999999999", ParseOutcome.OUT_OF_RANGE),
    ("11", ParseOutcome.OUT_OF_RANGE),
    ("-1", ParseOutcome.OUT_OF_RANGE),
    ("\u22121", ParseOutcome.OUT_OF_RANGE),  # U+2212 MINUS SIGN
    ("10.5", ParseOutcome.OUT_OF_RANGE),
    ("4/5", ParseOutcome.SCALE_MISMATCH),
    ("7 out of 100", ParseOutcome.SCALE_MISMATCH),
]


@pytest.mark.parametrize(("text", "outcome"), FAILURES_0_10)
def test_scores_that_fail(text: str, outcome: ParseOutcome) -> None:
    result = parse_score_detailed(text, 0, 10)
    assert result.outcome is outcome, result
    assert result.value is None
    assert parse_score(text, 0, 10) is None


def test_fraction_and_range_rules() -> None:
    # "X/Y" is X on a Y-point scale: the value is X, never rescaled
    assert parse_score("8/10") == 8.0
    assert parse_score("4/5", 1, 5) == 4.0
    assert parse_score("8/10", 1, 5) is None  # another scale than the one asked
    assert parse_score_detailed("8/10", 1, 5).outcome is ParseOutcome.SCALE_MISMATCH
    # no range given: anything finite passes
    assert parse_score("-1") == -1.0
    assert parse_score("99999999999999999999") == pytest.approx(1e20)
    assert parse_score("-1", -1, 1) == -1.0
    assert parse_score("\u22121", -1, 1) == -1.0
    # the ends of the range are inside it
    assert parse_score("1", 1, 5) == 1.0
    assert parse_score("5", 1, 5) == 5.0
    assert parse_score_detailed("0", 1, 5).outcome is ParseOutcome.OUT_OF_RANGE


def test_last_mode_takes_the_last_value() -> None:
    text = "Requirement 1: Score: 5. Requirement 2: Score: 2.\nFinal Alignment Rating: 3\n\\boxed{3}"
    assert parse_score(text, 1, 5) is None  # strict: the explicit values disagree
    assert parse_score(text, 1, 5, mode="last") == 3.0
    assert parse_score("7 or 8", 0, 10, mode="last") == 8.0


def test_firm_generation_reply() -> None:
    reply = (
        "1. [Main Subject/Element] Is there a red bicycle? Yes, clearly visible.\n"
        "2. [Attribute/Action] Are there 2 wheels? Yes.\n"
        "3. [Style/Composition] Watercolour style? Partly.\n"
        "Final Analysis: main content right, 1 non-critical detail off.\n"
        "Final Alignment Rating: 4\n\\boxed{4}"
    )
    assert parse_score(reply, 1, 5) == 4.0


def test_sources_are_reported() -> None:
    assert parse_score_detailed('{"score": 3}').source == "json"
    assert parse_score_detailed("\\boxed{3}").source == "explicit"
    assert parse_score_detailed("3").source == "plain"


# Huge inputs: these once ran for minutes through backtracking regexes. Their speed is measured by
# ``python -m experiments.bench parsing``; here they must parse to the right value.
REASONING = "a red circle at the top left, no blue square. " * 1_500  # about 70,000 characters


@pytest.mark.parametrize(
    ("answer", "parse", "expected"),
    [
        ("7", lambda t: parse_score(t, 0, 10), 7.0),
        ("Image 1: 7; Image 2: 4", lambda t: parse_pair_scores(t, 0, 10), (7.0, 4.0)),
        ("Image 2 is better", parse_preference, "b"),
    ],
    ids=["score", "pair", "preference"],
)
def test_huge_completion_parses_to_its_answer(answer: str, parse: Any, expected: object) -> None:
    text = f"<think>{REASONING}</think><answer>{answer}</answer>"
    parsed = parse_completion(text)
    assert parsed.well_formed and parsed.problems == []
    assert parsed.think == REASONING.strip() and parsed.answer == answer
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("<think>" + "<" * 50_000 + "</think><answer>3</answer>", 3.0),  # stray "<" before the tags
        (REASONING + '{"reasoning": "' + "x" * 50_000 + '", "score": 4}', 4.0),  # FIRM's edit-RM JSON
        (REASONING + "Final Alignment Rating: 4\n\\boxed{4}", 4.0),  # FIRM's gen-RM answer
    ],
    ids=["stray_angle_brackets", "edit_rm_json", "gen_rm_boxed"],
)
def test_huge_reply_parses_to_its_score(text: str, score: float) -> None:
    assert parse_score(text, 0, 10) == score


@pytest.mark.parametrize(
    "text",
    ["<" + " " * 50_000, "1" * 50_000 + "x", '{"a":' * 5_000, "< / " * 10_000, "Image 1 " * 5_000],
    ids=["open_tag_then_spaces", "long_digit_run", "nested_json", "broken_tags", "image_labels"],
)
def test_huge_garbage_parses_to_nothing(text: str) -> None:
    parsed = parse_completion(text)
    assert not parsed.well_formed and parsed.answer is None and parsed.problems
    assert parse_pair_scores(text, 0, 10) is None
    if not text.startswith("Image 1"):  # "Image 1 ..." does name image 1, and the number 1
        assert parse_score(text, 0, 10) is None
        assert parse_preference(text) is None


# ------------------------------------------------------------------ pairs of scores

PAIRS = [
    ("7, 4", (7.0, 4.0)),
    ("7 4", (7.0, 4.0)),
    ("[7, 4]", (7.0, 4.0)),
    ("(7.5, 4)", (7.5, 4.0)),
    ("7 vs 4", (7.0, 4.0)),
    ("Image 1: 7; Image 2: 4", (7.0, 4.0)),
    ("Image 2: 4; Image 1: 7", (7.0, 4.0)),
    ("Image A: 7\nImage B: 4", (7.0, 4.0)),
    ("image_1 = 7, image_2 = 4", (7.0, 4.0)),
    ("Image 1 gets 7 and Image 2 gets 4", (7.0, 4.0)),
    ("Image 1 score: 7/10, Image 2 score: 4/10", (7.0, 4.0)),
    ("A: 7, B: 4", (7.0, 4.0)),
    ('{"score_a": 7, "score_b": 4}', (7.0, 4.0)),
    ('{"score_1": 7, "score_2": 4}', (7.0, 4.0)),
    ('{"image_1": "7", "image_2": 4.5}', (7.0, 4.5)),
    ('{"scores": [7, 4]}', (7.0, 4.0)),
    ('{"reasoning": "both show 2 dogs", "score_a": 7, "score_b": 4}', (7.0, 4.0)),
    ("\\boxed{7, 4}", (7.0, 4.0)),
    ("Image 1：７，Image 2：４", (7.0, 4.0)),
    ("5, 5", (5.0, 5.0)),
]


@pytest.mark.parametrize(("text", "expected"), PAIRS)
def test_pairs_that_parse(text: str, expected: tuple[float, float]) -> None:
    result = parse_pair_scores_detailed(text, 0, 10)
    assert result.outcome is ParseOutcome.OK, result
    assert parse_pair_scores(text, 0, 10) == pytest.approx(expected)


PAIR_FAILURES = [
    ("", ParseOutcome.EMPTY),
    ("no scores", ParseOutcome.NO_NUMBER),
    ("7", ParseOutcome.MISSING_VALUE),
    ("Image 1: 7", ParseOutcome.MISSING_VALUE),
    ('{"score_a": 7}', ParseOutcome.MISSING_VALUE),
    ("7, 4, 3", ParseOutcome.CONFLICT),
    ("Image 1 and Image 2: 7, 4", ParseOutcome.MISSING_VALUE),  # reads as "Image 2: 7", no A
    ("Image 1: 7; Image 1: 8; Image 2: 4", ParseOutcome.CONFLICT),
    ("Image 1: 11; Image 2: 4", ParseOutcome.OUT_OF_RANGE),
    ("7, nan", ParseOutcome.NOT_FINITE),
    ("7/10, 4/5", ParseOutcome.SCALE_MISMATCH),
]


@pytest.mark.parametrize(("text", "outcome"), PAIR_FAILURES)
def test_pairs_that_fail(text: str, outcome: ParseOutcome) -> None:
    result = parse_pair_scores_detailed(text, 0, 10)
    assert result.outcome is outcome, result
    assert result.value is None


# ------------------------------------------------------------------ verdicts

VERDICTS = [
    ("Image 1", "a"),
    ("image a", "a"),
    ("A", "a"),
    ("a.", "a"),
    ("**B**", "b"),
    ("1", "a"),
    ("2", "b"),
    ("The first image", "a"),
    ("second", "b"),
    ("tie", "tie"),
    ("Tie.", "tie"),
    ("equal", "tie"),
    ("Both are equal", "tie"),
    ("no preference", "tie"),
    ("Preference: Image 2", "b"),
    ("Winner: A", "a"),
    ("Final answer: tie", "tie"),
    ("Answer: a tie", "tie"),
    ("Image 1 is better than Image 2", "a"),
    ("Image 2 is clearly better aligned with the prompt than Image 1.", "b"),
    ("I prefer Image B.", "b"),
    ("Image 2 wins.", "b"),
    ("\\boxed{A}", "a"),
    ("\\boxed{\\text{Image 2}}", "b"),
    ("Both images are equally good.", "tie"),
    ("Only Image 2 shows the red cube.", "b"),
    ("ｉｍａｇｅ　１", "a"),
]


@pytest.mark.parametrize(("text", "expected"), VERDICTS)
def test_verdicts(text: str, expected: str) -> None:
    result = parse_preference_detailed(text)
    assert result.outcome is ParseOutcome.OK, result
    assert parse_preference(text) == expected


VERDICT_FAILURES = [
    ("", ParseOutcome.EMPTY),
    ("hello", ParseOutcome.NO_VERDICT),
    ("C", ParseOutcome.NO_VERDICT),
    ("\\boxed{C}", ParseOutcome.NO_VERDICT),
    ("\\boxed{A} \\boxed{B}", ParseOutcome.CONFLICT),
    ("Preference: Image 1. Winner: Image 2", ParseOutcome.CONFLICT),
    ("Image 1 has a cat, Image 2 has a dog.", ParseOutcome.CONFLICT),
]


@pytest.mark.parametrize(("text", "outcome"), VERDICT_FAILURES)
def test_verdicts_that_fail(text: str, outcome: ParseOutcome) -> None:
    result = parse_preference_detailed(text)
    assert result.outcome is outcome, result
    assert result.value is None


def test_parse_answer_dispatch() -> None:
    assert parse_answer("7", "score", 0, 10).value == 7.0
    assert parse_answer("7, 4", "pair_scores", 0, 10).value == (7.0, 4.0)
    assert parse_answer("Image 2", "verdict").value == "b"
    assert parse_answer("anything", "any").outcome is ParseOutcome.OK
    assert parse_answer("  ", "any").outcome is ParseOutcome.EMPTY
    assert parse_answer(None, "any").outcome is ParseOutcome.NOT_TEXT
    with pytest.raises(ValueError, match="unknown answer kind"):
        parse_answer("7", "nonsense")  # type: ignore[arg-type]


def test_outcome_values_are_stable_strings() -> None:
    assert ParseOutcome.OUT_OF_RANGE == "out_of_range"
    assert ParseOutcome.MALFORMED.value == "malformed"
    assert len({o.value for o in ParseOutcome}) == len(ParseOutcome)


# ------------------------------------------------------------------ fuzzing: never raise


@given(completion_text)
def test_parsers_never_raise(text: str) -> None:
    parsed = parse_completion(text)
    assert isinstance(parsed.well_formed, bool)
    assert parsed.well_formed == (not parsed.problems)
    for lo, hi in ((None, None), (0.0, 10.0), (1.0, 5.0)):
        score = parse_score_detailed(text, lo, hi)
        assert isinstance(score.outcome, ParseOutcome)
        assert (score.value is None) == (score.outcome is not ParseOutcome.OK)
        if score.value is not None:
            assert math.isfinite(score.value)
            if lo is not None and hi is not None:
                assert lo <= score.value <= hi
        pair = parse_pair_scores_detailed(text, lo, hi)
        assert (pair.value is None) == (pair.outcome is not ParseOutcome.OK)
        if pair.value is not None:
            assert all(math.isfinite(v) for v in pair.value)
            if lo is not None and hi is not None:
                assert all(lo <= v <= hi for v in pair.value)
    assert parse_preference(text) in (None, "a", "b", "tie")
    if parsed.answer is not None:
        parse_score(parsed.answer, 0, 10, mode="last")


@given(
    st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=40),
    st.integers(0, 10),
)
def test_well_formed_roundtrip(think: str, score: int) -> None:
    parsed = parse_completion(f"<think>{think}</think>\n<answer>{score}</answer>")
    assert parsed.well_formed
    assert parsed.think == think.strip()
    assert parse_score(parsed.answer, 0, 10) == score
