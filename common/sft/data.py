"""SFT examples, their order, and their encoding into a model batch with answer-only labels.

An :class:`SFTExample` is a prompt conversation (chat messages whose content parts may hold PIL
images, as built by ``t2ieval_r1.prompts.build_messages`` or ``firm.prompts.rm.rm_messages``)
and the target text the model must answer. The training conversation is the prompt plus one
assistant turn holding the target; the loss is on the target's tokens and the closing
``<|im_end|>`` only (:func:`common.models.pretrain.vlm.answer_labels`), i.e. the negative
log-likelihood

    L = - sum_{t in target} log p(x_t | x_<t) / |target tokens|

over the examples of an optimizer step (a token mean over the whole step, see
:mod:`common.sft.objective`).

Order: optimizer step ``s`` uses global positions ``s * G ... (s + 1) * G - 1`` (``G`` the global
batch); position ``p`` is example ``perm_e[p mod N]`` with ``e = p // N`` and ``perm_e`` a
permutation seeded by ``(seed, e)``: every epoch is a fresh shuffle, the last batch of an epoch is
completed from the next one, and the batch of a step is a pure function of (seed, step), which is
what makes an interrupted run resume exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from common.models.pretrain.vlm import answer_labels

__all__ = [
    "ConcatExamples",
    "ExampleOrder",
    "LazyExamples",
    "SFTExample",
    "encode_sft_batch",
    "sft_conversation",
    "target_token_count",
]

_ORDER_SALT = 0x5F7


@dataclass(frozen=True)
class SFTExample:
    """One training example: the prompt ``messages`` (no assistant turn) and the ``target`` answer."""

    messages: list[dict[str, Any]]
    target: str

    def __post_init__(self) -> None:
        if not isinstance(self.messages, list) or not self.messages:
            raise ValueError("an SFTExample needs a non-empty list of prompt messages")
        if self.messages[-1].get("role") == "assistant":
            raise ValueError("the prompt messages of an SFTExample must not end with an assistant turn")
        if not isinstance(self.target, str) or not self.target.strip():
            raise ValueError("an SFTExample needs a non-empty target text")


def sft_conversation(example: SFTExample) -> list[dict[str, Any]]:
    """The training conversation: the prompt messages and the target as the assistant turn."""
    return [*example.messages, {"role": "assistant", "content": example.target}]


def target_token_count(bundle: Any, target: str) -> int:
    """Labelled tokens of ``target``: its tokens plus the closing ``<|im_end|>``."""
    return len(bundle.tokenizer(target, add_special_tokens=False).input_ids) + 1


def encode_sft_batch(bundle: Any, examples: Sequence[SFTExample]) -> dict[str, Any]:
    """Examples -> ``input_ids``, ``attention_mask``, ``mm_token_type_ids``, images, ``labels``.

    ``labels`` are ``-100`` everywhere but on each target's tokens and its ``<|im_end|>``.
    """
    if not examples:
        raise ValueError("encode_sft_batch needs at least one example")
    enc = bundle.encode_chat([sft_conversation(e) for e in examples], add_generation_prompt=False)
    out = dict(enc)
    out["labels"] = answer_labels(bundle, enc, [e.target for e in examples])
    return out


class ExampleOrder:
    """Which examples each optimizer step uses (module docstring); permutations are cached."""

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError("ExampleOrder needs at least one example")
        self.n = int(n)
        self.seed = int(seed)
        self._perms: dict[int, np.ndarray] = {}

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            rng = np.random.default_rng([self.seed, epoch, _ORDER_SALT])
            self._perms[epoch] = rng.permutation(self.n)
            if len(self._perms) > 4:  # only the epochs around the current step are needed
                self._perms.pop(min(self._perms))
        return self._perms[epoch]

    def indices(self, step: int, global_batch: int) -> list[int]:
        """Example indices of optimizer step ``step`` (0-based), ``global_batch`` of them."""
        out = []
        for pos in range(step * global_batch, (step + 1) * global_batch):
            out.append(int(self.permutation(pos // self.n)[pos % self.n]))
        return out


class LazyExamples(Sequence[SFTExample]):
    """``fn(rows[i])`` on access: examples over an HF dataset (or any sequence) without loading all.

    ``rows`` needs ``len`` and integer indexing (a ``datasets.Dataset`` decodes its images only
    for the rows read).
    """

    def __init__(self, rows: Any, fn: Callable[[Mapping[str, Any]], SFTExample]) -> None:
        self.rows = rows
        self.fn = fn

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> SFTExample:  # type: ignore[override]
        if not isinstance(i, int | np.integer):
            raise TypeError("LazyExamples takes integer indices")
        return self.fn(self.rows[int(i)])


class ConcatExamples(Sequence[SFTExample]):
    """Several example sequences as one (e.g. the edit RM's execution and consistency examples)."""

    def __init__(self, parts: Sequence[Sequence[SFTExample]]) -> None:
        self.parts = [p for p in parts if len(p)]
        self.offsets = np.cumsum([0, *(len(p) for p in self.parts)])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> SFTExample:  # type: ignore[override]
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"example {i} out of range ({len(self)})")
        part = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[part][i - int(self.offsets[part])]

    def __iter__(self) -> Iterator[SFTExample]:
        for part in self.parts:
            yield from part
