"""What one prompt of FIRM's online RL is: :class:`RLItem`, and where items come from.

An item carries what the policy is conditioned on (a T2I prompt, or an edit instruction and its
source image) and the world's truth about it, which only the oracle critic and the held-out
evaluation read (trained critics see the prompt and the images, as in the paper):

* ``kind="gen"``: ``geneval`` holds the prompt's GenEval requirements
  (:class:`common.world.geneval.GenEvalPrompt`);
* ``kind="edit"``: ``edit`` holds the world edit with its source and perfectly edited scenes
  (:class:`common.models.pretrain.data.EditTriple`), ``source_image`` the source rendered at the
  policy's resolution.

Sources (:func:`gen_items`, :func:`edit_items`) are seeded and at one world level. Training
batches (:func:`training_items`) and the held-out set come from different seeds; the world's
small levels have few distinct texts per tag (four single-object prompts at ``basic``), so a
held-out prompt text may also be trained on: what is held out is the (prompt, noise) pair, and
the evaluation reports the prompts never trained on separately.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from common.models.pretrain.data import EditTriple, world_edits
from common.world.geneval import GenEvalPrompt
from common.world.prompts import sample_prompts
from common.world.render import render_at
from common.world.vocab import GENEVAL_TAGS

__all__ = ["ITEM_KINDS", "RLItem", "edit_items", "gen_items", "items", "training_items"]

ITEM_KINDS: tuple[str, ...] = ("gen", "edit")


@dataclass(frozen=True)
class RLItem:
    """One prompt of online RL.

    Attributes:
        id: stable identifier (``<kind>-<seed>-<index>``).
        kind: ``"gen"`` (text-to-image) or ``"edit"`` (image editing).
        prompt: the T2I prompt or the edit instruction.
        geneval: gen: the prompt's requirements (the checker's and the oracle's truth).
        edit: edit: the world edit with source and target scenes.
        source_image: edit: the source image at the policy's resolution.
    """

    id: str
    kind: str
    prompt: str
    geneval: GenEvalPrompt | None = None
    edit: EditTriple | None = None
    source_image: Image.Image | None = None

    @property
    def tag(self) -> str:
        """The GenEval tag (gen) or the edit kind (edit): the unit of per-category tables."""
        if self.geneval is not None:
            return str(self.geneval.tag)
        if self.edit is not None:
            return str(self.edit.op)
        return ""


def gen_items(n: int, seed: int, *, level: str | None, tags: Sequence[str] = GENEVAL_TAGS) -> list[RLItem]:
    """``n`` world prompts of ``level`` (tags in turn), seeded."""
    rng = np.random.default_rng([int(seed), 0x6E1])
    prompts = sample_prompts(n, rng, tuple(tags), level=level)
    return [RLItem(f"gen-{seed}-{i}", "gen", p.prompt, geneval=p) for i, p in enumerate(prompts)]


def edit_items(
    n: int, seed: int, *, level: str | None, resolution: int, kinds: Sequence[str] | None = None
) -> list[RLItem]:
    """``n`` world edits of ``level`` (kinds in turn, canonical instructions), sources rendered at
    ``resolution`` pixels, seeded."""
    triples = world_edits(n, int(seed), list(kinds) if kinds else None, level=level)
    return [
        RLItem(
            f"edit-{seed}-{i}", "edit", t.instruction, edit=t, source_image=render_at(t.source, resolution)
        )
        for i, t in enumerate(triples)
    ]


def items(kind: str, n: int, seed: int, *, level: str | None, resolution: int, **kwargs: Any) -> list[RLItem]:
    """:func:`gen_items` or :func:`edit_items` by ``kind``."""
    if kind == "gen":
        return gen_items(n, seed, level=level, **kwargs)
    if kind == "edit":
        return edit_items(n, seed, level=level, resolution=resolution, **kwargs)
    raise ValueError(f"RL item kind must be one of {ITEM_KINDS}, got {kind!r}")


def training_items(
    kind: str,
    per_batch: int,
    seed: int,
    *,
    level: str | None,
    resolution: int,
    start: int = 0,
    **kwargs: Any,
) -> Iterator[tuple[int, list[RLItem]]]:
    """Batches ``(index, items)`` of ``per_batch`` training items from batch ``start`` on.

    Batch ``i`` is drawn from seed ``(seed, i)`` alone, so a resumed run gets the same next batch.
    """
    index = start
    while True:
        sub = int(seed) * 1_000_003 + index * 1_009 + 1
        yield index, items(kind, per_batch, sub, level=level, resolution=resolution, **kwargs)
        index += 1
