"""GenEval's 553 evaluation prompts (vendored ``data/geneval/evaluation_metadata.jsonl``).

Each line is a GenEval metadata record ``{tag, include, exclude?, prompt}``; the records are
parsed and validated by :class:`common.world.geneval.GenEvalPrompt` (the same type the embedded
world writes its prompts in), so the real prompts and the world's go through one scorer.
Provenance and license: ``common/benchmarks/data/geneval/PROVENANCE.md`` and ``LICENSE`` beside it.
"""

from __future__ import annotations

from pathlib import Path

from common.benchmarks._data import package_data_path
from common.world.geneval import GenEvalPrompt, load_geneval_jsonl

GENEVAL_N_PROMPTS = 553


def geneval_metadata_path() -> Path:
    """Path of the vendored ``evaluation_metadata.jsonl``."""
    return package_data_path("common.benchmarks", "data", "geneval", "evaluation_metadata.jsonl")


def load_geneval_prompts(path: str | Path | None = None) -> list[GenEvalPrompt]:
    """The GenEval prompts (vendored file by default), validated, in file order.

    Raises :class:`common.world.geneval.GenEvalSchemaError` naming the file and line on a bad record.
    """
    return load_geneval_jsonl(geneval_metadata_path() if path is None else Path(path))
