"""The world's GenEval detector: exact on clean renders, robust to the mildest defects.

Run with ``-s`` to print the confusion-by-tag tables.
"""

from __future__ import annotations

import numpy as np

from common.world.checker import detect_objects
from common.world.checker_confusion import checker_records, confusion_by_tag, confusion_markdown
from common.world.defects import DEFECT_KINDS, Defects
from common.world.render import render_array
from common.world.scene import Scene, SceneObject
from common.world.vocab import COLORS, SHAPES


def test_every_shape_and_colour_read_back() -> None:
    rng = np.random.default_rng(0)
    for i, (shape, color) in enumerate((s, c) for s in SHAPES for c in COLORS):
        obj = SceneObject(shape, color, 0.5, 0.5, float(rng.uniform(0.08, 0.2)), float(rng.uniform(0, 360)))
        (det,) = detect_objects(render_array(Scene(objects=(obj,), background_seed=i)))
        assert (det.shape, det.color) == (shape, color)
        assert abs(det.centroid[0] - 0.5) < 0.01 and abs(det.centroid[1] - 0.5) < 0.01


def test_checker_exact_on_clean_renders() -> None:
    records = checker_records(700, seed=2024)  # 700 prompts x (match, partial, miss) = 2,100 images
    conf = confusion_by_tag(records)
    print("\nChecker on clean renders (requirement-level confusion, positive = requirement holds):")
    print(confusion_markdown(conf))
    assert conf["all"]["images"] >= 2000
    assert conf["all"]["fp"] > 0 or conf["all"]["tn"] > 0
    assert conf["all"]["req_accuracy"] == 1.0
    assert conf["all"]["image_accuracy"] == 1.0


def test_checker_under_mildest_defects() -> None:
    records = []
    for i, kind in enumerate(DEFECT_KINDS):
        records += checker_records(40, seed=100 + i, defects=Defects.single(kind, 1))
    conf = confusion_by_tag(records)
    print("\nChecker under severity-1 defects (blur, noise, blotches, cut-off, melt; 120 images each):")
    print(confusion_markdown(conf))
    by_kind = {
        k: confusion_by_tag(records[120 * i : 120 * (i + 1)])["all"]["req_accuracy"]
        for i, k in enumerate(DEFECT_KINDS)
    }
    print("requirement accuracy per defect kind:", {k: round(v, 4) for k, v in by_kind.items()})
    assert conf["all"]["req_accuracy"] >= 0.98


def test_confusion_counts() -> None:
    recs = [
        {
            "tag": "colors",
            "truth": {"a": True, "b": False},
            "pred": {"a": True, "b": True},
            "truth_correct": False,
            "pred_correct": True,
        },
        {
            "tag": "colors",
            "truth": {"a": False},
            "pred": {"a": False},
            "truth_correct": False,
            "pred_correct": False,
        },
    ]
    c = confusion_by_tag(recs)["colors"]
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (1, 0, 1, 1)
    assert c["req_accuracy"] == 2 / 3 and c["image_accuracy"] == 0.5
    assert "| colors |" in confusion_markdown(confusion_by_tag(recs))
