"""The embedded world: a procedural text-to-image domain in which every judgment has a ground truth.

Modules (each with one job): ``vocab`` (closed vocabulary), ``scene`` (data model), ``shapes``
(geometry), ``render`` (scene -> pixels), ``prompts`` (world prompts in GenEval's schema),
``geneval`` (schema, correctness rule and scorer shared with the real GenEval file),
``sampling`` (scenes that match / partially match / miss a prompt), ``captions`` (scenes in
caption words: grid positions, reading order, captions and their triples), ``defects``
(appearance defects and FIRM's 1-5 quality sub-scores), ``checker`` (pixels -> objects ->
GenEval verdicts), ``checker_confusion`` (the checker's confusion against the truth on sampled
scenes), ``edits`` (a package: edit operations, sloppy variants, FIRM execution /
consistency ground truth, difference reports, edit sampling), ``raters`` (simulated raters on
the papers' scales), ``benchmarks`` (seeded HF-dataset builders and their cards), ``build`` (the
``+exp=world_build`` task), ``preview`` (contact sheets).
"""
