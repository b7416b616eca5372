"""Hypothesis strategies shared by the reward tests: text that often hits the parsers' edge cases."""

from __future__ import annotations

from hypothesis import strategies as st

FRAGMENTS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "< /answer >",
    "<THINK>",
    "7",
    "7.5",
    "-1",
    "10",
    "1e400",
    "nan",
    "inf",
    "8/10",
    " out of ",
    "\\boxed{",
    "}",
    "{",
    '"score": ',
    '{"score_a": 7, "score_b": 4}',
    "Score: ",
    "Final Alignment Rating: ",
    "Image 1: ",
    "Image 2",
    "A: ",
    "tie",
    " ",
    "\n",
    ",",
    ".",
    "７",
    "\u2212",
]

completion_text = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=12).map("".join),
)
