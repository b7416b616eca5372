"""Reading a score off a judge's completion: the number it wrote, or the expectation over the numbers
it could have written there.

Two readouts (:data:`SCORE_READOUTS`):

* ``answer``: the number the completion states (parsed from the text).
* ``expected``: the probability-weighted mean of the scores the judge could have written at the
  position where it wrote its score, ``E[s] = sum_s p(s) s / sum_s p(s)`` over the score tokens
  among the returned alternatives (the ``top_logprobs`` of that token), restricted to the scale
  ``[lo, hi]`` and renormalised. This is G-Eval's probability-weighted score (Liu et al. 2023,
  "G-Eval: NLG Evaluation using GPT-4 with Better Human Alignment", §2.3): with greedy decoding a
  judge whose score distribution moves with the input but keeps one mode writes that mode for
  every input; the expectation keeps the movement. It needs per-token log-probs
  (:data:`common.annotators.types.TokenLogprob`), which the project's in-process models, its
  server, vLLM and the OpenAI API return when a request sets ``logprobs`` / ``top_logprobs``.

Where the score is: the written score is the last run of numeric tokens in the completion whose
text equals the parsed value (a run: a numeric token not glued to a numeric token before it,
then the numeric tokens glued to it, so a tokenizer that splits ``10`` into ``1`` ``0`` or
``7.5`` into ``7`` ``.`` ``5`` is read at the first digit; a lone ``.`` after a word is a full
stop, not a decimal point). The alternatives are read at the first token of that run; the chosen token counts
as the whole parsed value, any other numeric alternative as its own number. With a digit-split
tokenizer an alternative ``1`` on a 0-10 scale is read as 1, not 10: on such scales the readout
is an approximation (exact for the project's tokenizer, which has one token per integer and per
decimal score, and for 1-5 scales).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SCORE_READOUTS", "check_readout", "expected_score", "score_distribution", "score_position"]

SCORE_READOUTS: tuple[str, ...] = ("answer", "expected")

_NUMERIC = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+|\.")


def check_readout(readout: str, where: str = "readout") -> str:
    """``readout`` if it is one of :data:`SCORE_READOUTS`, else a ValueError naming ``where``."""
    if readout not in SCORE_READOUTS:
        raise ValueError(f"{where} must be one of {SCORE_READOUTS}, got {readout!r}")
    return readout


def _piece(token: Any) -> tuple[str, bool] | None:
    """``(digits, glued)`` of a numeric token (``glued``: no leading whitespace), else ``None``."""
    if not isinstance(token, str):
        return None
    stripped = token.strip()
    if not stripped or not _NUMERIC.fullmatch(stripped):
        return None
    return stripped, not token[:1].isspace()


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def score_position(logprobs: Sequence[Mapping[str, Any]], value: float) -> int | None:
    """Index of the token where the completion writes ``value`` (module docstring), or ``None``."""
    pieces = [_piece(entry.get("token")) for entry in logprobs]

    def has_digit(k: int) -> bool:
        piece = pieces[k] if 0 <= k < len(pieces) else None
        return piece is not None and any(c.isdigit() for c in piece[0])

    def continues_number(k: int) -> bool:  # token k is glued to a number before it
        piece = pieces[k]
        if piece is None or not piece[1] or k == 0 or pieces[k - 1] is None:
            return False
        before = pieces[k - 1]
        assert before is not None
        return has_digit(k - 1) or (before[0] == "." and before[1] and has_digit(k - 2))

    for start in range(len(pieces) - 1, -1, -1):
        piece = pieces[start]
        if piece is None or not has_digit(start) or continues_number(start):
            continue
        text = ""
        for k in range(start, len(pieces)):
            nxt = pieces[k]
            if nxt is None or (k > start and not nxt[1]):
                break
            text += nxt[0]
            number = _as_float(text)
            if number is not None and number == value:
                return start
    return None


def score_distribution(
    logprobs: Sequence[Mapping[str, Any]] | None, value: float, lo: float, hi: float
) -> dict[float, float] | None:
    """``{score: probability}`` at the written score, renormalised over ``[lo, hi]``; ``None``
    when there are no log-probs, the score cannot be located, or no alternative is a score."""
    if not logprobs:
        return None
    pos = score_position(logprobs, value)
    if pos is None:
        return None
    entry = logprobs[pos]
    chosen = str(entry.get("token"))
    alternatives = list(entry.get("top_logprobs") or [])
    if not any(a.get("token") == chosen for a in alternatives):
        alternatives.append({"token": chosen, "logprob": entry.get("logprob")})
    scored: list[tuple[float, float]] = []
    for alt in alternatives:
        lp = alt.get("logprob")
        if isinstance(lp, bool) or not isinstance(lp, int | float) or not math.isfinite(lp):
            continue
        token = alt.get("token")
        if token == chosen:
            score: float | None = float(value)
        else:
            piece = _piece(token)
            score = None if piece is None else _as_float(piece[0])
        if score is None or not lo <= score <= hi:
            continue
        scored.append((score, float(lp)))
    if not scored:
        return None
    top = max(lp for _, lp in scored)  # exp(lp - top): no overflow, whatever a backend sends
    weights: dict[float, float] = {}
    for score, lp in scored:
        weights[score] = weights.get(score, 0.0) + math.exp(lp - top)
    total = sum(weights.values())
    if total <= 0:
        return None
    return {s: w / total for s, w in sorted(weights.items())}


def expected_score(
    logprobs: Sequence[Mapping[str, Any]] | None, value: float, lo: float, hi: float
) -> float | None:
    """``sum_s p(s) s`` of :func:`score_distribution` (``None`` where that is ``None``)."""
    dist = score_distribution(logprobs, value, lo, hi)
    if dist is None:
        return None
    return float(sum(s * p for s, p in dist.items()))
