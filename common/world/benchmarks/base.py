"""What every world-benchmark builder shares.

The build arguments and result (:class:`BuildArgs`, :class:`Built`), the :class:`Benchmark` record
that :mod:`common.world.benchmarks.registry` holds, the progress hook, the ``datasets`` feature
types, the columns of a generated image (:data:`GEN_FEATURES`, :data:`GEN_DOCS`) and the helpers
that turn rows into a split. The builders themselves live one family per module: ``t2i_eval``,
``pairwise``, ``tifa``, ``firm_bench`` and ``prompt_sets``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import datasets

from common.world.benchmarks.items import GenItem

T = TypeVar("T")
Progress = Callable[[Iterable[Any], str, int], Iterable[Any]]
"""``progress(iterable, desc, total) -> iterable`` (e.g. :meth:`RunContext.progress`)."""


def no_progress(iterable: Iterable[T], desc: str, total: int) -> Iterable[T]:
    """The default progress: none."""
    del desc, total
    return iterable


F32 = datasets.Value("float32")
I32 = datasets.Value("int32")
STR = datasets.Value("string")
IMG = datasets.Image()
LIST_F32 = datasets.List(F32)
LIST_I32 = datasets.List(I32)
LIST_STR = datasets.List(STR)


@dataclass(frozen=True)
class BuildArgs:
    """What a builder gets: the seed, the split sizes, the canvas, the world level and a progress
    wrapper."""

    seed: int
    sizes: dict[str, int]
    canvas: int = 128
    progress: Progress = no_progress
    level: str = "full"


@dataclass
class Built:
    """A built benchmark: the data and the statistics its card reports (JSON-able)."""

    data: datasets.DatasetDict
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    """A world benchmark: splits with default sizes, documentation, and its builder."""

    name: str
    title: str
    description: str
    sizes: dict[str, int]
    columns: dict[str, str]
    scores: tuple[str, ...]
    build: Callable[[BuildArgs], Built]

    def resolve_sizes(self, sizes: Mapping[str, int] | None = None, scale: float = 1.0) -> dict[str, int]:
        """Default sizes times ``scale`` (at least 1 each), overridden by ``sizes``."""
        out = {k: max(1, round(v * scale)) for k, v in self.sizes.items()}
        for k, v in (sizes or {}).items():
            if k not in out:
                raise KeyError(f"{self.name} has no split {k!r}; splits: {', '.join(out)}")
            out[k] = int(v)
        return out


def prompt_columns(item_prompt: Any) -> dict[str, Any]:
    """The ``prompt``, ``tag`` and ``metadata`` columns of a prompt."""
    return {"prompt": item_prompt.prompt, "tag": item_prompt.tag, "metadata": item_prompt.to_json()}


def gen_columns(it: GenItem) -> dict[str, Any]:
    """The ``mode``, ``defects``, ``violated`` and ``scene`` columns of a generated item."""
    return {
        "mode": it.mode,
        "defects": json.dumps(it.defects.to_dict(), sort_keys=True),
        "violated": sorted(it.violated),
        "scene": json.dumps(it.drawn.to_dict(), sort_keys=True),
    }


def _columns(rows: list[dict[str, Any]], features: datasets.Features) -> dict[str, list[Any]]:
    return {k: [r[k] for r in rows] for k in features}


def dataset_from_rows(
    rows: list[dict[str, Any]], features: datasets.Features, split: str
) -> datasets.Dataset:
    """One split from its rows (dicts with every column of ``features``), columns in feature order."""
    return datasets.Dataset.from_dict(
        _columns(rows, features), features=features, split=datasets.Split(split)
    )


def rounded(x: float, nd: int = 4) -> float:
    """``x`` rounded to ``nd`` decimals, as a Python float (what the float columns hold)."""
    return float(round(float(x), nd))


GEN_FEATURES = {
    "prompt": STR,
    "tag": STR,
    "metadata": STR,
    "image": IMG,
    "mode": STR,
    "defects": STR,
    "violated": LIST_STR,
    "scene": STR,
}
GEN_DOCS = {
    "id": "item id",
    "prompt": "the text prompt (world vocabulary, GenEval wording)",
    "tag": "GenEval task tag of the prompt",
    "metadata": "the prompt as a GenEval metadata record (JSON: tag, include, exclude, prompt)",
    "image": "the image (PNG, canvas x canvas RGB)",
    "mode": "how the scene was sampled: match / partial / miss",
    "defects": "appearance defects and severities 0-3 (JSON)",
    "violated": "GenEval requirements the drawn scene violates (ground truth)",
    "scene": "the drawn scene (JSON: objects with shape, colour, centre, radius, rotation)",
}
