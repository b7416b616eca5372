"""Robust parsing of evaluator completions: tags, scores, score pairs and verdicts.

- :mod:`~common.parsing.outcome`: :class:`ParseOutcome`, why a parse succeeded or failed.
- :mod:`~common.parsing.tags`: the ``<think>`` / ``<answer>`` structure (:func:`parse_completion`).
- :mod:`~common.parsing.numbers`: the number-reading rules below (private helpers).
- :mod:`~common.parsing.scores`: one score (:func:`parse_score`).
- :mod:`~common.parsing.pairs`: two scores of a pairwise answer (:func:`parse_pair_scores`).
- :mod:`~common.parsing.preferences`: a pairwise verdict (:func:`parse_preference`).
- :mod:`~common.parsing.answers`: dispatch by answer kind (:func:`parse_answer`).

Every parser here accepts ANY value (not only ``str``) and never raises because of it: a reward
function must not crash a training step because a policy wrote something odd (only a bad
configuration, such as an unknown answer kind, raises). Failures are
reported as a :class:`ParseOutcome`, so trainers can count them by reason.

Output format (T2I-Eval-R1, docs/papers/t2i_eval_r1.md §3)::

    <think>reasoning</think><answer>score</answer>

FIRM's reward models answer without tags (docs/papers/firm.md §2-3): the edit RM returns JSON
``{"reasoning": "...", "score": n}``, the generation RM ends with ``Final Alignment Rating: X`` and
``\\boxed{X}``. :func:`parse_score` reads all of these.

Choices made here (documented, tested):

* Text is NFKC-normalised first (full-width digits and braces become ASCII; U+2212 MINUS SIGN and
  the fraction slashes become ``-`` and ``/``). After that only ASCII digits count as digits.
* ``"X/Y"`` and ``"X out of Y"`` mean *X on a Y-point scale*: the value is X, never rescaled.
  When ``hi`` is given and ``Y != hi`` the answer is on another scale than the one asked for, and
  the parse fails with ``SCALE_MISMATCH`` (a silently rescaled score would be noise).
* A value outside ``[lo, hi]`` is a parse failure (``OUT_OF_RANGE``), not a clipped score: the
  prompt states the scale, so answering outside it is a format violation.
* NaN and infinities (``nan``, ``inf``, ``1e400``, JSON ``NaN``) fail with ``NOT_FINITE``.
* Where one number is expected, two different numbers are ``CONFLICT`` (no guessing), unless
  ``mode="last"`` is asked for, which takes the last one (useful for long FIRM-style analyses).
* Source priority for a single score: a JSON object with a ``score`` key wins outright; otherwise
  the explicit markers ``\\boxed{n}`` and ``Score: n`` / ``Rating: n`` /
  ``Final Alignment Rating: n`` must all agree; otherwise the answer must contain exactly one
  distinct bare number.
"""

from common.parsing.answers import AnswerKind, parse_answer
from common.parsing.outcome import ParseOutcome
from common.parsing.pairs import PairParse, parse_pair_scores, parse_pair_scores_detailed
from common.parsing.preferences import PairLabel, PreferenceParse, parse_preference, parse_preference_detailed
from common.parsing.scores import ScoreParse, parse_score, parse_score_detailed
from common.parsing.tags import ParsedAnswer, parse_completion

__all__ = [
    "AnswerKind",
    "PairLabel",
    "PairParse",
    "ParseOutcome",
    "ParsedAnswer",
    "PreferenceParse",
    "ScoreParse",
    "parse_answer",
    "parse_completion",
    "parse_pair_scores",
    "parse_pair_scores_detailed",
    "parse_preference",
    "parse_preference_detailed",
    "parse_score",
    "parse_score_detailed",
]
