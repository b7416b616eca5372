"""Scoring units: what the evaluator is asked, one chat request per unit.

A corpus row becomes one or two :class:`Unit` objects:

* single-wise row -> one ``single`` unit (key = the row id), label = the row's score;
* pairwise row, ``pair_mode="single"`` (default) -> two ``single`` units, keys ``<id>/a`` and
  ``<id>/b``: each image is scored on its own and the two scores are compared afterwards;
* pairwise row, ``pair_mode="pair"`` -> one ``pair`` unit (key = the row id) shown with the
  pairwise prompt (:func:`t2ieval_r1.prompts.build_messages` with two images).

Requests are built chunk by chunk (:func:`unit_requests`), decoding only that chunk's images, so
a real benchmark of large images never sits in memory at once. Each request carries in its
``meta`` the unit's key, scale and, for world items, the ground truth and scene(s) (read only by
offline backends such as the oracle, never sent over HTTP or hashed into cache keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import datasets

from common.annotators.types import ChatRequest
from t2ieval_r1.data.schema import corpus_kind
from t2ieval_r1.prompts import build_messages

__all__ = ["PAIR_MODES", "Unit", "build_units", "row_meta", "unit_requests"]

PAIR_MODES: tuple[str, ...] = ("single", "pair")


@dataclass(frozen=True)
class Unit:
    """One request to the evaluator.

    Attributes:
        key: unique within a benchmark (row id, or ``<row id>/a`` / ``/b``).
        row: index of the corpus row.
        row_id: the corpus row's id.
        kind: ``single`` (one image, one score) or ``pair`` (two images, two scores).
        images: the row's image column(s) shown.
        prompt / aspect / scale: what is asked.
        label: the human score of a single-wise row (``None`` for pair sides and pairs).
        preference: the human preference of a pairwise row (``a`` / ``b`` / ``tie``), else ``None``.
        side: ``a`` / ``b`` for a pair side scored single-wise, else ``None``.
        group: the pair's group (images of one prompt) for cluster bootstraps, else ``None``.
        truth: world ground truth on the scale (``[t_a, t_b]`` for a pair unit), else ``None``.
        scene: the world scene of a single-wise unit's image (dict), else ``None``.
        scenes: the two scenes of a pair unit, else ``None``.
    """

    key: str
    row: int
    row_id: str
    kind: Literal["single", "pair"]
    images: tuple[str, ...]
    prompt: str
    aspect: str
    scale: tuple[float, float]
    label: float | None = None
    preference: str | None = None
    side: str | None = None
    group: str | None = None
    truth: Any = None
    scene: dict[str, Any] | None = None
    scenes: tuple[Any, Any] | None = None

    def request_meta(self) -> dict[str, Any]:
        """What the request's ``meta`` carries (see the module docstring)."""
        meta: dict[str, Any] = {"key": self.key, "scale": list(self.scale)}
        if self.truth is not None:
            meta["truth"] = list(self.truth) if isinstance(self.truth, tuple) else self.truth
        if self.scene is not None:
            meta["scene"] = self.scene
        if self.scenes is not None:
            meta["scenes"] = list(self.scenes)
        return meta


def row_meta(value: Any) -> dict[str, Any]:
    """A row's ``meta`` column as a dict (``{}`` when absent or not JSON)."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            out = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def _scene(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return dict(value) if isinstance(value, Mapping) and "objects" in value else None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _side(meta: Mapping[str, Any], side: str, key: str) -> Any:
    """``meta[f"{key}_{side}"]`` (world pairs) or ``meta[side][key]`` (quick world pairs)."""
    if f"{key}_{side}" in meta:
        return meta[f"{key}_{side}"]
    nested = meta.get(side)
    if isinstance(nested, Mapping):
        if key == "truth":
            scores = nested.get("scores")
            return scores.get("overall") if isinstance(scores, Mapping) else nested.get("truth")
        return nested.get(key)
    return None


def build_units(ds: datasets.Dataset, pair_mode: str = "single") -> list[Unit]:
    """The units of a corpus of either kind (see the module docstring); images are not decoded."""
    if pair_mode not in PAIR_MODES:
        raise ValueError(f"pair_mode must be one of {PAIR_MODES}, got {pair_mode!r}")
    kind = corpus_kind(ds)
    label_col = "score" if kind == "single" else "preference"
    cols = ["id", "prompt", "aspect", "scale_lo", "scale_hi", label_col]
    table = ds.select_columns(cols + (["meta"] if "meta" in ds.column_names else [])).to_dict()
    units: list[Unit] = []
    for i, row_id in enumerate(table["id"]):
        meta = row_meta(table["meta"][i]) if "meta" in table else {}
        common = {
            "row": i,
            "row_id": str(row_id),
            "prompt": str(table["prompt"][i]),
            "aspect": str(table["aspect"][i]),
            "scale": (float(table["scale_lo"][i]), float(table["scale_hi"][i])),
        }
        if kind == "single":
            units.append(
                Unit(
                    key=str(row_id),
                    kind="single",
                    images=("image",),
                    label=float(table["score"][i]),
                    truth=_float(meta.get("truth")),
                    scene=_scene(meta.get("scene")),
                    **common,
                )
            )
            continue
        pref = str(table["preference"][i])
        group = meta.get("group") or meta.get("item_id")
        group = None if group is None else str(group)
        if pair_mode == "single":
            for side in ("a", "b"):
                units.append(
                    Unit(
                        key=f"{row_id}/{side}",
                        kind="single",
                        images=(f"image_{side}",),
                        preference=pref,
                        side=side,
                        group=group,
                        truth=_float(_side(meta, side, "truth")),
                        scene=_scene(_side(meta, side, "scene")),
                        **common,
                    )
                )
        else:
            ta, tb = _float(_side(meta, "a", "truth")), _float(_side(meta, "b", "truth"))
            units.append(
                Unit(
                    key=str(row_id),
                    kind="pair",
                    images=("image_a", "image_b"),
                    preference=pref,
                    group=group,
                    truth=None if ta is None or tb is None else (ta, tb),
                    scenes=(_scene(_side(meta, "a", "scene")), _scene(_side(meta, "b", "scene"))),
                    **common,
                )
            )
    return units


def _rgb(image: Any) -> Any:
    return image.convert("RGB") if getattr(image, "mode", "RGB") != "RGB" else image


def unit_requests(
    ds: datasets.Dataset,
    units: Sequence[Unit],
    *,
    template: str = "default",
    params: Mapping[str, Any] | None = None,
) -> list[ChatRequest]:
    """One chat request per unit (images of these units' rows decoded here)."""
    needed = sorted({u.row for u in units})
    columns = sorted({c for u in units for c in u.images})
    part = ds.select(needed).select_columns(columns) if needed else ds
    rows = {r: part[k] for k, r in enumerate(needed)}
    out = []
    for unit in units:
        images = [_rgb(rows[unit.row][c]) for c in unit.images]
        messages = build_messages(
            unit.prompt, images, aspect=unit.aspect, scale=unit.scale, template=template
        )
        out.append(ChatRequest(messages, params=dict(params or {}), meta=unit.request_meta()))
    return out
