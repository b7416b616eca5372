"""DrawBench's 200 prompts (Imagen), vendored as ``data/drawbench/prompts.txt``, one per line.

Provenance and license: ``common/benchmarks/data/drawbench/PROVENANCE.md`` and ``LICENSE`` beside it.
"""

from __future__ import annotations

from pathlib import Path

from common.benchmarks._data import package_data_path

DRAWBENCH_N_PROMPTS = 200


def drawbench_path() -> Path:
    """Path of the vendored ``prompts.txt``."""
    return package_data_path("common.benchmarks", "data", "drawbench", "prompts.txt")


def load_drawbench_prompts(path: str | Path | None = None) -> list[str]:
    """The prompts (vendored file by default), stripped of surrounding whitespace, blank lines skipped."""
    p = drawbench_path() if path is None else Path(path)
    return [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
