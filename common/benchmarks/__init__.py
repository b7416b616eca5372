"""Real benchmark prompt sets vendored as package data (each folder under ``data/`` keeps its
LICENSE and provenance, e.g. common/benchmarks/data/geneval/PROVENANCE.md): GenEval's prompt
metadata and DrawBench's prompts.

The TIFA v1.0 human judgments belong to the T2I-Eval-R1 reproduction and live in
:mod:`t2ieval_r1.benchmarks`.
"""

from common.benchmarks.drawbench import drawbench_path, load_drawbench_prompts
from common.benchmarks.geneval import geneval_metadata_path, load_geneval_prompts

__all__ = ["drawbench_path", "geneval_metadata_path", "load_drawbench_prompts", "load_geneval_prompts"]
