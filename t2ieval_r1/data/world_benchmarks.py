"""Adapter from the world's benchmark datasets (:mod:`common.world.benchmarks`, simulated raters)
to the corpus schemas of :mod:`t2ieval_r1.data.schema`.

==============  ===========  ===================================================================
benchmark       splits       rows produced
==============  ===========  ===================================================================
t2i_eval        train, test  single-wise, one row per (image, aspect): the label is the mean of
                             the three raters (0-10); ``meta`` carries the scene, the GenEval
                             metadata, violated requirements, defects, ratings and ground truth
pairwise        train        pairwise (no ties), aspect overall, scale 0-10
imagereward     test         pairwise with ties, aspect overall, scale 0-10
tifa            test         single-wise, aspect faithfulness, label ``human_avg`` on 1-5
==============  ===========  ===================================================================

The datasets are built on first use and cached under ``${paths.cache_dir}/world``
(:func:`common.world.benchmarks.load_world_dataset`); images are not decoded by the adapter.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from common.runtime import RunSettings
from common.world.benchmarks import load_world_dataset
from t2ieval_r1.data.schema import DataFormatError, pairwise_features, singlewise_features

__all__ = ["WORLD_CORPORA", "load_world_benchmark"]

WORLD_CORPORA: dict[str, tuple[str, ...]] = {
    "t2i_eval": ("train", "test"),
    "pairwise": ("train",),
    "imagereward": ("test",),
    "tifa": ("test",),
}
_T2I_ASPECTS = ("appearance", "intrinsic", "relationship", "overall")
_GEN_META = ("tag", "metadata", "mode", "defects", "violated", "scene")


def _json_or(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _gen_meta(row: dict[str, Any], source: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"source": source}
    for key in _GEN_META:
        if key in row:
            meta[key] = _json_or(row[key])
    return meta


def _t2i_eval(ds: datasets.Dataset, split: str, aspects: Sequence[str]) -> datasets.Dataset:
    bad = [a for a in aspects if a not in _T2I_ASPECTS]
    if bad or not aspects:
        raise DataFormatError(
            f"world t2i_eval: aspects {list(aspects)} must be a non-empty subset of {_T2I_ASPECTS}"
        )
    info_cols = [c for c in ds.column_names if c not in ("image",)]
    parts = []
    for aspect in aspects:

        def convert(batch: dict[str, list[Any]], aspect: str = aspect) -> dict[str, list[Any]]:
            n = len(batch["id"])
            rows = [{k: batch[k][i] for k in batch} for i in range(n)]
            metas = []
            for r in rows:
                meta = _gen_meta(r, f"world/t2i_eval/{split}")
                meta["ratings"] = r.get(f"{aspect}_ratings")
                meta["truth"] = r.get(f"{aspect}_truth")
                metas.append(json.dumps(meta, sort_keys=True))
            return {
                "id": [f"{r['id']}:{aspect}" for r in rows],
                "prompt": [r["prompt"] for r in rows],
                "score": [round(float(r[aspect]), 4) for r in rows],
                "scale_lo": [0.0] * n,
                "scale_hi": [10.0] * n,
                "aspect": [aspect] * n,
                "meta": metas,
            }

        parts.append(_map_keep_image(ds, convert, info_cols, singlewise_features(), "image"))
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _map_keep_image(
    ds: datasets.Dataset, fn: Any, info_cols: list[str], features: datasets.Features, *image_cols: str
) -> datasets.Dataset:
    """``fn`` applied to the non-image columns (as one batch), beside the undecoded image columns."""
    mapped = fn(ds.select_columns(info_cols).to_dict())
    info = datasets.Dataset.from_dict(mapped, features=datasets.Features({k: features[k] for k in mapped}))
    out = datasets.concatenate_datasets([info, ds.select_columns(list(image_cols))], axis=1)
    return out.select_columns([c for c in features if c in out.column_names])


def _pairs(ds: datasets.Dataset, name: str, split: str) -> datasets.Dataset:
    info_cols = [c for c in ds.column_names if c not in ("image_a", "image_b")]

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        n = len(batch["id"])
        metas = []
        for i in range(n):
            meta: dict[str, Any] = {"source": f"world/{name}/{split}"}
            for key in ("group", "tag", "score_a", "score_b", "ratings_a", "ratings_b", "truth_a", "truth_b"):
                if key in batch:
                    meta[key] = batch[key][i]
            if "metadata" in batch:
                meta["metadata"] = _json_or(batch["metadata"][i])
            metas.append(json.dumps(meta, sort_keys=True))
        return {
            "id": list(batch["id"]),
            "prompt": list(batch["prompt"]),
            "preference": list(batch["preference"]),
            "scale_lo": [0.0] * n,
            "scale_hi": [10.0] * n,
            "aspect": ["overall"] * n,
            "meta": metas,
        }

    return _map_keep_image(ds, convert, info_cols, pairwise_features(), "image_a", "image_b")


def _tifa(ds: datasets.Dataset, split: str) -> datasets.Dataset:
    info_cols = [c for c in ds.column_names if c != "image"]

    def convert(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        n = len(batch["id"])
        rows = [{k: batch[k][i] for k in batch} for i in range(n)]
        metas = []
        for r in rows:
            meta = _gen_meta(r, f"world/tifa/{split}")
            meta.update(text_id=r.get("text_id"), ratings=r.get("human_scores"), truth=r.get("truth"))
            metas.append(json.dumps(meta, sort_keys=True))
        return {
            "id": [r["id"] for r in rows],
            "prompt": [r["text"] for r in rows],
            "score": [round(float(r["human_avg"]), 4) for r in rows],
            "scale_lo": [1.0] * n,
            "scale_hi": [5.0] * n,
            "aspect": ["faithfulness"] * n,
            "meta": metas,
        }

    return _map_keep_image(ds, convert, info_cols, singlewise_features(), "image")


def load_world_benchmark(
    name: str,
    split: str,
    *,
    settings: RunSettings | None = None,
    aspects: Sequence[str] = ("overall",),
    seed: int | None = None,
    sizes: dict[str, int] | None = None,
    scale: float = 1.0,
    root: str | None = None,
    level: str | None = None,
) -> datasets.Dataset:
    """World benchmark ``name`` / ``split`` as a corpus (table in the module docstring).

    ``seed`` is the world's data seed (default: ``settings.world_seed``, else 0; not the run's
    seed); ``sizes`` / ``scale`` change the split sizes (the cached build is then rebuilt in
    place: give small test builds their own ``root``). ``root``: the directory holding the world
    datasets (default: ``<settings.cache_dir>/world``, else ``$T2I_CACHE_DIR/world``).
    ``level``: the world level (a :mod:`common.world.levels` name; ``None``: ``full``).
    """
    if name not in WORLD_CORPORA:
        raise DataFormatError(f"unknown world corpus {name!r}; known: {sorted(WORLD_CORPORA)}")
    if split not in WORLD_CORPORA[name]:
        raise DataFormatError(f"world corpus {name!r} has splits {list(WORLD_CORPORA[name])}, not {split!r}")

    where: Any = root if root is not None else settings
    if where is None:
        where = str(Path(os.environ.get("T2I_CACHE_DIR", ".cache/t2i_critics")) / "world")
    if seed is None and settings is not None and root is not None:
        seed = settings.world_seed
    dd = load_world_dataset(where, name, seed=seed, sizes=sizes, scale=scale, level=level)
    ds = dd[split]
    if name == "t2i_eval":
        return _t2i_eval(ds, split, aspects)
    if name == "tifa":
        return _tifa(ds, split)
    return _pairs(ds, name, split)
