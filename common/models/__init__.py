"""The model zoo: tiny models of the real architectures, loaders of the papers' models, LoRA, sampling.

- :mod:`~common.models.vocabulary` / :mod:`~common.models.tokenizer`: the project's word-level
  tokenizer and the one list of words templates may use.
- :mod:`~common.models.processor`: the real Qwen-VL processors, image-only (no torchvision).
- :mod:`~common.models.bundles`: ``VLMBundle`` and ``T2IBundle``, one interface per family.
- :mod:`~common.models.tiny`: builders of tiny Qwen2.5-VL, Qwen3-VL, SD3 and Qwen-Image-Edit models.
- :mod:`~common.models.builders`: ``load_vlm`` / ``load_t2i`` (hub id or directory, one code path),
  ``build_model`` / ``build_role`` (``conf/model`` presets, ``conf/scale`` roles).
- :mod:`~common.models.lora`: LoRA via peft, adapters on/off, save/load.
- :mod:`~common.models.generation`: VLM rollouts with log-probs, teacher-forced log-probs,
  flow-matching image sampling with trajectories.
"""
