"""Ask a critic to judge items: messages -> ``Annotator.complete`` -> ``parse_rm_output``.

Every critic goes through the one :class:`common.annotators.Annotator` interface: an in-process
model (:class:`~common.annotators.TransformersVLMAnnotator`), an OpenAI-compatible endpoint
(:class:`~common.annotators.OpenAICompatibleAnnotator`, e.g. vLLM serving FIRM-8B) or anything
else implementing ``complete``. Requests are greedy (temperature 0, as FIRM serves its RMs) with
a completion budget per mode; a request that fails comes back as an unparsed verdict with
``error = "request: <why>"``, counted with the parse failures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.annotators.types import Annotator, ChatRequest
from firm.curation.assemble import annotate
from firm.prompts.rm import RMVerdict, parse_rm_output

__all__ = ["JudgeItem", "judge"]


@dataclass(frozen=True)
class JudgeItem:
    """One thing to judge: the RM ``mode``, its input ``messages`` and the reference 1-5 ``score``."""

    id: str
    mode: str
    messages: list[dict[str, Any]]
    score: float


def judge(
    annotator: Annotator,
    items: Sequence[JudgeItem],
    *,
    max_tokens: int | Mapping[str, int],
    chunk_size: int = 64,
    progress: Callable[[Iterable[Any], str, int], Iterable[Any]] | None = None,
    desc: str = "judge",
) -> list[RMVerdict]:
    """The critic's parsed verdict on each item, in order."""

    def budget(mode: str) -> int:
        return int(max_tokens[mode] if isinstance(max_tokens, Mapping) else max_tokens)

    requests = [
        ChatRequest(
            it.messages, params={"temperature": 0.0, "max_tokens": budget(it.mode)}, meta={"id": it.id}
        )
        for it in items
    ]
    responses = annotate(annotator, requests, desc=desc, chunk_size=chunk_size, progress=progress)
    out = []
    for it, response in zip(items, responses, strict=True):
        if response.error is not None:
            out.append(RMVerdict(None, None, None, "", f"request: {response.error}"))
        else:
            out.append(parse_rm_output(it.mode, response.text))
    return out
