"""The model zoo: tiny models of the real architectures, loaders of the papers' models, LoRA, sampling.

- :mod:`~common.models.vocabulary` / :mod:`~common.models.tokenizer`: the project's word-level
  tokenizer and the one list of words templates may use.
- :mod:`~common.models.processor`: the real Qwen-VL processors, image-only (no torchvision).
- :mod:`~common.models.vlm_bundle`: ``VLMBundle`` (model, processor, tokenizer; ``encode_chat``).
- :mod:`~common.models.t2i`: ``T2IBundle`` and its parts (spec, images, conditioning, VAE layout,
  one family per architecture).
- :mod:`~common.models.module_io`: saving a module with its LoRA adapter, re-attaching on load.
- :mod:`~common.models.tiny`: builders of tiny Qwen2.5-VL and Qwen3-VL models.
- :mod:`~common.models.tiny_generators`: builders of tiny SD3, flow-UNet, Qwen-Image-Edit and
  autoencoder models.
- :mod:`~common.models.builders`: ``load_vlm`` / ``load_t2i`` (hub id or directory, one code path),
  ``build_model`` / ``build_role`` (``conf/model`` presets, ``conf/scale`` roles).
- :mod:`~common.models.lora`: LoRA via peft, adapters on/off, save/load.
- :mod:`~common.models.vlm_sampling`: VLM rollouts with log-probs, teacher-forced log-probs.
- :mod:`~common.models.image_sampling`: flow-matching image sampling with trajectories.
- :mod:`~common.models.shared_images`: one vision-tower pass per distinct image of a batch.
- :mod:`~common.models.unwrap`: the transformers model inside the engine and peft wrappers.
"""
