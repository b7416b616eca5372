"""Corpora of T2I-Eval-R1 as Hugging Face datasets: single-wise (one image, one score) and pairwise
(two images, a preference), loaders of the world's corpora and of the real formats.

* :mod:`~t2ieval_r1.data.schema`: columns, ``datasets.Features``, validation.
* :mod:`~t2ieval_r1.data.real`: T2I-Eval-Distill-style scores, T2I-Eval-Bench, ImageReward-style
  rankings -> pairs.
* :mod:`~t2ieval_r1.data.world`: quick noiseless world corpora built in memory.
* :mod:`~t2ieval_r1.data.sources`: ``load_corpus(spec)``, the one entry point configs use.
"""

from t2ieval_r1.data.real import load_ranked_pairs, load_t2i_eval_bench, load_t2i_eval_distill, read_records
from t2ieval_r1.data.schema import (
    ASPECTS,
    PAIRWISE_COLUMNS,
    PREFERENCES,
    SINGLEWISE_COLUMNS,
    DataFormatError,
    corpus_kind,
    make_pairwise,
    make_singlewise,
    pairwise_features,
    singlewise_features,
    validate_corpus,
    validate_pairwise,
    validate_singlewise,
)
from t2ieval_r1.data.sources import CORPUS_SOURCES, corpus_at_level, load_corpus
from t2ieval_r1.data.world import quick_pairwise, quick_singlewise

__all__ = [
    "ASPECTS",
    "CORPUS_SOURCES",
    "PAIRWISE_COLUMNS",
    "PREFERENCES",
    "SINGLEWISE_COLUMNS",
    "DataFormatError",
    "corpus_at_level",
    "corpus_kind",
    "load_corpus",
    "load_ranked_pairs",
    "load_t2i_eval_bench",
    "load_t2i_eval_distill",
    "make_pairwise",
    "make_singlewise",
    "pairwise_features",
    "quick_pairwise",
    "quick_singlewise",
    "read_records",
    "singlewise_features",
    "validate_corpus",
    "validate_pairwise",
    "validate_singlewise",
]
