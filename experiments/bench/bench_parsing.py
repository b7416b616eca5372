"""Time the answer parsers on huge, adversarial inputs (``make bench``; not a test).

Each input once made a naive regex backtrack for minutes; ``tests/common/parsing/test_parsing.py``
checks what they parse to, this reports how long each parser takes on each (target: well under
a second per call).
"""

from __future__ import annotations

import time
from typing import Any

from common.parsing import parse_completion, parse_pair_scores, parse_preference, parse_score

INPUTS = {
    "open_tag_then_spaces": "<" + " " * 50_000,
    "long_digit_run": "1" * 50_000 + "x",
    "nested_json_opening": '{"a":' * 5_000,
    "repeated_image_label": "Image 1 " * 5_000,
    "broken_closing_tags": "< / " * 10_000,
    "long_reasoning": "<think>" + "a red circle at the top left. " * 2_000 + "</think><answer>7</answer>",
}

PARSERS = {
    "completion": parse_completion,
    "score": lambda t: parse_score(t, 0, 10),
    "pair": lambda t: parse_pair_scores(t, 0, 10),
    "preference": parse_preference,
}


def main() -> dict[str, Any]:
    """Seconds per (input, parser), best of 3; return ``{"seconds": {...}, "max_s", "target_s"}``."""
    seconds: dict[str, dict[str, float]] = {}
    for name, text in INPUTS.items():
        seconds[name] = {}
        for parser_name, parse in PARSERS.items():
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                parse(text)
                best = min(best, time.perf_counter() - t0)
            seconds[name][parser_name] = round(best, 4)
        print(f"{name:>22}: {seconds[name]}", flush=True)
    worst = max(v for row in seconds.values() for v in row.values())
    return {"seconds": seconds, "max_s": worst, "target_s": 1.0}


if __name__ == "__main__":
    main()
