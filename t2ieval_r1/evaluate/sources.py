"""A corpus source for TIFA v1.0 with the user's images: ``{source: tifa_human, image_root: ...}``.

The TIFA v1.0 human-judgment file is vendored (:func:`t2ieval_r1.benchmarks.tifa.load_tifa_human`)
but its 800 images are not; with the images at hand (``image_root`` holding
``<text_id>_<generator>.jpg``, the file's ``image_path``) this source makes it a single-wise
corpus: one row per image, prompt = ``text``, label = ``human_avg`` on 1-5, aspect
``faithfulness``, ``meta = {source, text_id, ratings}``. ``path`` replaces the vendored file
(same format). Every image is checked to exist up front (``check_images=False`` defers it).

Importing this module registers the source in :data:`t2ieval_r1.data.CORPUS_SOURCES`
(:mod:`t2ieval_r1.evaluate` imports it).
"""

from __future__ import annotations

from pathlib import Path

import datasets

from t2ieval_r1.benchmarks.tifa import TIFA_HUMAN_SCALE, load_tifa_human, tifa_human_path
from t2ieval_r1.data import CORPUS_SOURCES, DataFormatError, make_singlewise

__all__ = ["load_tifa_human_corpus"]


def load_tifa_human_corpus(
    image_root: str | Path | None = None, path: str | Path | None = None, *, check_images: bool = True
) -> datasets.Dataset:
    """TIFA v1.0 human judgments + images as a single-wise corpus (see the module docstring)."""
    file = Path(path).expanduser() if path is not None else tifa_human_path()
    if image_root is None:
        raise DataFormatError(
            f"tifa_human: set `image_root` to the directory holding the TIFA v1.0 images named in {file} "
            "(e.g. coco_669925_mini_dalle.jpg); the images are not shipped with the project"
        )
    root = Path(image_root).expanduser()
    records = load_tifa_human(file)
    rows = []
    missing = []
    for rec in records:
        image = root / rec.image_path
        if check_images and not image.is_file():
            missing.append(str(image))
            continue
        rows.append(
            {
                "id": rec.id,
                "prompt": rec.text,
                "image": str(image),
                "score": rec.human_avg,
                "scale_lo": TIFA_HUMAN_SCALE[0],
                "scale_hi": TIFA_HUMAN_SCALE[1],
                "aspect": "faithfulness",
                "meta": {"source": "tifa_human", "text_id": rec.text_id, "ratings": list(rec.human_scores)},
            }
        )
    if missing:
        raise DataFormatError(
            f"tifa_human: {len(missing)} of {len(records)} images named in {file} are not under {root}, "
            f"e.g. {missing[0]}; check `image_root` (or pass check_images: false to skip the check)"
        )
    return make_singlewise(rows)


CORPUS_SOURCES.register("tifa_human")(load_tifa_human_corpus)
