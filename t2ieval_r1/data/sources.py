"""One entry point for every corpus: ``load_corpus({"source": ..., ...})`` from a config node.

Sources (:data:`CORPUS_SOURCES`, a registry: add your own with ``@CORPUS_SOURCES.register``):

==================  ==========================================================================
source              parameters
==================  ==========================================================================
world               ``name`` (``t2i_eval`` / ``pairwise`` / ``imagereward`` / ``tifa``),
                    ``split``: the world's benchmark datasets (simulated raters), built on
                    first use and cached under ``paths.cache_dir``
world_quick         ``kind`` (single / pair), ``n``, ``seed``, ``aspects``: noiseless in-memory
                    world corpora (:mod:`t2ieval_r1.data.world`)
hf_disk             ``path`` (``Dataset.save_to_disk`` output), ``columns`` (rename map)
t2i_eval_distill    ``path``, ``image_root``, ``aspects``, ``scale``
t2i_eval_bench      ``bench_json``, ``scores_json``, ``image_root``, ``aspects``
ranked_pairs        ``path``, ``image_root``, ``include_ties`` (ImageReward-style rankings)
==================  ==========================================================================

Every source accepts ``limit`` (keep the first rows) and ``aspects`` (keep rows of these aspects,
for sources whose rows carry several); training corpora also take ``rescale`` (``{share, to,
seed}``: a share of the rows restated on another score scale, :mod:`t2ieval_r1.data.rescale`).
The result is validated against the schemas. The world sources (``world``, ``world_quick``) take
``level`` (a :mod:`common.world.levels` name): the spec's own, else the ``level`` given to
:func:`load_corpus` (tasks pass the run's ``world.level``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import datasets

from common.registry import Registry
from common.runtime import RunSettings
from common.world.levels import DEFAULT_LEVEL, get_level
from t2ieval_r1.data.real import load_ranked_pairs, load_t2i_eval_bench, load_t2i_eval_distill
from t2ieval_r1.data.rescale import rescale_corpus
from t2ieval_r1.data.schema import DataFormatError, validate_corpus
from t2ieval_r1.data.world import quick_pairwise, quick_singlewise
from t2ieval_r1.data.world_benchmarks import load_world_benchmark

__all__ = ["CORPUS_SOURCES", "WORLD_SOURCES", "corpus_at_level", "load_corpus"]

_TAKES_ASPECTS = frozenset({"world", "world_quick", "t2i_eval_distill", "t2i_eval_bench"})
WORLD_SOURCES = frozenset({"world", "world_quick"})
"""Sources drawn from the embedded world: they take a world ``level``."""

CORPUS_SOURCES: Registry[Callable[..., datasets.Dataset]] = Registry("corpus source")


def corpus_at_level(spec: Mapping[str, Any], level: str | None) -> dict[str, Any]:
    """``spec`` with world ``level`` filled in when it is a world source that names no level.

    ``full`` (and ``None``) stay implicit: a spec at ``full`` is the spec from before levels
    existed, and so are the cache keys hashed from it (e.g. the format warm-up's).
    """
    out = dict(spec)
    if out.get("source") in WORLD_SOURCES and get_level(level).name != DEFAULT_LEVEL:
        out.setdefault("level", get_level(level).name)
    return out


@CORPUS_SOURCES.register("world_quick")
def _world_quick(kind: str = "single", n: int = 64, seed: int = 0, **kwargs: Any) -> datasets.Dataset:
    if kind == "single":
        return quick_singlewise(int(n), seed=int(seed), **kwargs)
    if kind == "pair":
        return quick_pairwise(int(n), seed=int(seed), **kwargs)
    raise DataFormatError(f"world_quick: kind must be 'single' or 'pair', got {kind!r}")


@CORPUS_SOURCES.register("hf_disk")
def _hf_disk(
    path: str, columns: Mapping[str, str] | None = None, split: str | None = None
) -> datasets.Dataset:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFormatError(f"hf_disk: {p} does not exist; give the directory written by save_to_disk")
    ds = datasets.load_from_disk(str(p))
    if isinstance(ds, datasets.DatasetDict):
        if split is None or split not in ds:
            raise DataFormatError(f"hf_disk: {p} holds splits {list(ds)}; set `split` to one of them")
        ds = ds[split]
    for ours, theirs in (columns or {}).items():
        if theirs not in ds.column_names:
            raise DataFormatError(
                f"hf_disk: {p} has no column {theirs!r} to use as {ours!r}; it has {ds.column_names}"
            )
        ds = ds.rename_column(theirs, ours)
    return ds


@CORPUS_SOURCES.register("world")
def _world(
    name: str = "t2i_eval", split: str = "train", settings: RunSettings | None = None, **kwargs: Any
) -> datasets.Dataset:
    return load_world_benchmark(name, split, settings=settings, **kwargs)


CORPUS_SOURCES.register("t2i_eval_distill")(load_t2i_eval_distill)
CORPUS_SOURCES.register("t2i_eval_bench")(load_t2i_eval_bench)
CORPUS_SOURCES.register("ranked_pairs", "imagereward")(load_ranked_pairs)


def load_corpus(
    spec: Mapping[str, Any] | Any, settings: RunSettings | None = None, *, level: str | None = None
) -> datasets.Dataset:
    """Load and validate the corpus described by ``spec`` (a mapping or an OmegaConf node).

    ``settings`` (the run's) are passed to sources that need them (``world``: cache directory);
    ``level`` is the world level of the world sources whose spec names none (``None``: ``full``).
    """
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(spec, DictConfig):
            spec = OmegaConf.to_container(spec, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if not isinstance(spec, Mapping) or "source" not in spec:
        raise DataFormatError(
            f"a corpus spec needs a `source` (one of {sorted(CORPUS_SOURCES.names())}), got {spec!r}"
        )
    params = corpus_at_level(spec, level)
    source = str(params.pop("source"))
    limit = params.pop("limit", None)
    rescale = params.pop("rescale", None)
    # sources that build rows per aspect take `aspects` themselves; the others are filtered after
    aspects = None if source in _TAKES_ASPECTS else params.pop("aspects", None)
    if source == "world":
        params["settings"] = settings
    try:
        fn = CORPUS_SOURCES.get(source)
    except KeyError as e:
        raise DataFormatError(
            f"unknown corpus source {source!r}; known: {sorted(CORPUS_SOURCES.names())}"
        ) from e
    ds = fn(**params)
    if aspects is not None and "aspect" in ds.column_names:
        wanted = set(aspects)
        ds = ds.filter(lambda a: a in wanted, input_columns="aspect")
    if limit is not None:
        ds = ds.select(range(min(int(limit), len(ds))))
    if len(ds) == 0:
        raise DataFormatError(f"corpus {spec!r} is empty after filtering (aspects={aspects}, limit={limit})")
    if rescale is not None:
        ds = rescale_corpus(ds, rescale)
    validate_corpus(ds)
    return ds
