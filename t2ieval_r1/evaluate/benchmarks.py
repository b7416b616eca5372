"""The three meta-evaluation benchmarks of T2I-Eval-R1 (docs/papers/t2i_eval_r1.md §2), by default on
the embedded world, each replaceable by the real files through a ``load_corpus`` spec.

==============  ============  ===============================  =====================================
benchmark       kind          default corpus                   real data (``corpus`` spec)
==============  ============  ===============================  =====================================
t2i_eval        correlation   world ``t2i_eval`` test split,   ``{source: t2i_eval_bench,
                              4 aspects, 0-10, label = mean    bench_json, scores_json, image_root}``
                              of 3 raters
tifa            correlation   world ``tifa`` test split,       ``{source: tifa_human, image_root}``
                              faithfulness 1-5 (``human_avg``)  (the vendored TIFA v1.0 file + your
                                                               images)
imagereward     pairwise      world ``imagereward`` test       ``{source: imagereward, path,
                              (3 images per prompt, all        image_root}`` (rankings -> pairs)
                              pairs, ties kept)
==============  ============  ===============================  =====================================

``kind`` decides the metrics (:mod:`t2ieval_r1.evaluate.metrics`): correlation benchmarks report
Spearman / Kendall / Pearson per aspect, pairwise ones the preference accuracy with and without
ties. A :class:`BenchmarkSpec` can be built from a config node (:meth:`BenchmarkSpec.from_config`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import datasets

from common.config import to_dataclass
from common.runtime import RunSettings
from t2ieval_r1.data import load_corpus
from t2ieval_r1.data.rescale import refuse_rescale

__all__ = ["BENCHMARK_KINDS", "DEFAULT_BENCHMARKS", "BenchmarkSpec", "limit_corpus", "load_benchmark"]

BENCHMARK_KINDS: tuple[str, ...] = ("correlation", "pairwise")
T2I_EVAL_ASPECTS: tuple[str, ...] = ("appearance", "intrinsic", "relationship", "overall")


@dataclass(frozen=True)
class BenchmarkNode:
    """The config node of one benchmark (``task.benchmarks.<name>``).

    Attributes:
        kind: one of :data:`BENCHMARK_KINDS`.
        corpus: a :func:`t2ieval_r1.data.load_corpus` spec with a ``source``.
        title: the table title (empty: the benchmark's name).
        limit: rows kept (``None``: all).
    """

    kind: str
    corpus: dict[str, Any]
    title: str = ""
    limit: int | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark: its name, kind, corpus spec and an optional per-benchmark row limit."""

    name: str
    kind: str
    corpus: dict[str, Any]
    title: str = ""
    limit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in BENCHMARK_KINDS:
            raise ValueError(
                f"benchmark {self.name!r}: kind must be one of {BENCHMARK_KINDS}, got {self.kind!r}"
            )
        if not isinstance(self.corpus, Mapping) or "source" not in self.corpus:
            raise ValueError(
                f"benchmark {self.name!r}: `corpus` must be a load_corpus spec with a `source`, "
                f"got {self.corpus!r}"
            )
        refuse_rescale(self.corpus, f"benchmark {self.name!r}", "the key from its corpus")

    @classmethod
    def from_config(cls, name: str, node: Any) -> BenchmarkSpec:
        """From ``task.benchmarks.<name>`` (:class:`BenchmarkNode`), checked by the project's one
        converter (:func:`common.config.to_dataclass`)."""
        n = to_dataclass(BenchmarkNode, node, f"task.benchmarks.{name}")
        return cls(name, n.kind, dict(n.corpus), n.title or name, n.limit)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "corpus": dict(self.corpus), "title": self.title, "limit": self.limit}


DEFAULT_BENCHMARKS: dict[str, BenchmarkSpec] = {
    "t2i_eval": BenchmarkSpec(
        "t2i_eval",
        "correlation",
        {"source": "world", "name": "t2i_eval", "split": "test", "aspects": list(T2I_EVAL_ASPECTS)},
        "T2I-Eval-like (world, 3 raters, 0-10)",
    ),
    "tifa": BenchmarkSpec(
        "tifa",
        "correlation",
        {"source": "world", "name": "tifa", "split": "test"},
        "TIFA-like (world, 2 raters, 1-5)",
    ),
    "imagereward": BenchmarkSpec(
        "imagereward",
        "pairwise",
        {"source": "world", "name": "imagereward", "split": "test"},
        "ImageReward-like (world pairs, ties kept)",
    ),
}


def limit_corpus(ds: datasets.Dataset, limit: int | None) -> datasets.Dataset:
    """The first ``limit`` rows of each aspect (so a multi-aspect benchmark keeps the same items
    for every aspect); ``None`` keeps everything."""
    if limit is None:
        return ds
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    aspects = ds["aspect"] if "aspect" in ds.column_names else ["all"] * len(ds)
    seen: dict[str, int] = {}
    keep = []
    for i, aspect in enumerate(aspects):
        if seen.get(aspect, 0) < limit:
            seen[aspect] = seen.get(aspect, 0) + 1
            keep.append(i)
    return ds.select(keep)


def load_benchmark(
    spec: BenchmarkSpec,
    settings: RunSettings | None = None,
    limit: int | None = None,
    *,
    level: str | None = None,
) -> datasets.Dataset:
    """The corpus of ``spec`` (world sources at world ``level``, see :func:`load_corpus`), cut to
    ``spec.limit`` (else ``limit``) rows per aspect."""
    ds = load_corpus(spec.corpus, settings, level=level)
    return limit_corpus(ds, spec.limit if spec.limit is not None else limit)
