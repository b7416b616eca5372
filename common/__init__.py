"""Pieces shared by the T2I-Eval-R1 and FIRM reproductions.

Sub-packages: ``grpo`` (policy-optimisation math), ``parsing`` (evaluator answers: tags, scores,
score pairs, verdicts), ``rewards`` (reward functions), ``scoring`` (meta-evaluation statistics
and tables), ``world`` (the embedded text-to-image domain with ground truth), ``benchmarks``
(vendored real prompt sets).
"""
