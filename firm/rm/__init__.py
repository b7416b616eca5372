"""FIRM's reward models (docs/papers/firm.md §3): SFT of a Qwen3-VL on the curated data.

* :mod:`firm.rm.examples`: curated rows -> RM prompts (no report / plan) + curated responses;
* :mod:`firm.rm.data`: the curated datasets (a given directory, or the world-oracle curation
  cached on first use);
* :mod:`firm.rm.sources`: model sources as strings (``base``, run directories, checkpoints, hub
  ids) and the RM template per scale;
* :mod:`firm.rm.checkpoint`: what the RM run's resume key leaves out;
* :mod:`firm.rm.cache`: the trained RM of a run's scale (``rm:<kind>``), trained on first use
  through ``+exp=firm_<kind>_rm`` and cached (:func:`firm.rm.cache.ensure_rm`), and
  :func:`firm.rm.cache.resolve_source`, which resolves every source, ``rm:edit`` / ``rm:gen``
  included (not imported here, so ``python -m firm.rm.cache`` runs it as a fresh module).

Training is :class:`common.sft.SFTTrainer`; the experiments are ``+exp=firm_edit_rm`` and
``+exp=firm_gen_rm`` (:mod:`firm.tasks.rm`).
"""

from firm.rm.data import load_curated
from firm.rm.examples import curated_score, rm_example, rm_examples, rm_prompt
from firm.rm.sources import RM_EXPORT_DIR, resolve_model_source, resolve_template, run_seed

__all__ = [
    "RM_EXPORT_DIR",
    "curated_score",
    "load_curated",
    "resolve_model_source",
    "resolve_template",
    "rm_example",
    "rm_examples",
    "rm_prompt",
    "run_seed",
]
