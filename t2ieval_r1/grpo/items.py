"""Training items and the resumable data stream of the trainer.

An :class:`EvalItem` is one row of a single-wise or pairwise corpus, ready to be shown to the
evaluator (:meth:`EvalItem.messages`) and scored (``label``: the score, or ``"a"``/``"b"``/``"tie"``).

:class:`DataStream` hands out ``items_per_step`` dataset indices per step and rank: epoch ``e``
visits the rows in the order of ``numpy.random.default_rng([seed, e]).permutation(n)``, steps
take consecutive slices of that order (crossing into the next epoch when one ends), and rank
``r`` of ``W`` takes the ``r``-th sub-slice of each step's global slice. Its whole state is
``(epoch, cursor)``, saved in checkpoints: a resumed run sees exactly the items it would have seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import datasets
import numpy as np

from t2ieval_r1.data.schema import corpus_kind
from t2ieval_r1.prompts import build_messages

__all__ = ["DataStream", "EvalItem", "item_from_row", "load_items"]


@dataclass
class EvalItem:
    """One evaluation to perform: a prompt, one or two images, the aspect, scale and label."""

    id: str
    kind: Literal["single", "pair"]
    prompt: str
    images: list[Any]
    aspect: str
    scale: tuple[float, float]
    label: float | str

    def messages(self, template: str = "default") -> list[dict[str, Any]]:
        """The chat conversation for :meth:`VLMBundle.encode_chat`."""
        return build_messages(
            self.prompt, self.images, aspect=self.aspect, scale=self.scale, template=template
        )


def _rgb(image: Any) -> Any:
    return image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image


def item_from_row(row: Mapping[str, Any], kind: str) -> EvalItem:
    """An :class:`EvalItem` from a decoded corpus row of ``kind`` (``single`` / ``pair``)."""
    scale = (float(row["scale_lo"]), float(row["scale_hi"]))
    if kind == "single":
        return EvalItem(
            str(row["id"]),
            "single",
            str(row["prompt"]),
            [_rgb(row["image"])],
            str(row["aspect"]),
            scale,
            float(row["score"]),
        )
    return EvalItem(
        str(row["id"]),
        "pair",
        str(row["prompt"]),
        [_rgb(row["image_a"]), _rgb(row["image_b"])],
        str(row["aspect"]),
        scale,
        str(row["preference"]),
    )


def load_items(ds: datasets.Dataset, indices: Sequence[int]) -> list[EvalItem]:
    """The items at ``indices`` of ``ds`` (images decoded)."""
    kind = corpus_kind(ds)
    return [item_from_row(ds[int(i)], kind) for i in indices]


class DataStream:
    """Deterministic, resumable order of a corpus for one rank (see the module docstring)."""

    def __init__(
        self, size: int, items_per_step: int, *, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        if size < 1:
            raise ValueError("the training corpus is empty")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.size = int(size)
        self.items_per_step = int(items_per_step)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0
        self.cursor = 0

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def next_indices(self) -> list[int]:
        """This rank's dataset indices for the next step (advances the stream)."""
        need = self.items_per_step * self.world_size
        taken: list[int] = []
        while len(taken) < need:
            order = self._order(self.epoch)
            take = min(need - len(taken), self.size - self.cursor)
            taken += [int(i) for i in order[self.cursor : self.cursor + take]]
            self.cursor += take
            if self.cursor >= self.size:
                self.epoch, self.cursor = self.epoch + 1, 0
        lo = self.rank * self.items_per_step
        return taken[lo : lo + self.items_per_step]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "size": self.size, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        if int(state["size"]) != self.size or int(state["seed"]) != self.seed:
            raise ValueError(
                f"the checkpoint's data stream was over {state['size']} rows with seed {state['seed']}, "
                f"this run has {self.size} rows with seed {self.seed}: resume with the same data and seed"
            )
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
