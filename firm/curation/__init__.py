"""FIRM's data curation: difference-first editing, plan-then-score generation, assembly.

* :mod:`firm.curation.edit`: world edit examples, rebalancing into mismatches, the two-pass
  difference report and the execution / consistency rubrics.
* :mod:`firm.curation.gen`: world (prompt, image) items from several simulated generators, the
  planner, the evaluator and the quality prompt.
* :mod:`firm.curation.validate`: what an annotation must look like to enter a dataset.
* :mod:`firm.curation.assemble`: batching with progress, the rejection log, rebalancing
  selection, histograms in the paper's Table 6 layout, dataset cards, ``save_to_disk``.

Both pipelines take any :class:`common.annotators.Annotator` (world oracle, OpenAI-compatible
endpoint, in-process VLM); ground truth reaches only the oracle, through ``ChatRequest.meta``.
"""
