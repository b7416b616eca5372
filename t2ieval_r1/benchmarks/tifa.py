"""TIFA v1.0 human judgments: loader, predictions, and meta-evaluation against ``human_avg``.

The vendored file
(t2ieval_r1/benchmarks/data/tifa_v1_human/human_annotations_with_scores.json, Apache-2.0, provenance
in t2ieval_r1/benchmarks/data/tifa_v1_human/PROVENANCE.md) holds 800 images: 160 TIFA v1.0 prompts
x 5 generators. Each image has two faithfulness ratings on a 1-5 scale (``human_scores``), their
mean (``human_avg``) and the scores of 10 automatic metrics (:data:`TIFA_METRICS`). The images
themselves are not included.

Meta-evaluation follows the benchmark's protocol: correlate a scorer's per-image scores with
``human_avg`` over all 800 images (Pearson, Spearman, Kendall tau-b). A scorer's predictions come
as a file of ``{"id": <image id>, "score": x}`` lines (:func:`load_predictions`); ids are the keys
of the file, ``<text_id>_<generator>``, e.g. ``coco_669925_mini_dalle`` (the image file name
without ``.jpg``). Missing ids and ``null`` scores are missing predictions, handled by the policy
(``mean_fill`` by default, as T2I-Eval does) and counted in the result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.benchmarks._data import package_data_path
from common.scoring.bootstrap import DEFAULT_BOOTSTRAP, BootstrapConfig
from common.scoring.meta import meta_evaluate
from common.scoring.predictions import PredictionsFormatError, load_predictions

__all__ = [
    "PUBLISHED_TIFA_CORRELATIONS",
    "TIFA_GENERATORS",
    "TIFA_METRICS",
    "PredictionsFormatError",
    "TifaRecord",
    "load_predictions",
    "load_tifa_human",
    "meta_evaluate_tifa",
    "metric_predictions",
    "tifa_human_path",
]

#: The 10 automatic metrics scored in the file, in the file's order: four caption-overlap metrics
#: (against a caption of the image), CLIPScore (ViT-B/32), and TIFA with five VQA models.
TIFA_METRICS: tuple[str, ...] = (
    "meteor",
    "bleu",
    "rouge",
    "spice",
    "clipscore_vitb32",
    "tifa_vilt",
    "tifa_git-large",
    "tifa_ofa-large",
    "tifa_blip2-flant5xl",
    "tifa_mplug-large",
)

#: The five generators, as they appear at the end of the image ids.
TIFA_GENERATORS: tuple[str, ...] = (
    "mini_dalle",
    "vq_diffusion",
    "stable_diffusion_v1_1",
    "stable_diffusion_v1_5",
    "stable_diffusion_v2_1",
)

PUBLISHED_TIFA_CORRELATIONS: dict[str, dict[str, float]] = {
    "meteor": {"pearson": 0.3397, "kendall": 0.2741},
    "bleu": {"pearson": 0.1833, "kendall": 0.1879},
    "rouge": {"pearson": 0.3289, "kendall": 0.2449},
    "spice": {"pearson": 0.3281, "kendall": 0.2318},
    "clipscore_vitb32": {"pearson": 0.3318, "kendall": 0.2314},
    "tifa_vilt": {"pearson": 0.4932, "kendall": 0.3824},
    "tifa_git-large": {"pearson": 0.5445, "kendall": 0.4255},
    "tifa_ofa-large": {"pearson": 0.4961, "kendall": 0.3725},
    "tifa_blip2-flant5xl": {"pearson": 0.5590, "kendall": 0.4360},
    "tifa_mplug-large": {"pearson": 0.5967, "kendall": 0.4717},
}
"""The TIFA authors' published correlations of each metric with ``human_avg`` on this same file
(docs/papers/tifa.md §3, rounded to 4 decimals): the output of the correlation notebook released
beside the file. Its "Spearman" is ``np.corrcoef``, i.e. Pearson, so it is keyed ``pearson``; its
Kendall is scipy's default tau-b. No published Spearman (rank) correlation is recorded."""

TIFA_N_IMAGES = 800
TIFA_HUMAN_SCALE = (1.0, 5.0)

_FIELDS = ("text_id", "image_path", "text", "human_scores", "human_avg")


@dataclass(frozen=True)
class TifaRecord:
    """One image of the TIFA v1.0 human-judgment set."""

    id: str
    text_id: str
    text: str
    image_path: str
    human_scores: tuple[float, ...]
    human_avg: float
    metric_scores: Mapping[str, float]

    @property
    def generator(self) -> str:
        """The generator, read from the id (``<text_id>_<generator>``)."""
        return self.id[len(self.text_id) + 1 :]


def tifa_human_path() -> Path:
    """Path of the vendored t2ieval_r1/benchmarks/data/tifa_v1_human/human_annotations_with_scores.json."""
    return package_data_path(
        "t2ieval_r1.benchmarks", "data", "tifa_v1_human", "human_annotations_with_scores.json"
    )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def load_tifa_human(path: str | Path | None = None) -> list[TifaRecord]:
    """All records of the TIFA human-judgment file (the vendored one by default), in file order.

    Validates every record: the required fields, two or more numeric human scores, all 10 metric
    scores finite; raises ``ValueError`` naming the file, the image id and the field otherwise.
    """
    p = tifa_human_path() if path is None else Path(path)
    doc = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{p}: expected a JSON object keyed by image id, got {type(doc).__name__}")
    records: list[TifaRecord] = []
    for key, entry in doc.items():
        where = f"{p}: id {key!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        for fld in (*_FIELDS, *TIFA_METRICS):
            if fld not in entry:
                raise ValueError(f"{where}: field {fld!r} missing")
        scores = entry["human_scores"]
        if not isinstance(scores, list) or not scores:
            raise ValueError(f"{where}: field 'human_scores': expected a non-empty list")
        records.append(
            TifaRecord(
                id=str(key),
                text_id=str(entry["text_id"]),
                text=str(entry["text"]),
                image_path=str(entry["image_path"]),
                human_scores=tuple(_number(s, f"{where}: field 'human_scores'") for s in scores),
                human_avg=_number(entry["human_avg"], f"{where}: field 'human_avg'"),
                metric_scores={m: _number(entry[m], f"{where}: field {m!r}") for m in TIFA_METRICS},
            )
        )
    return records


def metric_predictions(metric: str, records: Sequence[TifaRecord] | None = None) -> dict[str, float]:
    """The scores of one of :data:`TIFA_METRICS` as predictions ``{image id: score}``."""
    if metric not in TIFA_METRICS:
        raise KeyError(f"unknown TIFA metric {metric!r}; known: {', '.join(TIFA_METRICS)}")
    recs = load_tifa_human() if records is None else records
    return {r.id: r.metric_scores[metric] for r in recs}


def human_targets(records: Sequence[TifaRecord], target: str = "human_avg") -> dict[str, float]:
    """Human scores per image id: ``human_avg`` or one annotator, ``human_<k>`` (k = 0, 1)."""
    if target == "human_avg":
        return {r.id: r.human_avg for r in records}
    if target.startswith("human_") and target[6:].isdigit():
        k = int(target[6:])
        return {r.id: r.human_scores[k] for r in records}
    raise ValueError(f"unknown target {target!r}; use 'human_avg' or 'human_<k>'")


def meta_evaluate_tifa(
    predictions: Mapping[str, float | None],
    records: Sequence[TifaRecord] | None = None,
    metrics: Sequence[str] = ("pearson", "spearman", "kendall"),
    bootstrap: BootstrapConfig | Mapping[str, Any] | int | None = DEFAULT_BOOTSTRAP,
    missing: str = "mean_fill",
    target: str = "human_avg",
    pairwise: bool = False,
) -> dict[str, Any]:
    """Meta-evaluate ``predictions`` (image id -> score or None) against the TIFA human judgments.

    Every one of the 800 images counts: an id absent from ``predictions`` is a missing prediction
    (policy ``missing``; reported as ``n_missing``); an id that is not a TIFA image raises
    ``ValueError``. With ``pairwise=True`` the result also has ``pairwise_acc`` (without human
    ties) and ``pairwise_acc_ties`` over the 10 pairs of images of each prompt (1,600 pairs), with a
    prompt-level cluster bootstrap. See :func:`common.scoring.meta.meta_evaluate` for the layout.
    """
    recs = load_tifa_human() if records is None else records
    human = human_targets(recs, target)
    names = list(metrics)
    groups = None
    if pairwise:
        names += [m for m in ("pairwise_acc", "pairwise_acc_ties") if m not in names]
        groups = {r.id: r.text_id for r in recs}
    try:
        return meta_evaluate(predictions, human, names, bootstrap=bootstrap, missing=missing, groups=groups)
    except ValueError as err:
        raise ValueError(f"TIFA meta-evaluation: {err}") from err
