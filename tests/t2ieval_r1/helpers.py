"""Rewards used by the trainer tests (importable by a subprocess run through a Hydra ``_target_``)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path

from t2ieval_r1.grpo import EvalItem, RewardResult

NUMBER = re.compile(r"^\d+(\.\d+)?$")


def numeric_share(completions: Sequence[str], items: Sequence[EvalItem]) -> RewardResult:
    """A reward a random policy can improve fast: the share of its tokens that are numbers (~25%
    of the vocabulary), so the learning tests assert a real, quick increase."""
    del items
    shares = []
    for text in completions:
        words = text.split()
        shares.append(sum(bool(NUMBER.match(w)) for w in words) / max(len(words), 1))
    return RewardResult(shares, {"score": shares})


class KillOnce:
    """:func:`numeric_share`, except that the ``at_call``-th call SIGKILLs the process unless
    ``marker`` exists (it is created first): the first run of a command dies mid-training, the
    rerun of the same command does not."""

    def __init__(self, marker: str, at_call: int = 3) -> None:
        self.marker = Path(marker)
        self.at_call = at_call
        self.calls = 0

    def __call__(self, completions: Sequence[str], items: Sequence[EvalItem]) -> RewardResult:
        self.calls += 1
        if self.calls == self.at_call and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return numeric_share(completions, items)
