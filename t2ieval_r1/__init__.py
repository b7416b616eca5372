"""T2I-Eval-R1 (arXiv 2505.17897): GRPO training of an MLLM text-to-image evaluator from coarse labels.

* :mod:`t2ieval_r1.data`: single-wise and pairwise corpora as HF datasets (world, real formats).
* :mod:`t2ieval_r1.prompts`: the evaluation prompts (per aspect, ``<think>``/``<answer>``).
* :mod:`t2ieval_r1.grpo`: the GRPO trainer (one for single-wise and pairwise data).
* :mod:`t2ieval_r1.benchmarks`: the vendored real benchmarks (TIFA v1.0 human judgments).
* :mod:`t2ieval_r1.tasks`: the experiment tasks behind ``conf/exp/t2ieval_r1_*.yaml``.
"""
